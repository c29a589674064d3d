package actiontrigger_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/expr-lang/expr"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/expression"
	"github.com/actiontrigger/actiontrigger/flow"
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
