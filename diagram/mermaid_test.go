package diagram_test

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/diagram"
	"github.com/actiontrigger/actiontrigger/flow"
)

func TestMermaidLine(t *testing.T) {
	wf := &flow.Workflow{Key: "audit", Config: flow.TriggerConfig{Collection: "expenses", Global: true, Actions: []string{"create", "update"}},
		Nodes: []flow.Node{{Key: "log", Type: "create"}, {Key: "say", Title: "Say hello", Type: "response-message"}}}
	want := `flowchart TD
    start(["expenses<br/>global on create, update · async"])
    n1["log<br/>create"]
    n2["Say hello<br/>response-message"]
    stop(["end"])
    start --> n1
    n1 --> n2
    n2 --> stop
`
	assert.Equal(t, want, diagram.Mermaid(wf))
}

// A condition draws both outcomes: the missing true branch goes straight to
// the next node; the end node in the false branch has no way out.
func TestMermaidCondition(t *testing.T) {
	want := `flowchart TD
    start(["expenses<br/>local · sync"])
    n1{{"positive<br/>condition"}}
    n2["why<br/>response-message"]
    n3(["reject<br/>end"])
    n4["ok<br/>response-message"]
    stop(["end"])
    start --> n1
    n1 -->|false| n2
    n2 --> n3
    n1 -->|true| n4
    n4 --> stop
`
	assert.Equal(t, want, diagram.Mermaid(checkWorkflow()))
}

func TestMermaidEmpty(t *testing.T) {
	want := `flowchart TD
    start(["(no collection)<br/>local · async"])
    stop(["end"])
    start --> stop
`
	assert.Equal(t, want, diagram.Mermaid(&flow.Workflow{}))
	assert.Equal(t, want, diagram.Mermaid(nil))
	// An overlay on nothing adds nothing but the taken start edge.
	assert.Equal(t, strings.Replace(want, "-->", "==>", 1)+"    linkStyle 0 stroke:#1e293b,stroke-width:3px\n",
		diagram.Mermaid(&flow.Workflow{}, diagram.WithJobs(nil)))
}

// mermaidEdges parses the edge lines of a chart into "from -label-> to"
// strings, by node label (the text before <br/>), and reports the taken ones.
func mermaidEdges(t *testing.T, chart string) (edges []string, taken []string) {
	t.Helper()
	names := map[string]string{}
	nodeRe := regexp.MustCompile(`^    (\w+)[\[\(\{]+"([^"]*)"[\]\)\}]+$`)
	edgeRe := regexp.MustCompile(`^    (\w+) (-->|==>)(?:\|([^|]*)\|)? (\w+)$`)
	for _, line := range strings.Split(strings.TrimSuffix(chart, "\n"), "\n")[1:] {
		if m := nodeRe.FindStringSubmatch(line); m != nil {
			name, _, _ := strings.Cut(m[2], "<br/>")
			if m[1] == "stop" || m[1] == "start" {
				name = m[1]
			}
			names[m[1]] = name
			continue
		}
		if m := edgeRe.FindStringSubmatch(line); m != nil {
			require.Contains(t, names, m[1], "edge from an undeclared node: %s", line)
			require.Contains(t, names, m[4], "edge to an undeclared node: %s", line)
			e := names[m[1]] + " -" + m[3] + "-> " + names[m[4]]
			edges = append(edges, e)
			if m[2] == "==>" {
				taken = append(taken, e)
			}
			continue
		}
		require.Regexp(t, `^    (classDef|class|linkStyle) `, line, "unexpected line")
	}
	return edges, taken
}

// Branches converge into the node after their branching node, however deep.
func TestMermaidNestedBranches(t *testing.T) {
	edges, taken := mermaidEdges(t, diagram.Mermaid(nestedWorkflow()))
	assert.Empty(t, taken)
	assert.ElementsMatch(t, []string{
		"start --> c1",
		"c1 -true-> c2",
		"c2 -true-> a",
		"c2 -false-> b",
		"b --> b2",
		"c1 -false-> sw",
		"sw -0-> s0",
		"sw -2-> s2",
		"a --> After all",
		"b2 --> After all",
		"s0 --> After all",
		"sw -1-> After all", // the empty branch continues at once
		"s2 --> After all",
		"After all --> stop",
	}, edges)
}

func TestMermaidRejectOnFalse(t *testing.T) {
	wf := &flow.Workflow{Nodes: []flow.Node{
		{Key: "guard", Type: "condition", Config: map[string]any{"rejectOnFalse": true}},
		{Key: "next", Type: "create"},
	}}
	edges, _ := mermaidEdges(t, diagram.Mermaid(wf))
	assert.Equal(t, []string{"start --> guard", "guard -true-> next", "next --> stop"}, edges)
}

// Hostile titles and types cannot leave their label: no raw quote, bracket,
// angle bracket or line break reaches the chart, and decoding Mermaid's
// entity codes gives the text back.
func TestMermaidEscaping(t *testing.T) {
	hostile := []string{
		`"]; click n1 call alert(1) %% ["`,
		"<script>alert('x')</script>",
		`<img src=x onerror=alert(1)>`,
		"two\nlines\r\nand\rthree",
		"line\u2028separator\u2029paragraph\u0085next",
		"#quot; #35; &amp; &lt;b&gt; #lt;",
		"`markdown` **bold**",
		"tab\there\x00nul\x1besc",
		"日本語 émoji 🎉 العربية \u202eevil",
		"end",
		"a]b)c}d|e;f{g(h[i",
		"%%{init: {'theme':'dark'}}%%",
		"style n1 fill:#f00; classDef x color:#fff;",
	}
	var nodes []flow.Node
	for i, h := range hostile {
		nodes = append(nodes, flow.Node{Key: "k" + strconv.Itoa(i), Title: h, Type: "type " + h})
	}
	wf := &flow.Workflow{Title: hostile[0], Config: flow.TriggerConfig{Collection: hostile[1], Global: true, Actions: []string{hostile[3]}}, Nodes: nodes}
	chart := diagram.Mermaid(wf)

	lines := strings.Split(strings.TrimSuffix(chart, "\n"), "\n")
	// header, start, one line per node, stop, then len+1 edges
	require.Len(t, lines, 1+1+len(hostile)+1+len(hostile)+1, chart)
	text := `[^"<>\n\r%:` + "`" + `\x{202e}]*` // none of what mermaidText encodes
	labelRe := regexp.MustCompile(`^    (?:start|stop|n\d+)(\(\[|\[|\{\{)"(` + text + `(?:<br/>` + text + `)*)"(\]\)|\]|\}\})$`)
	for i, h := range hostile {
		line := lines[2+i]
		m := labelRe.FindStringSubmatch(line)
		require.NotNil(t, m, "label line %d not confined: %q", i, line)
		parts := strings.Split(m[2], "<br/>")
		got := decodeMermaid(strings.Join(parts, "\n"))
		// Line breaks of any kind come back as \n, other controls as spaces.
		// Bidirectional overrides are dropped.
		want := strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u2028", "\n", "\u2029", "\n", "\u0085", "\n", "\t", " ", "\x00", " ", "\x1b", " ", "\u202e", "").Replace(h)
		assert.Equal(t, want+"\ntype "+want, got, "label %d", i)
	}
	start := regexp.MustCompile(`^    start\(\["(.*)"\]\)$`).FindStringSubmatch(lines[1])
	require.NotNil(t, start, lines[1])
	assert.Equal(t, hostile[1]+"\nglobal on two\nlines\nand\nthree · async", decodeMermaid(strings.ReplaceAll(start[1], "<br/>", "\n")))
}

// decodeMermaid undoes the entity codes mermaidText writes.
func decodeMermaid(s string) string {
	return strings.NewReplacer("#quot;", `"`, "#35;", "#", "#amp;", "&", "#lt;", "<", "#gt;", ">", "#96;", "`", "#37;", "%", "#58;", ":").Replace(s)
}

func TestMermaidInvalidUTF8(t *testing.T) {
	chart := diagram.Mermaid(&flow.Workflow{Nodes: []flow.Node{{Key: "bad\xff\xfe", Type: "x"}}})
	assert.Contains(t, chart, `n1["bad`+"\uFFFD\uFFFD"+`<br/>x"]`)
}

// The overlay styles each node by its latest job and thickens the edges the
// execution took; linkStyle names exactly the thick edges.
func TestMermaidOverlay(t *testing.T) {
	wf := nestedWorkflow()
	jobs := []*flow.Job{
		{NodeKey: "c1", Seq: 1, Status: flow.JobResolved, Branch: ptr(1)},
		{NodeKey: "c2", Seq: 2, Status: flow.JobResolved, Branch: ptr(0)},
		{NodeKey: "b", Seq: 3, Status: flow.JobError},    // an earlier attempt...
		{NodeKey: "b", Seq: 4, Status: flow.JobResolved}, // ...superseded
		{NodeKey: "b2", Seq: 5, Status: flow.JobPending},
		{NodeKey: "elsewhere", Seq: 6, Status: flow.JobResolved}, // not in this version
		nil,
	}
	chart := diagram.Mermaid(wf, diagram.WithJobs(jobs))
	_, taken := mermaidEdges(t, chart)
	assert.Equal(t, []string{"start --> c1", "c1 -true-> c2", "c2 -false-> b", "b --> b2"}, taken)
	assert.Contains(t, chart, "\n    class n1,n2,n4 resolved\n")
	assert.Contains(t, chart, "\n    class n5 pending\n")
	assert.NotContains(t, chart, "class n3") // a: not reached
	assert.NotContains(t, chart, "classDef failed")
	assert.Contains(t, chart, `n4["b<br/>create · RESOLVED"]`)
	assert.Contains(t, chart, `n3["a<br/>create"]`)

	// linkStyle lists the indexes of the ==> edges.
	var edgeLines []string
	for _, l := range strings.Split(chart, "\n") {
		if strings.Contains(l, "-->") || strings.Contains(l, "==>") {
			edgeLines = append(edgeLines, l)
		}
	}
	var thick []string
	for i, l := range edgeLines {
		if strings.Contains(l, "==>") {
			thick = append(thick, strconv.Itoa(i))
		}
	}
	assert.Contains(t, chart, "\n    linkStyle "+strings.Join(thick, ",")+" stroke:")
}

// A failed execution: the red node ends the path; the edge after it is not
// taken, and neither is the branch the condition did not choose.
func TestMermaidOverlayFailed(t *testing.T) {
	jobs := []*flow.Job{
		{NodeKey: "positive", Seq: 1, Status: flow.JobResolved, Branch: ptr(0)},
		{NodeKey: "why", Seq: 2, Status: flow.JobResolved},
		{NodeKey: "reject", Seq: 3, Status: flow.JobFailed, End: true},
	}
	chart := diagram.Mermaid(checkWorkflow(), diagram.WithJobs(jobs))
	_, taken := mermaidEdges(t, chart)
	assert.Equal(t, []string{"start --> positive", "positive -false-> why", "why --> reject"}, taken)
	assert.Contains(t, chart, "    class n3 failed\n")
	assert.Contains(t, chart, "classDef failed fill:#fee2e2")

	for status, class := range map[flow.JobStatus]string{
		flow.JobResolved: "resolved", 7: "resolved", flow.JobPending: "pending",
		flow.JobError: "failed", flow.JobFailed: "failed", flow.JobRejected: "failed",
		flow.JobAborted: "failed", flow.JobCanceled: "failed", flow.JobRetryNeeded: "failed", -9: "failed",
	} {
		chart := diagram.Mermaid(checkWorkflow(), diagram.WithJobs([]*flow.Job{{NodeKey: "ok", Status: status}}))
		assert.Contains(t, chart, "    class n4 "+class+"\n", "status %v", status)
	}
}

func TestMermaidDeterministic(t *testing.T) {
	first := diagram.Mermaid(nestedWorkflow())
	for range 20 {
		require.Equal(t, first, diagram.Mermaid(nestedWorkflow())) // map order must not leak
	}
	// Node ids follow drawing order.
	var ids []string
	for _, m := range regexp.MustCompile(`(?m)^    (n\d+)[\[\{]`).FindAllStringSubmatch(first, -1) {
		ids = append(ids, m[1])
	}
	assert.True(t, slices.Equal(ids, []string{"n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9"}), "%v", ids)
}
