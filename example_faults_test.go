package actiontrigger_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
)

// divide is a custom node with a bug: it divides by the event's amount, and
// panics when the amount is 0.
type divide struct{}

func (divide) Compile(*nodes.CompileContext, *flow.Node) (any, error) { return nil, nil }

func (divide) Run(_ context.Context, r *nodes.RunContext, _ *flow.Job) (nodes.Result, error) {
	data, _ := r.Scope["$context"].(map[string]any)["data"].(map[string]any)
	amount, _ := data["amount"].(int)
	return nodes.Resolved(100 / amount), nil
}

// A node that panics ends its execution ERROR, with the panic in its job's
// result; the sync action fails with a SyncError of kind "failed", and the
// engine goes on with the next action.
func Example_panickingNode() {
	ctx := context.Background()
	reg := nodes.DefaultRegistry()
	reg.MustRegister("divide", divide{})
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{Collections: exampleCollections(), Nodes: reg,
		Logger: slog.New(slog.DiscardHandler)}) // the panic's stack is logged at level error
	if err != nil {
		panic(err)
	}
	_, err = eng.SaveWorkflow(ctx, flow.Workflow{Key: "share", Sync: true, Enabled: true,
		Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes:  []flow.Node{{Key: "d", Type: "divide"}}})
	if err != nil {
		panic(err)
	}
	action := actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: "share"}

	_, err = eng.AfterAction(ctx, action, map[string]any{"id": 1, "title": "free lunch", "amount": 0}, actiontrigger.User{ID: 1})
	var se *actiontrigger.SyncError
	if errors.As(err, &se) {
		jobs, _ := eng.Jobs(ctx, se.Execution.ID)
		fmt.Println(se.Kind, se.Execution.Status, jobs[0].Status)
		fmt.Println(jobs[0].Result.(map[string]any)["message"])
	}

	res, err := eng.AfterAction(ctx, action, map[string]any{"id": 2, "title": "taxi", "amount": 4}, actiontrigger.User{ID: 1})
	fmt.Println(err, res.Executions[0].Status)
	// Output:
	// failed ERROR ERROR
	// node "d" (type "divide") panicked: runtime error: integer divide by zero
	// <nil> RESOLVED
}
