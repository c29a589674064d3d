package actiontrigger_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
)

// waitPayment is a custom pausing node: it asks a payment service for an
// invoice and waits until the host, told by the service's webhook, resumes
// it. If the execution is canceled meanwhile, Abort voids the invoice.
type waitPayment struct {
	mu     sync.Mutex
	voided []string
}

func (*waitPayment) Compile(*nodes.CompileContext, *flow.Node) (any, error) { return nil, nil }

// Run pauses: Pending keeps the job waiting, with the invoice in its meta.
func (*waitPayment) Run(_ context.Context, r *nodes.RunContext, _ *flow.Job) (nodes.Result, error) {
	return nodes.Pending(map[string]any{"invoice": "inv-" + r.Data().String("title")}), nil
}

// Resume decides the outcome from what the host reported.
func (*waitPayment) Resume(_ context.Context, _ *nodes.RunContext, j *flow.Job) (nodes.Result, error) {
	return nodes.WithStatus(j.Status, j.Result), nil
}

// Abort releases what the paused job holds.
func (w *waitPayment) Abort(_ context.Context, a *nodes.AbortContext) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.voided = append(w.voided, fmt.Sprint(a.Job.Meta["invoice"]))
	return nil
}

// A custom node pauses an async execution until the host resumes it
// (Engine.Resume, here from a payment webhook); a canceled execution lets the
// node release what it holds (nodes.Aborter).
func Example_customPausingNode() {
	ctx := context.Background()
	node := &waitPayment{}
	reg := nodes.DefaultRegistry()
	reg.MustRegister("wait-payment", node)
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{Collections: exampleCollections(), Nodes: reg, Logger: quiet})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = eng.Start(ctx)
	defer func() { _ = eng.Stop(ctx) }()
	_, err = eng.SaveWorkflow(ctx, flow.Workflow{
		Key: "collect", Enabled: true, Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{
			{Key: "pay", Type: "wait-payment"},
			{Key: "book", Type: "create", Config: map[string]any{"collection": "ledger",
				"params": map[string]any{"values": map[string]any{"title": "paid {{$jobsMapByNodeKey.pay.ref}}"}}}},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	action := actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: "collect"}
	user := actiontrigger.User{ID: 2, Role: "member"}
	paid, _ := eng.AfterAction(ctx, action, map[string]any{"id": 1, "title": "taxi"}, user)
	unpaid, _ := eng.AfterAction(ctx, action, map[string]any{"id": 2, "title": "hotel"}, user)
	_ = eng.WaitIdle(ctx)

	jobs, _ := eng.Jobs(ctx, paid.Executions[0].ID)
	fmt.Println("waiting:", jobs[0].Status, jobs[0].Meta["invoice"])

	// The payment service's webhook arrives: the host resumes the job.
	_ = eng.Resume(ctx, jobs[0].ID, flow.JobResolved, map[string]any{"ref": "tx-42"})
	_ = eng.WaitIdle(ctx)
	x, _ := eng.Execution(ctx, paid.Executions[0].ID)
	jobs, _ = eng.Jobs(ctx, x.ID)
	fmt.Println("paid:", x.Status, jobs[1].Result.(flow.Record)["title"])

	// The other claim is withdrawn: its invoice is voided.
	_ = eng.CancelExecution(ctx, unpaid.Executions[0].ID)
	x, _ = eng.Execution(ctx, unpaid.Executions[0].ID)
	fmt.Println("canceled:", x.Status, node.voided)
	// Output:
	// waiting: PENDING inv-taxi
	// paid: RESOLVED paid tx-42
	// canceled: ABORTED [inv-hotel]
}
