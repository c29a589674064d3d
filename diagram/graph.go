package diagram

import (
	"slices"
	"strconv"
	"strings"

	"github.com/actiontrigger/actiontrigger/flow"
)

// Node types the drawings know: a condition's branches are named true and
// false, and an end node ends the execution.
const (
	typeCondition = "condition"
	typeEnd       = "end"
)

// Layout, in SVG user units. Every width is even, so that every centre is a
// whole number.
const (
	boxW       = 192 // a node's box
	boxH       = 48
	startH     = 48 // the trigger's box (boxW wide)
	stopW      = 72
	stopH      = 28
	gapY       = 32 // between two items of a line
	laneGap    = 24 // between two branches
	emptyLaneW = 72 // a branch with no node
	splitH     = 16 // from a branching node to the bar its branches leave from
	labelH     = 36 // below that bar: room for the branches' labels, above the arrowheads
	joinH      = 16 // from the lowest branch to the bar they join at
	margin     = 16
)

type kind int

const (
	kindStart kind = iota
	kindNode
	kindStop
)

type point struct{ x, y int }

// box is one drawn node: the trigger, a workflow node, or the end.
type box struct {
	id   string
	kind kind
	node *flow.Node // kindNode
	job  *flow.Job  // the node's latest job (overlay)
	// x, y is the top-left corner.
	x, y, w, h int
}

func (b *box) bottom() point { return point{b.x + b.w/2, b.y + b.h} }
func (b *box) top() point    { return point{b.x + b.w/2, b.y} }

// edge is one arrow. points run from the bottom of from to the top of to,
// every segment horizontal or vertical, the last one vertical.
type edge struct {
	from, to *box
	label    string
	branch   *int // the branch index a branch edge stands for
	taken    bool
	points   []point
	labelAt  *point // where the label is centred (SVG)
}

// graph is a laid-out workflow: what both drawings render.
type graph struct {
	wf            *flow.Workflow
	boxes         []*box
	edges         []*edge
	width, height int
	overlay       bool
	n             int // workflow nodes numbered so far
}

// exit is an edge waiting for the box it leads to.
type exit struct {
	from    *box
	label   string
	branch  *int
	via     []point
	labelAt *point
}

// lane is one branch of a branching node.
type lane struct {
	index int
	label string
	nodes []flow.Node
}

// lanesOf lists the branches drawn below n, left to right: a condition's true
// then false outcome (drawn even when missing, as the flow then continues at
// once; the false one left out under rejectOnFalse, which fails the
// execution instead, unless it holds nodes) and then any other index in
// order; another type's branches in index order.
func lanesOf(n *flow.Node) []lane {
	keys := make([]int, 0, len(n.Branches))
	for k := range n.Branches {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []lane
	if n.Type == typeCondition {
		out = append(out, lane{index: 1, label: "true", nodes: n.Branches[1]})
		if reject, _ := n.Config["rejectOnFalse"].(bool); !reject || len(n.Branches[0]) > 0 {
			out = append(out, lane{index: 0, label: "false", nodes: n.Branches[0]})
		}
		for _, k := range keys {
			if k != 0 && k != 1 {
				out = append(out, lane{index: k, label: strconv.Itoa(k), nodes: n.Branches[k]})
			}
		}
		return out
	}
	for _, k := range keys {
		out = append(out, lane{index: k, label: strconv.Itoa(k), nodes: n.Branches[k]})
	}
	return out
}

// measureLine returns the size a line of nodes takes: as wide as its widest
// node (a branching node is as wide as its branches side by side).
func measureLine(nodes []flow.Node) (w, h int) {
	if len(nodes) == 0 {
		return emptyLaneW, 0
	}
	for i := range nodes {
		nw, nh := measureNode(&nodes[i])
		w = max(w, nw)
		h += nh
		if i > 0 {
			h += gapY
		}
	}
	return w, h
}

func measureNode(n *flow.Node) (w, h int) {
	lanes := lanesOf(n)
	if len(lanes) == 0 {
		return boxW, boxH
	}
	sum, tallest := 0, 0
	for i, l := range lanes {
		lw, lh := measureLine(l.nodes)
		sum += lw
		if i > 0 {
			sum += laneGap
		}
		tallest = max(tallest, lh)
	}
	return max(boxW, sum), boxH + splitH + labelH + tallest + joinH
}

// build lays out w and, with an overlay, marks the jobs and the edges taken.
func build(w *flow.Workflow, s settings) *graph {
	if w == nil {
		w = &flow.Workflow{}
	}
	g := &graph{wf: w, overlay: s.overlay}
	mainW, _ := measureLine(w.Nodes)
	g.width = max(mainW, boxW) + 2*margin
	cx := g.width / 2

	start := g.add(&box{id: "start", kind: kindStart, x: cx - boxW/2, y: margin, w: boxW, h: startH})
	y := start.y + start.h + gapY
	outs, bottom := g.place(w.Nodes, cx, y, []exit{{from: start}})
	if len(w.Nodes) > 0 {
		y = bottom + gapY
	}
	if len(outs) > 0 {
		stop := g.add(&box{id: "stop", kind: kindStop, x: cx - stopW/2, y: y, w: stopW, h: stopH})
		g.connect(outs, stop)
		g.height = stop.y + stop.h + margin
	} else {
		// Every path ends at an end node: no edge reaches the end.
		g.height = bottom + margin
	}

	if s.overlay {
		g.mark(latestJobs(s.jobs))
	}
	return g
}

func (g *graph) add(b *box) *box {
	g.boxes = append(g.boxes, b)
	return b
}

// place lays out a line whose centre is cx and whose top is y, connecting
// in to its first node. It returns the exits of its last node and its bottom.
func (g *graph) place(nodes []flow.Node, cx, y int, in []exit) ([]exit, int) {
	cur := in
	for i := range nodes {
		n := &nodes[i]
		if i > 0 {
			y += gapY
		}
		g.n++
		b := g.add(&box{id: "n" + strconv.Itoa(g.n), kind: kindNode, node: n, x: cx - boxW/2, y: y, w: boxW, h: boxH})
		g.connect(cur, b)
		lanes := lanesOf(n)
		if len(lanes) == 0 {
			cur = []exit{{from: b}}
			y += boxH
		} else {
			cur, y = g.placeLanes(b, lanes, cx)
		}
		if n.Type == typeEnd {
			cur = nil
		}
	}
	return cur, y
}

// placeLanes lays out the branches of b side by side below it. Each branch's
// exits are routed down to the bar below the lowest branch and back to cx,
// where the node after b will be.
func (g *graph) placeLanes(b *box, lanes []lane, cx int) ([]exit, int) {
	widths := make([]int, len(lanes))
	total := 0
	for i, l := range lanes {
		widths[i], _ = measureLine(l.nodes)
		total += widths[i]
		if i > 0 {
			total += laneGap
		}
	}
	splitY := b.y + b.h + splitH
	lanesTop := splitY + labelH
	lowest := lanesTop
	type laneOut struct {
		cx    int
		exits []exit
	}
	outs := make([]laneOut, len(lanes))
	left := cx - total/2
	for i, l := range lanes {
		lcx := left + widths[i]/2
		left += widths[i] + laneGap
		idx := l.index
		first := exit{
			from: b, label: l.label, branch: &idx,
			via:     []point{{cx, splitY}, {lcx, splitY}},
			labelAt: &point{lcx, splitY + 14},
		}
		if len(l.nodes) == 0 {
			outs[i] = laneOut{lcx, []exit{first}}
			continue
		}
		ex, bottom := g.place(l.nodes, lcx, lanesTop, []exit{first})
		outs[i] = laneOut{lcx, ex}
		lowest = max(lowest, bottom)
	}
	joinY := lowest + joinH
	var all []exit
	for _, o := range outs {
		for _, e := range o.exits {
			e.via = append(slices.Clip(e.via), point{o.cx, joinY}, point{cx, joinY})
			all = append(all, e)
		}
	}
	return all, joinY
}

// connect turns exits into edges ending at the top of to.
func (g *graph) connect(exits []exit, to *box) {
	for _, e := range exits {
		pts := make([]point, 0, len(e.via)+2)
		pts = append(pts, e.from.bottom())
		pts = append(pts, e.via...)
		pts = append(pts, to.top())
		g.edges = append(g.edges, &edge{
			from: e.from, to: to, label: e.label, branch: e.branch,
			points: simplify(pts), labelAt: e.labelAt,
		})
	}
}

// simplify drops repeated points and the middle of straight runs.
func simplify(pts []point) []point {
	out := make([]point, 0, len(pts))
	for _, p := range pts {
		if n := len(out); n > 0 && out[n-1] == p {
			continue
		}
		if n := len(out); n >= 2 {
			a, m := out[n-2], out[n-1]
			if (a.x == m.x && m.x == p.x) || (a.y == m.y && m.y == p.y) {
				out[n-1] = p
				continue
			}
		}
		out = append(out, p)
	}
	return out
}

// mark attaches each node's latest job and decides which edges the
// execution took: the edge leaves a node that passed (resolved, and for a
// branch edge chose that branch) and reaches a node that ran, or the end.
func (g *graph) mark(jobs map[string]*flow.Job) {
	for _, b := range g.boxes {
		if b.kind == kindNode {
			b.job = jobs[b.node.Key]
		}
	}
	for _, e := range g.edges {
		e.taken = passed(e) && (e.to.kind == kindStop || e.to.job != nil)
	}
}

func passed(e *edge) bool {
	if e.from.kind == kindStart {
		return true
	}
	j := e.from.job
	if j == nil || j.Status <= flow.JobPending {
		return false
	}
	if e.branch == nil {
		return true
	}
	return j.Branch != nil && *j.Branch == *e.branch
}

// title is what a node's first line shows: its title, else its key.
func title(n *flow.Node) string {
	switch {
	case n.Title != "":
		return n.Title
	case n.Key != "":
		return n.Key
	}
	return "(no key)"
}

// detail is a node's second line: its type, and with an overlay the status of
// its job.
func (g *graph) detail(b *box) string {
	d := b.node.Type
	if b.job != nil {
		if d != "" {
			d += " · "
		}
		d += b.job.Status.String()
	}
	return d
}

// triggerLines is what the start box shows: the collection and the mode.
func triggerLines(w *flow.Workflow) (string, string) {
	coll := w.Config.Collection
	if coll == "" {
		coll = "(no collection)"
	}
	mode := "local"
	if w.Config.Global {
		mode = "global"
		if len(w.Config.Actions) > 0 {
			mode += " on " + strings.Join(w.Config.Actions, ", ")
		}
	}
	if w.Sync {
		mode += " · sync"
	} else {
		mode += " · async"
	}
	return coll, mode
}
