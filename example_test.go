package actiontrigger_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
)

// quiet keeps example output free of engine logs.
var quiet = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

func exampleCollections() []flow.Collection {
	return []flow.Collection{
		{Name: "categories", Fields: []flow.Field{{Name: "title", Type: flow.FieldString}}},
		{Name: "expenses", Fields: []flow.Field{
			{Name: "title", Type: flow.FieldString},
			{Name: "amount", Type: flow.FieldNumber},
			{Name: "category", Type: flow.FieldBelongsTo, Target: "categories"},
		}},
		{Name: "ledger", Fields: []flow.Field{
			{Name: "title", Type: flow.FieldString},
			{Name: "note", Type: flow.FieldString},
		}},
	}
}

// A sync local workflow runs inline when the action names it, and can refuse
// the action: here claims over 500 end at an end node with endStatus -1.
func Example_localSync() {
	ctx := context.Background()
	eng, _ := actiontrigger.New(ctx, actiontrigger.Config{Collections: exampleCollections(), Logger: quiet})
	_, err := eng.SaveWorkflow(ctx, flow.Workflow{
		Key: "limit", Sync: true, Enabled: true,
		Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{
			{Key: "big", Type: "condition", Config: map[string]any{"engine": "expr", "expression": "$context.data.amount > 500"},
				Branches: map[int][]flow.Node{1: {
					{Key: "say", Type: "response-message", Config: map[string]any{"message": "{{$context.data.title}}: over the limit"}},
					{Key: "stop", Type: "end", Config: map[string]any{"endStatus": -1}},
				}}},
			{Key: "book", Type: "create", Config: map[string]any{"collection": "ledger",
				"params": map[string]any{"values": map[string]any{"title": "{{$context.data.title}}"}}}},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	action := actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: "limit"}
	user := actiontrigger.User{ID: 2, Role: "member"}

	res, err := eng.AfterAction(ctx, action, map[string]any{"id": 1, "title": "Taxi", "amount": 40}, user)
	fmt.Println(res.Executions[0].Status, err)

	_, err = eng.AfterAction(ctx, action, map[string]any{"id": 2, "title": "Flight", "amount": 900}, user)
	var se *actiontrigger.SyncError
	if errors.As(err, &se) {
		fmt.Println(se.Kind, se.Messages[0].Message)
	}
	booked, _ := eng.Records().ListRecords(ctx, "ledger", nil, nil)
	fmt.Println("booked:", len(booked), booked[0]["title"])
	// Output:
	// RESOLVED <nil>
	// rejected Flight: over the limit
	// booked: 1 Taxi
}

// An async local workflow is queued durably before AfterAction returns and runs
// on the engine's workers.
func Example_localAsync() {
	ctx := context.Background()
	eng, _ := actiontrigger.New(ctx, actiontrigger.Config{Collections: exampleCollections(), Logger: quiet})
	_ = eng.Start(ctx)
	defer eng.Stop(ctx)
	_, _ = eng.SaveWorkflow(ctx, flow.Workflow{
		Key: "book", Enabled: true,
		Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{{Key: "book", Type: "create", Config: map[string]any{"collection": "ledger",
			"params": map[string]any{"values": map[string]any{"title": "{{$context.data.title}}", "note": "by {{$context.user.nickname}}"}}}}},
	})
	res, err := eng.AfterAction(ctx, actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: "book"},
		map[string]any{"id": 7, "title": "Books", "amount": 30},
		actiontrigger.User{ID: 3, Fields: map[string]any{"nickname": "mina"}})
	fmt.Println(res.Executions[0].Status, err)

	_ = eng.WaitIdle(ctx)
	x, _ := eng.Execution(ctx, res.Executions[0].ID)
	ledger, _ := eng.Records().ListRecords(ctx, "ledger", nil, nil)
	fmt.Println(x.Status, ledger[0]["title"], ledger[0]["note"])
	// Output:
	// QUEUEING <nil>
	// RESOLVED Books by mina
}

// A global workflow runs on every action its config lists, bound or not.
func Example_globalMode() {
	ctx := context.Background()
	eng, _ := actiontrigger.New(ctx, actiontrigger.Config{Collections: exampleCollections(), Logger: quiet})
	_, _ = eng.SaveWorkflow(ctx, flow.Workflow{
		Key: "audit", Sync: true, Enabled: true,
		Config: flow.TriggerConfig{Collection: "expenses", Global: true, Actions: []string{"update"}},
		Nodes: []flow.Node{{Key: "log", Type: "create", Config: map[string]any{"collection": "ledger",
			"params": map[string]any{"values": map[string]any{"note": "{{$context.data.title}} changed"}}}}},
	})
	user := actiontrigger.User{ID: 1}
	created, _ := eng.AfterAction(ctx, actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate}, map[string]any{"id": 1, "title": "Taxi"}, user)
	updated, _ := eng.AfterAction(ctx, actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionUpdate}, map[string]any{"id": 1, "title": "Taxi (fixed)"}, user)
	fmt.Println("on create:", len(created.Executions), "on update:", len(updated.Executions))
	log, _ := eng.Records().ListRecords(ctx, "ledger", nil, nil)
	fmt.Println(log[0]["note"])
	// Output:
	// on create: 0 on update: 1
	// Taxi (fixed) changed
}

// "key!category" runs a workflow of the categories collection on the category
// the created expense belongs to, loaded through the store.
func Example_associationPath() {
	ctx := context.Background()
	eng, _ := actiontrigger.New(ctx, actiontrigger.Config{Collections: exampleCollections(), Logger: quiet})
	cat, _ := eng.Records().CreateRecord(ctx, "categories", flow.Record{"title": "Travel"})
	_, _ = eng.SaveWorkflow(ctx, flow.Workflow{
		Key: "category-note", Sync: true, Enabled: true,
		Config: flow.TriggerConfig{Collection: "categories"},
		Nodes: []flow.Node{{Key: "note", Type: "create", Config: map[string]any{"collection": "ledger",
			"params": map[string]any{"values": map[string]any{"note": "new spending in {{$context.data.title}}"}}}}},
	})
	res, err := eng.AfterAction(ctx,
		actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: "category-note!category"},
		map[string]any{"id": 1, "title": "Train", "categoryId": cat["id"]}, actiontrigger.User{ID: 1})
	fmt.Println(len(res.Executions), err)
	fmt.Println(res.Executions[0].Context["data"].(map[string]any)["title"])
	// Output:
	// 1 <nil>
	// Travel
}

// A custom node type: register it before creating the engine; it is validated
// when workflows are saved and runs like a built-in.
type shout struct{}

func (shout) Compile(c *nodes.CompileContext, n *flow.Node) (any, error) {
	field, _ := n.Config["field"].(string)
	if field == "" {
		return nil, c.Invalid(n, "config.field", "field is required", nil)
	}
	return field, nil
}

func (shout) Run(_ context.Context, r *nodes.RunContext, _ *flow.Job) (nodes.Result, error) {
	data, _ := r.Scope["$context"].(map[string]any)["data"].(map[string]any)
	v := fmt.Sprint(data[r.Compiled.(string)])
	return nodes.Result{Status: flow.JobResolved, Result: v + "!"}, nil
}

func Example_customNode() {
	ctx := context.Background()
	reg := nodes.DefaultRegistry()
	reg.MustRegister("shout", shout{})
	eng, _ := actiontrigger.New(ctx, actiontrigger.Config{Collections: exampleCollections(), Nodes: reg, Logger: quiet})

	_, err := eng.SaveWorkflow(ctx, flow.Workflow{Key: "bad", Sync: true, Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{{Key: "s", Type: "shout"}}})
	fmt.Println(errors.Is(err, flow.ErrInvalidWorkflow), err)

	_, _ = eng.SaveWorkflow(ctx, flow.Workflow{Key: "loud", Sync: true, Enabled: true, Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{{Key: "s", Type: "shout", Config: map[string]any{"field": "title"}}}})
	res, _ := eng.AfterAction(ctx, actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: "loud"},
		map[string]any{"id": 1, "title": "taxi"}, actiontrigger.User{ID: 1})
	jobs, _ := eng.Jobs(ctx, res.Executions[0].ID)
	fmt.Println(jobs[0].Result)
	// Output:
	// true invalid workflow "bad": node "s": config.field: field is required
	// taxi!
}

// A manual node pauses an async execution until its assignee decides; the
// decision resumes it on a worker.
func Example_approval() {
	ctx := context.Background()
	eng, _ := actiontrigger.New(ctx, actiontrigger.Config{Collections: exampleCollections(), Logger: quiet})
	_ = eng.Start(ctx)
	defer eng.Stop(ctx)
	_, err := eng.SaveWorkflow(ctx, flow.Workflow{
		Key: "approve-big", Enabled: true,
		Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{
			{Key: "manager", Type: "manual", Config: map[string]any{
				"assignees": []any{7},
				"title":     "Approve {{$context.data.title}}",
				"forms": map[string]any{"decision": map[string]any{"actions": []any{
					map[string]any{"key": "approve", "status": 1},
					map[string]any{"key": "reject", "status": -5},
				}}},
			}},
			{Key: "book", Type: "create", Config: map[string]any{"collection": "ledger",
				"params": map[string]any{"values": map[string]any{"title": "{{$context.data.title}}", "note": "approved"}}}},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, _ := eng.AfterAction(ctx, actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: "approve-big"},
		map[string]any{"id": 1, "title": "Flight", "amount": 900}, actiontrigger.User{ID: 3})
	_ = eng.WaitIdle(ctx)

	manager := actiontrigger.User{ID: 7}
	tasks, _ := eng.Tasks(ctx, manager, actiontrigger.TaskFilter{Statuses: []flow.TaskStatus{flow.TaskPending}})
	x, _ := eng.Execution(ctx, res.Executions[0].ID)
	fmt.Println(x.Status, len(tasks), tasks[0].Title)

	_, err = eng.SubmitTask(ctx, tasks[0].ID, actiontrigger.User{ID: 3}, map[string]any{"decision": map[string]any{}, "_": "approve"})
	fmt.Println(errors.Is(err, actiontrigger.ErrForbidden))
	_, err = eng.SubmitTask(ctx, tasks[0].ID, manager, map[string]any{"decision": map[string]any{"comment": "ok"}, "_": "approve"})
	fmt.Println(err)

	_ = eng.WaitIdle(ctx)
	x, _ = eng.Execution(ctx, x.ID)
	ledger, _ := eng.Records().ListRecords(ctx, "ledger", nil, nil)
	fmt.Println(x.Status, ledger[0]["title"], ledger[0]["note"])
	// Output:
	// STARTED 1 Approve Flight
	// true
	// <nil>
	// RESOLVED Flight approved
}
