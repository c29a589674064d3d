package flow

import (
	"strconv"
	"time"
)

// TriggerType is the only workflow type this library runs: the post-action event.
const TriggerType = "action"

// Action names that trigger workflows.
const (
	ActionCreate = "create"
	ActionUpdate = "update"
)

// Workflow is one version of a workflow: a JSON-serialisable document. All versions
// of a workflow share its Key; exactly one of them is current and at most one is
// enabled.
type Workflow struct {
	// ID identifies this version. Set by the engine when the version is saved.
	ID string `json:"id,omitempty"`
	// Key is shared by all versions; bindings name workflows by key. Generated when empty.
	Key         string `json:"key"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
	// Type must be "action" (TriggerType). Empty means "action".
	Type string `json:"type"`
	// Sync workflows run inline inside AfterAction; async ones are queued.
	Sync    bool          `json:"sync"`
	Enabled bool          `json:"enabled"`
	Current bool          `json:"current"`
	Config  TriggerConfig `json:"config"`
	Options Options       `json:"options"`
	// Nodes is the main line, in order.
	Nodes []Node `json:"nodes"`
	// Version counts the versions of the key, from 1.
	Version int `json:"version,omitempty"`
	// Executed counts the executions of this version. A version with Executed > 0 is
	// frozen: its config, nodes, type and sync flag can no longer change.
	Executed int64 `json:"executed"`
	// AllExecuted counts the executions of every version of the key. Filled on reads.
	AllExecuted int64 `json:"allExecuted"`
	// Atomic is filled by the engine on the versions it returns, and ignored
	// on input: true when every node is atomic (nodes.Atomic, as all built-ins
	// are), so a sync run is one unit of work with the action's other writes
	// and an async run commits once; false when a node runs outside the
	// store's transaction, so each node's job commits on its own and a sync
	// run's earlier writes stay even when a later node fails.
	Atomic    bool      `json:"atomic"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Frozen reports whether this version has run and so can no longer change shape.
func (w *Workflow) Frozen() bool { return w.Executed > 0 }

// Clone returns a deep copy of the workflow's document structure (node configs are
// copied one level deep in their maps; nested values are treated as immutable).
func (w *Workflow) Clone() *Workflow {
	c := *w
	c.Config.Actions = append([]string(nil), w.Config.Actions...)
	c.Config.Appends = append([]string(nil), w.Config.Appends...)
	c.Options.DeleteExecutionOnStatus = append([]ExecutionStatus(nil), w.Options.DeleteExecutionOnStatus...)
	c.Options.Retry = w.Options.Retry.clone()
	c.Nodes = cloneNodes(w.Nodes)
	return &c
}

func cloneNodes(ns []Node) []Node {
	if ns == nil {
		return nil
	}
	out := make([]Node, len(ns))
	for i, n := range ns {
		out[i] = n
		out[i].Retry = n.Retry.clone()
		if n.Config != nil {
			cfg := make(map[string]any, len(n.Config))
			for k, v := range n.Config {
				cfg[k] = v
			}
			out[i].Config = cfg
		}
		if n.Branches != nil {
			b := make(map[int][]Node, len(n.Branches))
			for k, v := range n.Branches {
				b[k] = cloneNodes(v)
			}
			out[i].Branches = b
		}
	}
	return out
}

// TriggerConfig is the post-action trigger's configuration.
type TriggerConfig struct {
	// Collection whose actions trigger the workflow: "posts", or "<dataSource>:posts"
	// for another data source (the main data source has no prefix).
	Collection string `json:"collection"`
	// Global workflows run on every action listed in Actions; local ones only when named.
	Global bool `json:"global,omitempty"`
	// Actions for global mode: "create" and/or "update". None: a global workflow never runs.
	Actions []string `json:"actions,omitempty"`
	// Appends lists association paths loaded into the event data ("applicant", "post.category").
	Appends []string `json:"appends,omitempty"`
}

// HasAction reports whether Actions lists name.
func (c *TriggerConfig) HasAction(name string) bool {
	for _, a := range c.Actions {
		if a == name {
			return true
		}
	}
	return false
}

// Options are per-workflow engine options.
type Options struct {
	// Timeout in milliseconds (0: none). An execution running longer is aborted
	// with reason "timeout".
	Timeout int64 `json:"timeout,omitempty"`
	// StackLimit is how many times this workflow may appear in the stack of
	// executions that triggered each other (default 1).
	StackLimit int `json:"stackLimit,omitempty"`
	// DeleteExecutionOnStatus lists final statuses whose executions are deleted as
	// soon as they end.
	DeleteExecutionOnStatus []ExecutionStatus `json:"deleteExecutionOnStatus,omitempty"`
	// Retry is the retry policy of every node that sets none of its own
	// (nil: a failed node ends the execution at once).
	Retry *RetryPolicy `json:"retry,omitempty"`
}

// Node is one step of a workflow.
type Node struct {
	// Key identifies the node within the workflow; stable across versions, so
	// $jobsMapByNodeKey.<key> keeps working.
	Key   string `json:"key"`
	Title string `json:"title,omitempty"`
	// Type names the instruction in the node registry ("condition", "create", ...).
	Type   string         `json:"type"`
	Config map[string]any `json:"config,omitempty"`
	// Timeout bounds one run of the node, in milliseconds (0: the engine's
	// default, Config.NodeTimeout; negative values are refused when saved). The
	// node's context carries the deadline, capped by the workflow's
	// options.timeout; a run that overruns it by more than a grace period is
	// abandoned and its job is ERROR.
	Timeout int64 `json:"timeout,omitempty"`
	// Retry, if set, replaces the workflow's retry policy (Options.Retry)
	// for this node: {"maxAttempts": 1} turns retries off for it.
	Retry *RetryPolicy `json:"retry,omitempty"`
	// Branches of a branching node, keyed by branch index (condition: 1 = true,
	// 0 = false). Each branch is a line of nodes run in order. The next node of the
	// enclosing line runs after the branch resolves.
	Branches map[int][]Node `json:"branches,omitempty"`
}

// BranchKey formats a branch index as it appears in JSON.
func BranchKey(i int) string { return strconv.Itoa(i) }
