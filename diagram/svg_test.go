package diagram_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/diagram"
	"github.com/actiontrigger/actiontrigger/flow"
)

// elem is a parsed SVG element.
type elem struct {
	name     string
	attrs    map[string]string
	text     string
	children []*elem
	parent   *elem
}

func (e *elem) class() []string { return strings.Fields(e.attrs["class"]) }

func (e *elem) hasClass(c string) bool {
	for _, x := range e.class() {
		if x == c {
			return true
		}
	}
	return false
}

func (e *elem) walk(f func(*elem)) {
	f(e)
	for _, c := range e.children {
		c.walk(f)
	}
}

func (e *elem) find(f func(*elem) bool) []*elem {
	var out []*elem
	e.walk(func(x *elem) {
		if f(x) {
			out = append(out, x)
		}
	})
	return out
}

func (e *elem) child(name string) *elem {
	for _, c := range e.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

// parseSVG parses b as XML (failing on any syntax error) into a tree.
func parseSVG(t *testing.T, b []byte) *elem {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	root := &elem{name: "#document"}
	cur := root
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, "the SVG is not well-formed XML:\n%s", b)
		switch tk := tok.(type) {
		case xml.StartElement:
			require.Equal(t, "http://www.w3.org/2000/svg", tk.Name.Space, "element %s outside the SVG namespace", tk.Name.Local)
			e := &elem{name: tk.Name.Local, attrs: map[string]string{}, parent: cur}
			for _, a := range tk.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			cur.children = append(cur.children, e)
			cur = e
		case xml.EndElement:
			cur = cur.parent
		case xml.CharData:
			cur.text += string(tk)
		case xml.ProcInst, xml.Directive:
			t.Fatalf("unexpected %T in the SVG", tk)
		}
	}
	require.Len(t, root.children, 1)
	require.Equal(t, "svg", root.children[0].name)
	return root.children[0]
}

type rectangle struct{ x0, y0, x1, y1 int }

func (r rectangle) overlaps(o rectangle) bool {
	return r.x0 < o.x1 && o.x0 < r.x1 && r.y0 < o.y1 && o.y0 < r.y1
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err, "not a whole number: %q", s)
	return n
}

// points parses "x,y x,y" or a path's "Mx y Lx y" into coordinates.
func points(t *testing.T, s string) [][2]int {
	t.Helper()
	s = strings.NewReplacer("M", " ", "L", " ", ",", " ").Replace(s)
	f := strings.Fields(s)
	require.True(t, len(f)%2 == 0, "odd coordinates: %q", s)
	var out [][2]int
	for i := 0; i < len(f); i += 2 {
		out = append(out, [2]int{atoi(t, f[i]), atoi(t, f[i+1])})
	}
	return out
}

// shape returns the bounding box of a node group's rect or polygon.
func shape(t *testing.T, g *elem) rectangle {
	t.Helper()
	if r := g.child("rect"); r != nil {
		x, y := atoi(t, r.attrs["x"]), atoi(t, r.attrs["y"])
		return rectangle{x, y, x + atoi(t, r.attrs["width"]), y + atoi(t, r.attrs["height"])}
	}
	p := g.child("polygon")
	require.NotNil(t, p, "node group without a shape")
	r := rectangle{1 << 30, 1 << 30, -1, -1}
	for _, pt := range points(t, p.attrs["points"]) {
		r.x0, r.y0, r.x1, r.y1 = min(r.x0, pt[0]), min(r.y0, pt[1]), max(r.x1, pt[0]), max(r.y1, pt[1])
	}
	return r
}

type drawing struct {
	root          *elem
	width, height int
	boxes         map[string]rectangle // by data-key; "start" and "stop" too
	nodes         map[string]*elem
	edges         []*elem
}

// checkDrawing parses an SVG and checks its geometry: every box inside the
// image, no two boxes overlapping, every edge made of horizontal and vertical
// segments from the bottom centre of one box to the top centre of another.
func checkDrawing(t *testing.T, b []byte) *drawing {
	t.Helper()
	root := parseSVG(t, b)
	d := &drawing{root: root, boxes: map[string]rectangle{}, nodes: map[string]*elem{}}
	d.width, d.height = atoi(t, root.attrs["width"]), atoi(t, root.attrs["height"])
	require.Equal(t, "0 0 "+root.attrs["width"]+" "+root.attrs["height"], root.attrs["viewBox"])
	var order []string
	for _, g := range root.find(func(e *elem) bool {
		return e.name == "g" && (e.hasClass("node") || e.hasClass("start") || e.hasClass("stop"))
	}) {
		r := shape(t, g)
		key := g.attrs["data-key"]
		if !g.hasClass("node") {
			key = g.class()[0]
		}
		require.NotContains(t, d.boxes, key, "two boxes for %q", key)
		d.boxes[key] = r
		d.nodes[key] = g
		order = append(order, key)
		assert.True(t, r.x0 >= 0 && r.y0 >= 0 && r.x1 <= d.width && r.y1 <= d.height, "%q %v outside %dx%d", key, r, d.width, d.height)
	}
	for i, a := range order {
		for _, b := range order[i+1:] {
			assert.False(t, d.boxes[a].overlaps(d.boxes[b]), "%q %v overlaps %q %v", a, d.boxes[a], b, d.boxes[b])
		}
	}
	// Box ids in drawing order: start, n1..nN, stop.
	byID := map[string]rectangle{}
	n := 0
	for _, key := range order {
		switch g := d.nodes[key]; {
		case g.hasClass("node"):
			n++
			byID["n"+strconv.Itoa(n)] = d.boxes[key]
		default:
			byID[key] = d.boxes[key]
		}
	}
	d.edges = root.find(func(e *elem) bool { return e.name == "g" && e.hasClass("edge") })
	for _, e := range d.edges {
		from, ok := byID[e.attrs["data-from"]]
		require.True(t, ok, "edge from unknown %q", e.attrs["data-from"])
		to, ok := byID[e.attrs["data-to"]]
		require.True(t, ok, "edge to unknown %q", e.attrs["data-to"])
		pts := points(t, e.child("path").attrs["d"])
		head := points(t, e.child("polygon").attrs["points"])
		require.Len(t, head, 3)
		tip := head[2]
		assert.Equal(t, [2]int{(from.x0 + from.x1) / 2, from.y1}, pts[0], "edge %s->%s starts off its box", e.attrs["data-from"], e.attrs["data-to"])
		assert.Equal(t, [2]int{(to.x0 + to.x1) / 2, to.y0}, tip, "edge %s->%s does not end on its box", e.attrs["data-from"], e.attrs["data-to"])
		last := pts[len(pts)-1]
		assert.True(t, last[0] == tip[0] && last[1] < tip[1], "the last segment must come down onto the arrowhead")
		for i := 1; i < len(pts); i++ {
			a, b := pts[i-1], pts[i]
			assert.True(t, a[0] == b[0] || a[1] == b[1], "diagonal segment %v-%v", a, b)
			assert.True(t, b[0] >= 0 && b[0] <= d.width && b[1] >= 0 && b[1] <= d.height, "edge leaves the image at %v", b)
		}
	}
	return d
}

func TestSVGLayoutNested(t *testing.T) {
	d := checkDrawing(t, diagram.SVG(nestedWorkflow()))
	// c2 is two boxes wide (192 + 24 + 192); c1's true branch is that wide, its
	// false branch holds sw, three branches wide (192 + 24 + 72 + 24 + 192);
	// plus c1's gap and the margins.
	assert.Equal(t, 408+24+504+2*16, d.width)
	assert.Len(t, d.edges, 14)
	// Branches lie side by side below their node, in order: c1's true branch
	// left of its false branch; sw's 0, (empty 1), 2.
	assert.Less(t, d.boxes["c2"].x1, d.boxes["sw"].x0)
	assert.Less(t, d.boxes["a"].x1, d.boxes["b"].x0)
	assert.Less(t, d.boxes["s0"].x1, d.boxes["s2"].x0)
	assert.Greater(t, d.boxes["s2"].x0-d.boxes["s0"].x1, 72, "room for the empty branch between 0 and 2")
	for _, k := range []string{"c2", "sw"} {
		assert.Greater(t, d.boxes[k].y0, d.boxes["c1"].y1)
	}
	// The node after the branches is below every one of them, centred.
	for k, r := range d.boxes {
		if k != "after" && k != "stop" {
			assert.Less(t, r.y1, d.boxes["after"].y0, k)
		}
	}
	assert.Equal(t, d.width/2, (d.boxes["after"].x0+d.boxes["after"].x1)/2)
	// Branch labels: true and false twice, then 0, 1, 2.
	var labels []string
	for _, l := range d.root.find(func(e *elem) bool { return e.name == "g" && e.hasClass("label") }) {
		labels = append(labels, l.child("text").text)
	}
	assert.ElementsMatch(t, []string{"true", "false", "true", "false", "0", "1", "2"}, labels)
}

// A workflow whose every path ends at an end node draws no end box.
func TestSVGEndsAtEndNode(t *testing.T) {
	wf := &flow.Workflow{Nodes: []flow.Node{{Key: "c", Type: "condition", Config: map[string]any{"rejectOnFalse": true}, Branches: map[int][]flow.Node{
		1: {{Key: "yes", Type: "end"}},
	}}}}
	d := checkDrawing(t, diagram.SVG(wf))
	assert.NotContains(t, d.boxes, "stop")
	assert.Len(t, d.edges, 2)
	assert.Equal(t, d.boxes["yes"].y1+16+16, d.height) // the branches' join room, the margin
	assert.NotContains(t, diagram.Mermaid(wf), "stop")
}

func TestSVGEmpty(t *testing.T) {
	for _, w := range []*flow.Workflow{nil, {}} {
		d := checkDrawing(t, diagram.SVG(w))
		assert.Len(t, d.boxes, 2)
		require.Len(t, d.edges, 1)
		assert.Equal(t, "stop", d.edges[0].attrs["data-to"])
	}
}

// Titles, types and keys full of markup stay text: the SVG parses, holds no
// element but the ones it draws, no event handler or reference attribute, and
// the text reads back as given.
func TestSVGEscaping(t *testing.T) {
	evil := `<script>x()</script>`
	wf := &flow.Workflow{
		Title:  `</title><script>alert(1)</script>`,
		Config: flow.TriggerConfig{Collection: `"><image href="https://example.com/x.png"/>`},
		Nodes: []flow.Node{
			{Key: `k" onload="alert(1)`, Title: evil, Type: `t' onclick='x`},
			{Key: "q", Title: `It's "q" & <b>b</b>`, Type: "x\ny\x00\x1b\xff"},
			{Key: "cdata", Title: "]]><![CDATA[", Type: "<!-- -->"},
			{Key: "bidi", Title: "abc\u202edef\u2066g", Type: "x"},
		},
	}
	b := diagram.SVG(wf, diagram.WithJobs([]*flow.Job{{NodeKey: `k" onload="alert(1)`, Status: flow.JobResolved}}))
	d := checkDrawing(t, b)
	allowed := map[string]bool{"svg": true, "title": true, "g": true, "rect": true, "polygon": true, "path": true, "text": true}
	d.root.walk(func(e *elem) {
		assert.True(t, allowed[e.name], "unexpected element <%s>", e.name)
		for a := range e.attrs {
			assert.False(t, strings.HasPrefix(strings.ToLower(a), "on"), "event attribute %s", a)
			assert.NotContains(t, strings.ToLower(a), "href")
		}
	})
	assert.NotContains(t, string(b), "<script")
	assert.NotContains(t, string(b), "<style")
	assert.NotContains(t, string(b), "url(")

	assert.Equal(t, wf.Title, d.root.child("title").text)
	n := d.nodes[`k" onload="alert(1)`]
	require.NotNil(t, n, "the node's data-key reads back as its key")
	assert.Equal(t, `t' onclick='x`, n.attrs["data-type"])
	assert.Equal(t, "RESOLVED", n.attrs["data-status"])
	texts := n.find(func(e *elem) bool { return e.name == "text" })
	require.Len(t, texts, 2)
	assert.Equal(t, evil, texts[0].text)
	assert.Equal(t, `t' onclick='x · RESOLVED`, texts[1].text)
	q := d.nodes["q"].find(func(e *elem) bool { return e.name == "text" })
	assert.Equal(t, `It's "q" & <b>b</b>`, q[0].text)
	assert.Equal(t, "x y  \uFFFD", q[1].text, "control characters become spaces, invalid UTF-8 U+FFFD")
	assert.Equal(t, "]]><![CDATA[", d.nodes["cdata"].find(func(e *elem) bool { return e.name == "text" })[0].text)
	assert.Equal(t, "abcdefg", d.nodes["bidi"].find(func(e *elem) bool { return e.name == "text" })[0].text, "bidirectional controls dropped")
	assert.NotContains(t, string(b), "\u202e")
	start := d.nodes["start"].find(func(e *elem) bool { return e.name == "text" })
	assert.True(t, strings.HasPrefix(wf.Config.Collection, strings.TrimSuffix(start[0].text, "…")), "the collection, cut to fit: %q", start[0].text)
	assert.Contains(t, d.nodes["start"].child("title").text, wf.Config.Collection)
}

// Long titles are cut to fit their box; the tooltip keeps the whole text.
func TestSVGLongTitle(t *testing.T) {
	long := strings.Repeat("very long title ", 10)
	wide := strings.Repeat("日本語", 20)
	d := checkDrawing(t, diagram.SVG(&flow.Workflow{Nodes: []flow.Node{{Key: "a", Title: long, Type: "create"}, {Key: "b", Title: wide, Type: "create"}}}))
	for key, full := range map[string]string{"a": long, "b": wide} {
		g := d.nodes[key]
		shown := g.find(func(e *elem) bool { return e.name == "text" })[0].text
		assert.True(t, strings.HasSuffix(shown, "…"), shown)
		assert.True(t, strings.HasPrefix(full, strings.TrimSuffix(shown, "…")), shown)
		assert.Less(t, len([]rune(shown)), 30)
		assert.Contains(t, g.child("title").text, full)
	}
	cjk := d.nodes["b"].find(func(e *elem) bool { return e.name == "text" })[0].text
	assert.LessOrEqual(t, len([]rune(cjk)), 13, "wide characters count twice")
}

func TestSVGOverlay(t *testing.T) {
	jobs := []*flow.Job{
		{NodeKey: "c1", Seq: 1, Status: flow.JobResolved, Branch: ptr(0)},
		{NodeKey: "sw", Seq: 2, Status: flow.JobResolved, Branch: ptr(1)},
		{NodeKey: "after", Seq: 3, Status: flow.JobRejected},
	}
	d := checkDrawing(t, diagram.SVG(nestedWorkflow(), diagram.WithJobs(jobs)))
	for key, want := range map[string]string{"c1": "resolved", "sw": "resolved", "after": "failed"} {
		g := d.nodes[key]
		assert.True(t, g.hasClass(want), "%s: class %q", key, g.attrs["class"])
		shapeEl := g.child("polygon")
		if shapeEl == nil {
			shapeEl = g.child("rect")
		}
		assert.NotEqual(t, "#ffffff", shapeEl.attrs["fill"], "%s is coloured inline", key)
	}
	assert.Equal(t, "REJECTED", d.nodes["after"].attrs["data-status"])
	for _, key := range []string{"c2", "a", "b", "b2", "s0", "s2"} {
		g := d.nodes[key]
		assert.Equal(t, []string{"node"}, slicesWithout(g.class(), "branching"), "%s is plain", key)
		assert.NotContains(t, g.attrs, "data-status")
		assert.Equal(t, "#ffffff", g.find(func(e *elem) bool { return e.name == "rect" || e.name == "polygon" })[0].attrs["fill"])
	}
	var taken []string
	for _, e := range d.edges {
		if e.hasClass("taken") {
			taken = append(taken, e.attrs["data-from"]+">"+e.attrs["data-to"])
			assert.Equal(t, "3", e.child("path").attrs["stroke-width"])
		} else {
			assert.Equal(t, "1.5", e.child("path").attrs["stroke-width"])
		}
	}
	// start>c1, c1 false>sw, sw's empty branch 1>after; not after>stop (rejected).
	assert.Equal(t, []string{"start>n1", "n1>n6", "n6>n9"}, taken)
}

func slicesWithout(s []string, drop string) []string {
	var out []string
	for _, x := range s {
		if x != drop {
			out = append(out, x)
		}
	}
	return out
}

func TestSVGDeterministic(t *testing.T) {
	jobs := []*flow.Job{{NodeKey: "c1", Seq: 1, Status: flow.JobResolved, Branch: ptr(1)}}
	first := diagram.SVG(nestedWorkflow(), diagram.WithJobs(jobs))
	for range 20 {
		require.Equal(t, first, diagram.SVG(nestedWorkflow(), diagram.WithJobs(jobs)))
	}
}

// Deep nesting widens and lengthens the image without overlaps.
func TestSVGDeepNesting(t *testing.T) {
	line := []flow.Node{{Key: "leaf", Type: "create"}}
	for i := range 6 {
		k := strconv.Itoa(i)
		line = []flow.Node{{Key: "c" + k, Type: "condition", Branches: map[int][]flow.Node{
			1: prefixKeys(line, "t"+k), 0: prefixKeys(line, "f"+k),
		}}, {Key: "after" + k, Type: "create"}}
	}
	d := checkDrawing(t, diagram.SVG(&flow.Workflow{Nodes: line}))
	assert.Len(t, d.boxes, 2+(1<<6)*1+((1<<6)-1)*2) // leaves, conditions and their afters, start, stop
	assert.Equal(t, 64*192+63*24+2*16, d.width)
}

func prefixKeys(ns []flow.Node, p string) []flow.Node {
	out := make([]flow.Node, len(ns))
	for i, n := range ns {
		n.Key = p + n.Key
		if n.Branches != nil {
			b := map[int][]flow.Node{}
			for k, v := range n.Branches {
				b[k] = prefixKeys(v, p)
			}
			n.Branches = b
		}
		out[i] = n
	}
	return out
}
