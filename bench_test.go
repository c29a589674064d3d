package actiontrigger_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/expr-lang/expr"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/expression"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/internal/teststores"
	"github.com/actiontrigger/actiontrigger/nodes"
)

func benchCollections(extra int) []flow.Collection {
	cs := []flow.Collection{
		{Name: "expenses", Fields: []flow.Field{
			{Name: "title", Type: flow.FieldString},
			{Name: "amount", Type: flow.FieldNumber},
		}},
		{Name: "ledger", Fields: []flow.Field{
			{Name: "title", Type: flow.FieldString},
			{Name: "amount", Type: flow.FieldNumber},
		}},
	}
	for i := 0; i < extra; i++ {
		cs = append(cs, flow.Collection{Name: fmt.Sprintf("other%d", i), Fields: []flow.Field{{Name: "title", Type: flow.FieldString}}})
	}
	return cs
}

// benchWorkflow is the benchmark shape of the issue: condition (expr) -> create.
func benchWorkflow(key string, sync bool) flow.Workflow {
	return flow.Workflow{
		Key: key, Sync: sync, Enabled: true,
		Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{
			{Key: "small", Type: "condition", Config: map[string]any{"engine": "expr", "expression": "$context.data.amount <= 500", "rejectOnFalse": true}},
			{Key: "book", Type: "create", Config: map[string]any{"collection": "ledger",
				"params": map[string]any{"values": map[string]any{"title": "{{$context.data.title}}", "amount": "{{$context.data.amount}}"}}}},
		},
	}
}

// newBenchEngine builds an engine with the benchmark workflow plus `unrelated`
// enabled workflows on other collections (half local, half global).
func newBenchEngine(b *testing.B, unrelated int, sync bool) *actiontrigger.Engine {
	b.Helper()
	ctx := context.Background()
	colls := 10
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{Collections: benchCollections(colls), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := eng.SaveWorkflow(ctx, benchWorkflow("bench", sync)); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < unrelated; i++ {
		wf := flow.Workflow{Key: fmt.Sprintf("unrelated-%d", i), Sync: true, Enabled: true,
			Config: flow.TriggerConfig{Collection: fmt.Sprintf("other%d", i%colls), Global: i%2 == 0, Actions: []string{"create"}},
			Nodes:  []flow.Node{{Key: "n", Type: "end"}}}
		if _, err := eng.SaveWorkflow(ctx, wf); err != nil {
			b.Fatal(err)
		}
	}
	return eng
}

func benchAfterActionSync(b *testing.B, unrelated int) {
	eng := newBenchEngine(b, unrelated, true)
	ctx := context.Background()
	action := actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: "bench"}
	user := actiontrigger.User{ID: 1, Role: "member"}
	rec := map[string]any{"id": 1, "title": "Taxi", "amount": 40.0}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := eng.AfterAction(ctx, action, rec, user)
		if err != nil || len(res.Executions) != 1 || res.Executions[0].Status != flow.ExecutionResolved {
			b.Fatalf("run %d: %v %+v", i, err, res)
		}
	}
}

// BenchmarkAfterActionSync: one local sync workflow condition (expr) -> create
// on the memory store, end to end through AfterAction.
func BenchmarkAfterActionSync(b *testing.B) { benchAfterActionSync(b, 0) }

// BenchmarkAfterActionSyncUnrelated10 and ...10000: the same with 10 or 10,000
// enabled workflows on other collections; the cost must not grow with them.
func BenchmarkAfterActionSyncUnrelated10(b *testing.B)    { benchAfterActionSync(b, 10) }
func BenchmarkAfterActionSyncUnrelated10000(b *testing.B) { benchAfterActionSync(b, 10000) }

// BenchmarkAfterActionAsync: enqueue b.N executions of the async workflow and
// drain them with the worker pool; reports executions/s.
func BenchmarkAfterActionAsync(b *testing.B) {
	eng := newBenchEngine(b, 0, false)
	ctx := context.Background()
	if err := eng.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer eng.Stop(ctx)
	action := actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: "bench"}
	user := actiontrigger.User{ID: 1, Role: "member"}
	rec := map[string]any{"id": 1, "title": "Taxi", "amount": 40.0}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := eng.AfterAction(ctx, action, rec, user); err != nil {
			b.Fatal(err)
		}
	}
	if err := eng.WaitIdle(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "executions/s")
}

// BenchmarkConditionEvaluate compares the condition node's expression run with a
// raw precompiled expr run on the same scope.
func BenchmarkConditionEvaluate(b *testing.B) {
	scope := expression.Scope{"$context": map[string]any{"data": map[string]any{"amount": 40.0, "title": "Taxi"}}}
	b.Run("expression.Program", func(b *testing.B) {
		p, err := expression.Compile("$context.data.amount <= 500")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if v, err := p.Run(scope); err != nil || v != true {
				b.Fatal(v, err)
			}
		}
	})
	b.Run("raw expr.Run", func(b *testing.B) {
		p, err := expr.Compile("$context.data.amount <= 500")
		if err != nil {
			b.Fatal(err)
		}
		env := map[string]any(scope)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if v, err := expr.Run(p, env); err != nil || v != true {
				b.Fatal(v, err)
			}
		}
	})
}

// benchFailFirst is a node type that fails the first config.failFirst
// attempts of each execution, then resolves; atomic, as the built-ins.
type benchFailFirst struct{}

func (benchFailFirst) Atomic() bool { return true }

func (benchFailFirst) Compile(_ *nodes.CompileContext, n *flow.Node) (any, error) {
	switch k := n.Config["failFirst"].(type) {
	case int:
		return k, nil
	case float64: // stored as JSON
		return int(k), nil
	}
	return nil, fmt.Errorf("failFirst: %v is not a number", n.Config["failFirst"])
}

func (benchFailFirst) Run(_ context.Context, r *nodes.RunContext, _ *flow.Job) (nodes.Result, error) {
	if a := r.Attempt(); a <= r.Compiled.(int) {
		return nodes.Result{}, fmt.Errorf("attempt %d fails on purpose", a)
	}
	return nodes.Resolved(nil), nil
}

// BenchmarkAsyncRetry: one async execution of condition -> node -> create
// per op, whose node passes (none) or fails its first attempt and is run
// again after its 1 ms backoff (one-retry), on the memory store and a SQLite
// file. The op enqueues it (AfterAction) and runs it on the calling
// goroutine (Engine.RunDue) to its end; with a retry, the engine's fake
// clock then moves past the backoff and RunDue runs the second attempt. So
// one-retry minus none is what a retry costs: a second claim, the failed
// attempt's write (the job RETRY_NEEDED, the execution's timer) and the
// rerun's.
func BenchmarkAsyncRetry(b *testing.B) {
	for _, store := range []string{"memory", "sqlite"} {
		for _, fails := range []int{0, 1} {
			name := store + "/none"
			if fails > 0 {
				name = store + "/one-retry"
			}
			b.Run(name, func(b *testing.B) { benchAsyncRetry(b, store, fails) })
		}
	}
}

func benchAsyncRetry(b *testing.B, kind string, fails int) {
	ctx := context.Background()
	var clock atomic.Int64 // UnixNano of the fake clock
	clock.Store(time.Now().UnixNano())
	reg := nodes.DefaultRegistry()
	reg.MustRegister("fail-first", benchFailFirst{})
	cfg := actiontrigger.Config{Collections: benchCollections(0), Logger: quiet, Nodes: reg,
		Now: func() time.Time { return time.Unix(0, clock.Load()) }}
	if kind == "sqlite" {
		cfg.Store = teststores.SQLite(b)
	}
	eng, err := actiontrigger.New(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	w := benchWorkflow("retry", false)
	w.Nodes = []flow.Node{w.Nodes[0], {Key: "flaky", Type: "fail-first", Config: map[string]any{"failFirst": fails}}, w.Nodes[1]}
	w.Options.Retry = &flow.RetryPolicy{MaxAttempts: 2, InitialInterval: 1, MaxInterval: 1}
	if _, err := eng.SaveWorkflow(ctx, w); err != nil {
		b.Fatal(err)
	}
	action := actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: "retry"}
	user := actiontrigger.User{ID: 1, Role: "member"}
	rec := map[string]any{"id": 1, "title": "Taxi", "amount": 40.0}
	var last string
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := eng.AfterAction(ctx, action, rec, user)
		if err != nil || len(res.Executions) != 1 {
			b.Fatalf("run %d: %v %+v", i, err, res)
		}
		last = res.Executions[0].ID
		runs, err := eng.RunDue(ctx)
		if err != nil || runs != 1 {
			b.Fatalf("run %d: %d runs, %v", i, runs, err)
		}
		if fails > 0 {
			clock.Add(int64(2 * time.Millisecond)) // past the backoff
			if runs, err = eng.RunDue(ctx); err != nil || runs != 1 {
				b.Fatalf("run %d: %d runs of the retry, %v", i, runs, err)
			}
		}
	}
	b.StopTimer()
	x, err := eng.Execution(ctx, last)
	if err != nil || x.Status != flow.ExecutionResolved {
		b.Fatalf("last execution: %v %v", x, err)
	}
	js, err := eng.Jobs(ctx, last)
	if err != nil || len(js) != 3 || len(js[1].Attempts) != fails {
		b.Fatalf("last execution's jobs: %d, %v", len(js), err)
	}
}
