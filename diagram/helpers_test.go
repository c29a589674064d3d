package diagram_test

import (
	"github.com/actiontrigger/actiontrigger/flow"
)

// checkWorkflow is the demo's sync check: a condition whose false branch
// answers and ends the execution, and whose true outcome has no branch.
func checkWorkflow() *flow.Workflow {
	return &flow.Workflow{
		Key: "expense-check", Title: "Check the claim", Sync: true,
		Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{
			{Key: "positive", Type: "condition", Branches: map[int][]flow.Node{
				0: {
					{Key: "why", Type: "response-message"},
					{Key: "reject", Type: "end"},
				},
			}},
			{Key: "ok", Type: "response-message"},
		},
	}
}

// nestedWorkflow has a condition inside a condition's true branch, a custom
// branching node with three branches (one empty) in its false branch, and a
// node after them all.
func nestedWorkflow() *flow.Workflow {
	return &flow.Workflow{
		Key: "nested", Title: "Nested", Config: flow.TriggerConfig{Collection: "posts", Global: true, Actions: []string{"create", "update"}},
		Nodes: []flow.Node{
			{Key: "c1", Type: "condition", Branches: map[int][]flow.Node{
				1: {{Key: "c2", Type: "condition", Branches: map[int][]flow.Node{
					1: {{Key: "a", Type: "create"}},
					0: {{Key: "b", Type: "create"}, {Key: "b2", Type: "create"}},
				}}},
				0: {{Key: "sw", Type: "switch", Branches: map[int][]flow.Node{
					2: {{Key: "s2", Type: "create"}},
					0: {{Key: "s0", Type: "create"}},
					1: nil,
				}}},
			}},
			{Key: "after", Type: "create", Title: "After all"},
		},
	}
}

func ptr[T any](v T) *T { return &v }
