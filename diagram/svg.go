package diagram

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/actiontrigger/actiontrigger/flow"
)

// Text sizes, and the widths the layout assumes for a character (an average
// for a sans-serif face; wide East Asian characters and emoji count twice).
const (
	titleSize  = 13
	detailSize = 11
	labelSize  = 11
	titleMax   = (boxW - 24) / 8 // width units of a (bold) title line that fit a box
	detailMax  = (boxW - 16) / 6
)

// SVG returns w as a standalone SVG image, laid out here: the main line top to
// bottom, branches side by side below their node, each branch as wide as its
// widest node. Lines too long for a box are cut with "…"; each node's <title>
// (its tooltip) holds the whole text. Elements carry classes (node, start,
// stop, branching, end, edge, taken, label, and with WithJobs resolved,
// pending or failed) and data-key, data-type and data-status attributes for a
// page to hook into, and inline presentation attributes, so the image needs
// no style sheet. It holds no script and no external reference. The output is
// deterministic. A nil w draws as an empty workflow.
func SVG(w *flow.Workflow, opts ...Option) []byte {
	g := build(w, newSettings(opts))
	var b bytes.Buffer
	width, height := strconv.Itoa(g.width), strconv.Itoa(g.height)
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" width="` + width + `" height="` + height +
		`" viewBox="0 0 ` + width + " " + height + `" font-family="system-ui, sans-serif" class="actiontrigger-diagram">` + "\n")
	name := g.wf.Title
	if name == "" {
		name = g.wf.Key
	}
	b.WriteString("<title>" + xmlText(name) + "</title>\n")

	// Edges first, so that boxes and labels cover their ends; taken ones
	// last, so that they are drawn over the plain ones they share a run with.
	b.WriteString(`<g class="edges" fill="none">` + "\n")
	for _, taken := range []bool{false, true} {
		for _, e := range g.edges {
			if e.taken == taken {
				writeEdge(&b, e)
			}
		}
	}
	b.WriteString("</g>\n")

	b.WriteString(`<g class="labels" font-size="` + strconv.Itoa(labelSize) + `" text-anchor="middle">` + "\n")
	for _, e := range g.edges {
		if e.label == "" || e.labelAt == nil {
			continue
		}
		lw := 10 + 7*textWidth(e.label)
		cls := "label"
		fill := "#475569"
		if e.taken {
			cls += " taken"
			fill = takenEdgeColour
		}
		b.WriteString(`<g class="` + cls + `">`)
		b.WriteString(`<rect x="` + itoa(e.labelAt.x-lw/2) + `" y="` + itoa(e.labelAt.y-9) + `" width="` + itoa(lw) +
			`" height="18" rx="9" fill="#f8fafc" stroke="#cbd5e1"/>`)
		b.WriteString(`<text x="` + itoa(e.labelAt.x) + `" y="` + itoa(e.labelAt.y+4) + `" fill="` + fill + `">` + xmlText(e.label) + "</text></g>\n")
	}
	b.WriteString("</g>\n")

	b.WriteString(`<g class="nodes" text-anchor="middle">` + "\n")
	for _, x := range g.boxes {
		writeBox(&b, g, x)
	}
	b.WriteString("</g>\n</svg>\n")
	return b.Bytes()
}

func writeEdge(b *bytes.Buffer, e *edge) {
	stroke, sw, cls := edgeColour, "1.5", "edge"
	if e.taken {
		stroke, sw, cls = takenEdgeColour, "3", "edge taken"
	}
	pts := e.points
	tip := pts[len(pts)-1]
	var d strings.Builder
	for i, p := range pts {
		if i == 0 {
			d.WriteString("M")
		} else {
			d.WriteString(" L")
		}
		if i == len(pts)-1 {
			p.y -= 6 // stop under the arrowhead, which ends at the tip
		}
		d.WriteString(itoa(p.x) + " " + itoa(p.y))
	}
	b.WriteString(`<g class="` + cls + `" data-from="` + e.from.id + `" data-to="` + e.to.id + `">`)
	b.WriteString(`<path d="` + d.String() + `" stroke="` + stroke + `" stroke-width="` + sw + `"/>`)
	b.WriteString(`<polygon points="` + itoa(tip.x-5) + "," + itoa(tip.y-8) + " " + itoa(tip.x+5) + "," + itoa(tip.y-8) + " " +
		itoa(tip.x) + "," + itoa(tip.y) + `" fill="` + stroke + `"/>`)
	b.WriteString("</g>\n")
}

func writeBox(b *bytes.Buffer, g *graph, x *box) {
	cx := x.x + x.w/2
	switch x.kind {
	case kindStart:
		coll, mode := triggerLines(g.wf)
		b.WriteString(`<g class="start">`)
		b.WriteString("<title>" + xmlText(coll+": "+mode) + "</title>")
		b.WriteString(rect(x, x.h/2, palette{fill: "#f1f5f9", stroke: "#475569", text: "#0f172a"}, "1.5"))
		b.WriteString(text(cx, x.y+20, titleSize, "#0f172a", true, line(coll, titleMax)))
		b.WriteString(text(cx, x.y+36, detailSize, "#475569", false, line(mode, detailMax)))
		b.WriteString("</g>\n")
		return
	case kindStop:
		b.WriteString(`<g class="stop">`)
		b.WriteString(rect(x, x.h/2, palette{fill: "#f1f5f9", stroke: "#475569"}, "1.5"))
		b.WriteString(text(cx, x.y+18, detailSize, "#0f172a", false, "end"))
		b.WriteString("</g>\n")
		return
	}
	n := x.node
	cls := "node"
	branching := len(lanesOf(n)) > 0
	if branching {
		cls += " branching"
	}
	if n.Type == typeEnd {
		cls += " end"
	}
	colours, sw := plainColours, "1.5"
	status := ""
	if x.job != nil {
		c := statusClass(x.job.Status)
		cls += " " + c
		colours, sw = statusColours[c], "2.5"
		status = x.job.Status.String()
	}
	b.WriteString(`<g class="` + cls + `" data-key="` + xmlText(n.Key) + `" data-type="` + xmlText(n.Type) + `"`)
	if status != "" {
		b.WriteString(` data-status="` + status + `"`)
	}
	b.WriteString(">")
	tip := title(n)
	if n.Key != "" && n.Key != tip {
		tip += " (" + n.Key + ")"
	}
	if d := g.detail(x); d != "" {
		tip += "\n" + d
	}
	b.WriteString("<title>" + xmlText(tip) + "</title>")
	switch {
	case branching:
		// A hexagon, as Mermaid draws a branching node.
		l, r, t, bt, m := x.x, x.x+x.w, x.y, x.y+x.h, x.y+x.h/2
		b.WriteString(`<polygon points="` + itoa(l+12) + "," + itoa(t) + " " + itoa(r-12) + "," + itoa(t) + " " + itoa(r) + "," + itoa(m) + " " +
			itoa(r-12) + "," + itoa(bt) + " " + itoa(l+12) + "," + itoa(bt) + " " + itoa(l) + "," + itoa(m) +
			`" fill="` + colours.fill + `" stroke="` + colours.stroke + `" stroke-width="` + sw + `"/>`)
	case n.Type == typeEnd:
		b.WriteString(rect(x, x.h/2, colours, sw))
	default:
		b.WriteString(rect(x, 6, colours, sw))
	}
	b.WriteString(text(cx, x.y+21, titleSize, colours.text, true, line(title(n), titleMax)))
	if d := g.detail(x); d != "" {
		b.WriteString(text(cx, x.y+37, detailSize, colours.text, false, line(d, detailMax)))
	}
	b.WriteString("</g>\n")
}

func rect(x *box, rx int, p palette, sw string) string {
	return `<rect x="` + itoa(x.x) + `" y="` + itoa(x.y) + `" width="` + itoa(x.w) + `" height="` + itoa(x.h) +
		`" rx="` + itoa(rx) + `" fill="` + p.fill + `" stroke="` + p.stroke + `" stroke-width="` + sw + `"/>`
}

func text(x, y, size int, fill string, bold bool, s string) string {
	weight := ""
	if bold {
		weight = ` font-weight="600"`
	}
	return `<text x="` + itoa(x) + `" y="` + itoa(y) + `" font-size="` + itoa(size) + `"` + weight + ` fill="` + fill + `">` + xmlText(s) + "</text>"
}

func itoa(i int) string { return strconv.Itoa(i) }

// xmlText escapes s for XML character data and attribute values: &, <, >,
// quotes and line breaks become references, characters XML cannot hold (most
// control characters, invalid UTF-8) U+FFFD, and bidirectional controls are
// dropped (isBidiControl).
func xmlText(s string) string {
	s = strings.Map(func(r rune) rune {
		if isBidiControl(r) {
			return -1
		}
		return r
	}, s)
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}

// line prepares s for one line of at most limit width units.
func line(s string, limit int) string { return fit(oneLine(s), limit) }

// oneLine turns the line breaks and control characters of s into spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}

// fit cuts s to at most max width units, ending it with "…" when cut.
func fit(s string, limit int) string {
	if textWidth(s) <= limit {
		return s
	}
	w := 0
	for i, r := range s {
		rw := runeWidth(r)
		if w+rw > limit-1 {
			return strings.TrimRightFunc(s[:i], unicode.IsSpace) + "…"
		}
		w += rw
	}
	return s
}

func textWidth(s string) int {
	w := 0
	for _, r := range s {
		w += runeWidth(r)
	}
	return w
}

// runeWidth: 2 for wide East Asian characters and emoji, else 1.
func runeWidth(r rune) int {
	switch {
	case r == utf8.RuneError:
		return 1
	case unicode.In(r, unicode.Han, unicode.Hangul, unicode.Hiragana, unicode.Katakana),
		r >= 0xFF01 && r <= 0xFF60,   // full-width forms
		r >= 0x1F300 && r <= 0x1FAFF: // emoji
		return 2
	}
	return 1
}
