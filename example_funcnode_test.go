package actiontrigger_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
)

// bookConfig is the config of the "book" function node below.
type bookConfig struct {
	Note string `json:"note"`
}

// Validate runs when a workflow using the node is saved.
func (c bookConfig) Validate() error {
	if c.Note == "" {
		return errors.New("note is required")
	}
	return nil
}

// A function node (nodes.Func) is one function over a typed config: the
// config is decoded and validated when the workflow is saved, the event reads
// through typed getters, and records are written through RunContext.Records
// in the run's unit of work (InTx: the node only computes and writes quickly).
func Example_funcNode() {
	ctx := context.Background()
	reg := nodes.DefaultRegistry()
	reg.MustRegister("book", &nodes.Func[bookConfig]{
		InTx: true,
		Do: func(ctx context.Context, r *nodes.FuncRun[bookConfig]) (nodes.Result, error) {
			amount, _ := r.Data().Float("amount")
			rec, err := r.Records.CreateRecord(ctx, "ledger", flow.Record{
				"title": r.Data().String("title"),
				"note":  fmt.Sprintf("%s %.2f", r.Config.Note, amount),
			})
			if err != nil {
				return nodes.Result{}, err
			}
			return nodes.Resolved(rec["id"]), nil
		},
	})
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{Collections: exampleCollections(), Nodes: reg, Logger: quiet})
	if err != nil {
		fmt.Println(err)
		return
	}

	_, err = eng.SaveWorkflow(ctx, flow.Workflow{Key: "bad", Sync: true, Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{{Key: "b", Type: "book", Config: map[string]any{"note": ""}}}})
	fmt.Println(err)

	wf, err := eng.SaveWorkflow(ctx, flow.Workflow{Key: "book", Sync: true, Enabled: true, Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{{Key: "b", Type: "book", Config: map[string]any{"note": "booked"}}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("one unit of work:", wf.Atomic)

	res, err := eng.AfterAction(ctx, actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: "book"},
		map[string]any{"id": 1, "title": "taxi", "amount": 12.5}, actiontrigger.User{ID: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	ledger, _ := eng.Records().ListRecords(ctx, "ledger", nil, nil)
	fmt.Println(res.Executions[0].Status, ledger[0]["title"], ledger[0]["note"])
	// Output:
	// invalid workflow "bad": node "b": config: note is required
	// one unit of work: true
	// RESOLVED taxi booked 12.50
}
