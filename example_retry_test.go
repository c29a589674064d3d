package actiontrigger_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
)

// gateway is a custom node calling a service that is down for its first
// calls; it sends the same idempotency key on every attempt.
type gateway struct {
	mu    sync.Mutex
	down  int // calls that fail
	calls int
}

func (*gateway) Compile(*nodes.CompileContext, *flow.Node) (any, error) { return nil, nil }

func (g *gateway) Run(_ context.Context, r *nodes.RunContext, _ *flow.Job) (nodes.Result, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	if g.calls <= g.down {
		return nodes.Result{}, errors.New("gateway: 503 Service Unavailable")
	}
	return nodes.Resolved(map[string]any{"attempt": r.Attempt()}), nil
}

// A node that fails runs again after a backoff, per the workflow's retry
// policy, and the execution resolves when an attempt succeeds. Every wait is a
// durable timer in the store (Execution.RunAfter); here a clock the example
// moves by hand and Engine.RunDue fire them without sleeping (package testkit
// wraps the same for tests). When attempts run out the execution ends ERROR,
// and Engine.Retry continues it from the failed node once the cause is fixed.
func Example_retry() {
	ctx := context.Background()
	now := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
	gw := &gateway{down: 2}
	reg := nodes.DefaultRegistry()
	reg.MustRegister("gateway", gw)
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{Collections: exampleCollections(), Nodes: reg,
		Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	_, err = eng.SaveWorkflow(ctx, flow.Workflow{Key: "notify", Enabled: true,
		Config:  flow.TriggerConfig{Collection: "expenses"},
		Options: flow.Options{Retry: &flow.RetryPolicy{MaxAttempts: 3, InitialInterval: 60000}}, // 1 min, then 2 min
		Nodes:   []flow.Node{{Key: "call", Type: "gateway"}}})
	if err != nil {
		panic(err)
	}
	action := actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: "notify"}
	res, err := eng.AfterAction(ctx, action, map[string]any{"id": 1, "title": "taxi", "amount": 4}, actiontrigger.User{ID: 1})
	if err != nil {
		panic(err)
	}
	id := res.Executions[0].ID
	show := func() {
		x, _ := eng.Execution(ctx, id)
		jobs, _ := eng.Jobs(ctx, id)
		fmt.Printf("%s, job %s, %d failed attempts", x.Status, jobs[0].Status, len(jobs[0].Attempts))
		if !x.RunAfter.IsZero() {
			fmt.Printf(", next in %s", x.RunAfter.Sub(now))
		}
		fmt.Println()
	}

	_, _ = eng.RunDue(ctx) // the first attempt fails
	show()
	now = now.Add(time.Minute)
	_, _ = eng.RunDue(ctx) // the second too
	show()
	now = now.Add(2 * time.Minute)
	_, _ = eng.RunDue(ctx) // the third succeeds
	show()
	jobs, _ := eng.Jobs(ctx, id)
	fmt.Println(jobs[0].Result)

	// Output:
	// STARTED, job RETRY_NEEDED, 1 failed attempts, next in 1m0s
	// STARTED, job RETRY_NEEDED, 2 failed attempts, next in 2m0s
	// RESOLVED, job RESOLVED, 2 failed attempts
	// map[attempt:3]
}
