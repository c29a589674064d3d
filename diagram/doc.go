// Package diagram draws a workflow version (flow.Workflow) as a Mermaid
// flowchart (Mermaid) or as a self-contained SVG image laid out in Go (SVG),
// optionally marking the path one execution took (WithJobs).
//
// Both drawings show the same graph: a start node for the trigger (its
// collection and mode), one node per workflow node (its title, or its key,
// and its type), and an end node, left out when every path ends at an "end"
// node. The main line runs top to bottom. A branching node's branches are
// drawn side by side below it, each labelled with its index (for a
// "condition" node: "true" for branch 1, "false" for branch 0), and they
// join again into the node after the branching node. A condition draws both
// of its outcomes even when a branch is missing or empty (the flow then
// continues at once), except the false outcome of a condition with
// rejectOnFalse, which fails the execution instead. An "end" node ends the
// execution: nothing leaves it.
//
// With WithJobs, each node that has a job is styled by the status of its
// latest job (the highest Seq): resolved (and custom positive statuses) green,
// pending amber, every negative status (error, failed, rejected, aborted,
// canceled, retry needed) red; the edges the execution took are emphasised;
// nodes it did not reach stay plain.
//
// Labels are escaped for their target: Mermaid entity codes (#quot;, #lt;,
// #35;, ...) in Mermaid, XML escapes in SVG. An SVG holds no script, no style
// sheet and no external reference, so it can be served inline.
package diagram
