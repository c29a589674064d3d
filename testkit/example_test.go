package testkit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/testkit"
)

// exampleT stands in for the *testing.T a test passes to testkit.New: an
// Example gets none. Fatalf panics, which fails the Example.
type exampleT struct{ cleanups []func() }

func (*exampleT) Helper()                      {}
func (*exampleT) Logf(string, ...any)          {}
func (t *exampleT) Cleanup(fn func())          { t.cleanups = append(t.cleanups, fn) }
func (*exampleT) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

// done runs the cleanups, last registered first, as a test's end does.
func (t *exampleT) done() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

func shop() []flow.Collection {
	return []flow.Collection{
		{Name: "orders", Fields: []flow.Field{{Name: "total", Type: flow.FieldNumber}}},
		{Name: "receipts", Fields: []flow.Field{{Name: "orderId", Type: flow.FieldInteger}}},
		{Name: "expenses", Fields: []flow.Field{{Name: "title", Type: flow.FieldString}}},
	}
}

// A node that calls a payment gateway fails twice, then succeeds: the
// workflow's retry policy runs it again after a minute, then after two. The
// stub stands for the gateway; AdvanceToNextTimer fires each backoff on
// time, and the test takes no time at all.
func Example_retry() {
	t := &exampleT{}
	defer t.done()
	down := errors.New("payment gateway down")
	kit := testkit.New(t, actiontrigger.Config{Collections: shop()},
		testkit.Stub("charge", testkit.Fail(down), testkit.Fail(down), testkit.Return(map[string]any{"charged": 42})))

	ctx := context.Background()
	_, err := kit.Engine.SaveWorkflow(ctx, flow.Workflow{
		Key: "checkout", Enabled: true, // async: only async runs are retried
		Config:  flow.TriggerConfig{Collection: "orders"},
		Options: flow.Options{Retry: &flow.RetryPolicy{MaxAttempts: 3, InitialInterval: time.Minute.Milliseconds()}},
		Nodes: []flow.Node{
			{Key: "charge", Type: "charge"},
			{Key: "receipt", Type: "create", Config: map[string]any{"collection": "receipts",
				"params": map[string]any{"values": map[string]any{"orderId": "{{$context.data.id}}"}}}},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := kit.Engine.AfterAction(ctx,
		actiontrigger.Action{Collection: "orders", Name: actiontrigger.ActionCreate, TriggerWorkflows: "checkout"},
		map[string]any{"id": 7, "total": 42}, actiontrigger.User{ID: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	id := res.Executions[0].ID

	kit.RunUntilIdle() // the first attempt fails
	next, _ := kit.NextTimer()
	fmt.Println(kit.Execution(id).Status, "retry in", next.Sub(kit.Clock.Now()))

	for kit.AdvanceToNextTimer() {
	}
	kit.RequireStatus(id, flow.ExecutionResolved)
	kit.RequirePath(id, "charge", "receipt")
	for _, c := range kit.Calls("charge") {
		fmt.Printf("attempt %d at +%s, same key: %v\n", c.Attempt, c.Now.Sub(testkit.DefaultStart), c.IdempotencyKey == id+"/charge")
	}
	fmt.Println(kit.Path(id), len(kit.Job(id, "charge").Attempts), "failed attempts")
	// Output:
	// STARTED retry in 1m0s
	// attempt 1 at +0s, same key: true
	// attempt 2 at +1m0s, same key: true
	// attempt 3 at +3m0s, same key: true
	// [charge receipt] 2 failed attempts
}

// An approval nobody decides: the workflow's options.timeout (a day) aborts
// the paused execution when the clock passes it, and the manual node's open
// task is aborted with it.
func Example_approvalTimeout() {
	t := &exampleT{}
	defer t.done()
	kit := testkit.New(t, actiontrigger.Config{Collections: shop()})

	ctx := context.Background()
	_, err := kit.Engine.SaveWorkflow(ctx, flow.Workflow{
		Key: "review", Enabled: true,
		Config:  flow.TriggerConfig{Collection: "expenses"},
		Options: flow.Options{Timeout: (24 * time.Hour).Milliseconds()},
		Nodes: []flow.Node{{Key: "approve", Type: "manual", Config: map[string]any{
			"assignees": []any{2},
			"forms": map[string]any{"decision": map[string]any{"type": "custom", "actions": []any{
				map[string]any{"key": "approve", "status": 1},
				map[string]any{"key": "reject", "status": -5},
			}}},
		}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := kit.Engine.AfterAction(ctx,
		actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: "review"},
		map[string]any{"id": 1, "title": "Flight"}, actiontrigger.User{ID: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	id := res.Executions[0].ID
	manager := actiontrigger.User{ID: 2}

	kit.RunUntilIdle() // the execution pauses at the approval
	tasks, _ := kit.Engine.Tasks(ctx, manager, actiontrigger.TaskFilter{Statuses: []flow.TaskStatus{flow.TaskPending}})
	fmt.Println(kit.Execution(id).Status, "with", len(tasks), "open task")

	kit.Advance(23 * time.Hour)
	fmt.Println("after 23h:", kit.Execution(id).Status)

	kit.AdvanceToNextTimer() // the timeout
	x := kit.Execution(id)
	fmt.Printf("after %s: %s %s\n", x.EndedAt.Sub(testkit.DefaultStart), x.Status, x.Reason)
	tasks, _ = kit.Engine.Tasks(ctx, manager, actiontrigger.TaskFilter{Statuses: []flow.TaskStatus{flow.TaskAborted}})
	fmt.Println(len(tasks), "aborted task")
	// Output:
	// STARTED with 1 open task
	// after 23h: STARTED
	// after 24h0m0s: ABORTED timeout
	// 1 aborted task
}

// An approval that escalates at its deadline: the manager (user 2) is
// reminded a few hours before it, then, two days after the node ran, their
// task is closed and the director (user 3) gets one, who approves. Reminders
// reach Config.OnTaskReminder; every step fires on the kit's clock.
func Example_approvalEscalates() {
	t := &exampleT{}
	defer t.done()
	kit := testkit.New(t, actiontrigger.Config{Collections: shop(),
		OnTaskReminder: func(_ context.Context, task *flow.Task) {
			fmt.Printf("reminder to user %s\n", task.UserID)
		}})

	ctx := context.Background()
	_, err := kit.Engine.SaveWorkflow(ctx, flow.Workflow{
		Key: "review", Enabled: true,
		Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{{Key: "approve", Type: "manual", Config: map[string]any{
			"assignees": []any{2},
			"forms": map[string]any{"decision": map[string]any{"type": "custom", "actions": []any{
				map[string]any{"key": "approve", "status": 1},
				map[string]any{"key": "reject", "status": -5},
			}}},
			"deadline": map[string]any{
				"after":        (48 * time.Hour).Milliseconds(),
				"remindBefore": (4 * time.Hour).Milliseconds(),
				"action":       "escalate",
				"assignees":    []any{3},
			},
		}}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := kit.Engine.AfterAction(ctx,
		actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: "review"},
		map[string]any{"id": 1, "title": "Flight"}, actiontrigger.User{ID: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	id := res.Executions[0].ID
	pending := func(user int) []*flow.Task {
		tasks, _ := kit.Engine.Tasks(ctx, actiontrigger.User{ID: user}, actiontrigger.TaskFilter{Statuses: []flow.TaskStatus{flow.TaskPending}})
		return tasks
	}
	kit.RunUntilIdle()
	fmt.Println("manager:", len(pending(2)), "open task")

	kit.AdvanceToNextTimer() // the reminder, 44h in
	kit.AdvanceToNextTimer() // the deadline, 48h in
	fmt.Println("manager:", len(pending(2)), "open task; director:", len(pending(3)))

	tasks := pending(3)
	_, err = kit.Engine.SubmitTask(ctx, tasks[0].ID, actiontrigger.User{ID: 3},
		map[string]any{"decision": map[string]any{}, "_": "approve"})
	if err != nil {
		fmt.Println(err)
		return
	}
	kit.RunUntilIdle()
	fmt.Println(kit.Execution(id).Status)
	// Output:
	// manager: 1 open task
	// reminder to user 2
	// manager: 0 open task; director: 1
	// RESOLVED
}
