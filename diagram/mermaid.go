package diagram

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/actiontrigger/actiontrigger/flow"
)

// Mermaid returns w as Mermaid "flowchart TD" text, ending with a newline.
// Node ids are generated (start, n1, n2, ... in drawing order, stop), so keys
// never reach the syntax; titles and types are quoted labels with Mermaid
// entity codes. With WithJobs, nodes get the classes resolved, pending or
// failed and the edges taken are drawn thick (==>) and dark (linkStyle). A
// nil w draws as an empty workflow.
func Mermaid(w *flow.Workflow, opts ...Option) string {
	g := build(w, newSettings(opts))
	var b strings.Builder
	b.WriteString("flowchart TD\n")
	for _, x := range g.boxes {
		b.WriteString("    ")
		b.WriteString(x.id)
		switch x.kind {
		case kindStart:
			coll, mode := triggerLines(g.wf)
			writeShape(&b, "([", mermaidText(coll)+"<br/>"+mermaidText(mode), "])")
		case kindStop:
			writeShape(&b, "([", "end", "])")
		default:
			label := mermaidText(title(x.node))
			if d := g.detail(x); d != "" {
				label += "<br/>" + mermaidText(d)
			}
			switch {
			case len(lanesOf(x.node)) > 0:
				writeShape(&b, "{{", label, "}}")
			case x.node.Type == typeEnd:
				writeShape(&b, "([", label, "])")
			default:
				writeShape(&b, "[", label, "]")
			}
		}
		b.WriteByte('\n')
	}
	var taken []string
	for i, e := range g.edges {
		arrow := "-->"
		if e.taken {
			arrow = "==>"
			taken = append(taken, strconv.Itoa(i))
		}
		b.WriteString("    ")
		b.WriteString(e.from.id)
		b.WriteString(" ")
		b.WriteString(arrow)
		if e.label != "" {
			// Labels are "true", "false" or a number: no quotes needed.
			b.WriteString("|" + mermaidText(e.label) + "|")
		}
		b.WriteString(" ")
		b.WriteString(e.to.id)
		b.WriteByte('\n')
	}
	if !g.overlay {
		return b.String()
	}
	groups := map[string][]string{}
	for _, x := range g.boxes {
		if x.job != nil {
			c := statusClass(x.job.Status)
			groups[c] = append(groups[c], x.id)
		}
	}
	for _, c := range []string{classResolved, classPending, classFailed} {
		if len(groups[c]) == 0 {
			continue
		}
		p := statusColours[c]
		b.WriteString("    classDef " + c + " fill:" + p.fill + ",stroke:" + p.stroke + ",color:" + p.text + ",stroke-width:2px\n")
		b.WriteString("    class " + strings.Join(groups[c], ",") + " " + c + "\n")
	}
	if len(taken) > 0 {
		b.WriteString("    linkStyle " + strings.Join(taken, ",") + " stroke:" + takenEdgeColour + ",stroke-width:3px\n")
	}
	return b.String()
}

func writeShape(b *strings.Builder, open, label, closing string) {
	b.WriteString(open)
	b.WriteByte('"')
	b.WriteString(label)
	b.WriteByte('"')
	b.WriteString(closing)
}

// mermaidText escapes s for a quoted Mermaid label: the characters Mermaid's
// parser, its preprocessing or its HTML labels would read (", #, &, <, >, %,
// :, and `, which would start a Markdown string) become entity codes, line
// breaks become <br/>, other control characters spaces, invalid UTF-8 U+FFFD;
// bidirectional embedding, override and isolate controls, which would reorder
// the text around them, are dropped.
func mermaidText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var b strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		switch r {
		case '"':
			b.WriteString("#quot;")
		case '#':
			b.WriteString("#35;")
		case '&':
			b.WriteString("#amp;")
		case '<':
			b.WriteString("#lt;")
		case '>':
			b.WriteString("#gt;")
		case '`':
			b.WriteString("#96;")
		case '%':
			b.WriteString("#37;") // "%%{...}%%" anywhere would be read as a directive
		case ':':
			// Mermaid drops the ";" ending "style ...: ...#...;" on any line,
			// which would break an entity code after a colon.
			b.WriteString("#58;")
		case '\n', '\r', '\u0085', '\u2028', '\u2029':
			b.WriteString("<br/>")
		default:
			if isBidiControl(r) {
				continue
			}
			if unicode.IsControl(r) {
				r = ' '
			}
			b.WriteRune(r) // utf8.RuneError for invalid bytes: U+FFFD
		}
	}
	return b.String()
}

// isBidiControl reports the Unicode bidirectional embedding, override and
// isolate controls (U+202A-U+202E, U+2066-U+2069).
func isBidiControl(r rune) bool {
	return (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069')
}
