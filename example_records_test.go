package actiontrigger_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// expenseRepo is the host's own repository for its expenses: the engine reads
// them through storage.Records and never touches the host's storage.
type expenseRepo struct {
	mu   sync.Mutex
	rows map[int64]flow.Record
}

func (r *expenseRepo) Get(_ context.Context, _ string, key flow.Record) (flow.Record, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, _ := flow.IntValue(key["id"])
	if rec, ok := r.rows[id]; ok {
		return rec, nil
	}
	return nil, fmt.Errorf("expense %d: %w", id, flow.ErrNotFound)
}

func (r *expenseRepo) Create(_ context.Context, _ string, values flow.Record) (flow.Record, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := int64(len(r.rows) + 1)
	rec := flow.Record{"id": id, "title": values["title"], "amount": values["amount"]}
	r.rows[id] = rec
	return rec, nil
}

// A collection backed by host code: the host's repository serves the
// expenses (here a map; in a service, its sqlc queries or ORM), and the
// engine's store keeps only its own state and the ledger. The workflow reads
// the expense through the repository when a binding's path or appends reach
// it, and the create node writes the ledger record in the run's unit of work.
func Example_hostBackedCollection() {
	ctx := context.Background()
	repo := &expenseRepo{rows: map[int64]flow.Record{}}
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{
		Collections: []flow.Collection{
			{Name: "expenses", Fields: []flow.Field{
				{Name: "title", Type: flow.FieldString}, {Name: "amount", Type: flow.FieldNumber}}},
			{Name: "ledger", Fields: []flow.Field{
				{Name: "note", Type: flow.FieldString},
				{Name: "expense", Type: flow.FieldBelongsTo, Target: "expenses"}}},
		},
		Records: map[string]storage.Records{"expenses": repo},
		Logger:  quiet,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = eng.SaveWorkflow(ctx, flow.Workflow{
		Key: "book", Sync: true, Enabled: true,
		Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{{Key: "book", Type: "create", Config: map[string]any{"collection": "ledger",
			"params": map[string]any{
				"values":  map[string]any{"note": "booked {{$context.data.title}}", "expenseId": "{{$context.data.id}}"},
				"appends": []any{"expense"}}}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	// The host writes its record with its own code, then reports the action.
	rec, _ := repo.Create(ctx, "expenses", flow.Record{"title": "Taxi", "amount": 40})
	res, err := eng.AfterAction(ctx, actiontrigger.Action{
		Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: "book",
	}, rec, actiontrigger.User{ID: 2, Role: "member"})
	if err != nil {
		fmt.Println(err)
		return
	}
	jobs, _ := eng.Jobs(ctx, res.Executions[0].ID)
	booked := jobs[0].Result.(flow.Record)
	fmt.Println(booked["note"], "for", booked["expense"].(flow.Record)["title"])
	// Output: booked Taxi for Taxi
}
