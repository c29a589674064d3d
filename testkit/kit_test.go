package testkit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/internal/teststores"
	"github.com/actiontrigger/actiontrigger/nodes"
	"github.com/actiontrigger/actiontrigger/testkit"
)

// config is the engine config of these tests. On the default memory store
// it leaves Store nil (the kit's own store); ACTIONTRIGGER_TEST_STORE=sqlite
// or postgres runs them on a fresh store of that adapter.
func config(t *testing.T) actiontrigger.Config {
	cfg := actiontrigger.Config{Collections: []flow.Collection{
		{Name: "posts", Fields: []flow.Field{{Name: "title", Type: flow.FieldString}}},
		{Name: "notes", Fields: []flow.Field{{Name: "title", Type: flow.FieldString}}},
	}}
	if teststores.Kind() != "memory" {
		cfg.Store = teststores.FromEnv(t)
	}
	return cfg
}

func node(key, typ string, cfg map[string]any) flow.Node {
	return flow.Node{Key: key, Type: typ, Config: cfg}
}

func note(key string) flow.Node {
	return node(key, "create", map[string]any{"collection": "notes",
		"params": map[string]any{"values": map[string]any{"title": key}}})
}

// save saves an enabled async workflow of posts.
func save(t *testing.T, kit *testkit.Kit, key string, retry *flow.RetryPolicy, ns ...flow.Node) {
	t.Helper()
	_, err := kit.Engine.SaveWorkflow(t.Context(), flow.Workflow{Key: key, Enabled: true,
		Config: flow.TriggerConfig{Collection: "posts"}, Options: flow.Options{Retry: retry}, Nodes: ns})
	require.NoError(t, err)
}

// trigger creates post id under workflow key and returns the execution's id.
func trigger(t *testing.T, kit *testkit.Kit, key string, id int) string {
	t.Helper()
	res, err := kit.Engine.AfterAction(t.Context(),
		actiontrigger.Action{Collection: "posts", Name: actiontrigger.ActionCreate, TriggerWorkflows: key},
		map[string]any{"id": id, "title": fmt.Sprint("post ", id)}, actiontrigger.User{ID: 1})
	require.NoError(t, err)
	require.Len(t, res.Executions, 1)
	return res.Executions[0].ID
}

func notes(t *testing.T, kit *testkit.Kit) []string {
	t.Helper()
	recs, err := kit.Engine.Records().ListRecords(t.Context(), "notes", nil, nil)
	require.NoError(t, err)
	var out []string
	for _, r := range recs {
		out = append(out, fmt.Sprint(r["title"]))
	}
	return out
}

// fakeTB records what the kit reports; its Fatalf stops the caller with a
// panic that fatal recovers.
type fakeTB struct {
	mu       sync.Mutex
	logs     []string
	cleanups []func()
}

type fatalStop struct{ msg string }

func (*fakeTB) Helper()                           {}
func (f *fakeTB) Cleanup(fn func())               { f.cleanups = append(f.cleanups, fn) }
func (*fakeTB) Fatalf(format string, args ...any) { panic(fatalStop{fmt.Sprintf(format, args...)}) }
func (f *fakeTB) Logf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}

func (f *fakeTB) done() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
	f.cleanups = nil
}

func (f *fakeTB) logged() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.logs, "\n")
}

// fatal runs fn and returns the message of the Fatalf that stopped it, or
// "" when none did.
func fatal(fn func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			s, ok := r.(fatalStop)
			if !ok {
				panic(r)
			}
			msg = s.msg
		}
	}()
	fn()
	return ""
}

func TestNew_ClockIsTheEngines(t *testing.T) {
	kit := testkit.New(t, config(t))
	require.Equal(t, testkit.DefaultStart, kit.Clock.Now())
	save(t, kit, "w", nil, note("n"))
	kit.Clock.Advance(90 * time.Second)
	id := trigger(t, kit, "w", 1)
	require.Equal(t, testkit.DefaultStart.Add(90*time.Second), kit.Execution(id).CreatedAt, "the engine stamps the kit's time")
	require.Equal(t, flow.ExecutionQueueing, kit.Execution(id).Status, "not started: nothing runs in the background")

	at := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	kit2 := testkit.New(t, config(t), testkit.StartAt(at))
	require.Equal(t, at, kit2.Clock.Now())
	kit2.Clock.Set(at.Add(-time.Hour))
	require.Equal(t, at.Add(-time.Hour), kit2.Clock.Now(), "Set moves the clock either way")
}

func TestNew_RefusesWhatItCannotHonour(t *testing.T) {
	cfg := config(t)
	cfg.Now = time.Now
	tb := &fakeTB{}
	defer tb.done()
	require.Contains(t, fatal(func() { testkit.New(tb, cfg) }), "Config.Now is set")

	require.Contains(t, fatal(func() {
		testkit.New(tb, config(t), testkit.Stub("mail"), testkit.Stub("mail", testkit.Return(1)))
	}), `node type "mail" stubbed twice`)
	require.Contains(t, fatal(func() { testkit.New(tb, config(t), testkit.WithNode("mail", nil)) }), `"mail" installed twice, or empty, or nil`)

	bad := config(t)
	bad.Collections = append(bad.Collections, flow.Collection{Name: "posts"})
	require.Contains(t, fatal(func() { testkit.New(tb, bad) }), "new engine")
}

func TestRunUntilIdle_RunsQueuedExecutions(t *testing.T) {
	kit := testkit.New(t, config(t))
	save(t, kit, "w", nil, note("a"), note("b"))
	id1, id2 := trigger(t, kit, "w", 1), trigger(t, kit, "w", 2)
	require.Equal(t, 2, kit.RunUntilIdle())
	for _, id := range []string{id1, id2} {
		kit.RequireStatus(id, flow.ExecutionResolved)
		kit.RequirePath(id, "a", "b")
	}
	require.Equal(t, []string{"a", "b", "a", "b"}, notes(t, kit))
	require.Equal(t, 0, kit.RunUntilIdle(), "nothing left")
}

// A one-hour backoff passes without sleeping: the clock jumps to the timer.
func TestAdvanceToNextTimer_HourLongBackoffTakesNoTime(t *testing.T) {
	began := time.Now()
	kit := testkit.New(t, config(t), testkit.Stub("call", testkit.Fail(errors.New("down")), testkit.Return("ok")))
	save(t, kit, "w", &flow.RetryPolicy{MaxAttempts: 2, InitialInterval: time.Hour.Milliseconds()}, node("c", "call", nil))
	id := trigger(t, kit, "w", 1)

	require.Equal(t, 1, kit.RunUntilIdle())
	kit.RequireStatus(id, flow.ExecutionStarted)
	next, ok := kit.NextTimer()
	require.True(t, ok)
	require.Equal(t, testkit.DefaultStart.Add(time.Hour), next)
	require.Equal(t, flow.JobRetryNeeded, kit.Job(id, "c").Status)
	require.Equal(t, 0, kit.RunUntilIdle(), "the timer has not passed")

	require.True(t, kit.AdvanceToNextTimer())
	require.Equal(t, testkit.DefaultStart.Add(time.Hour), kit.Clock.Now())
	kit.RequireStatus(id, flow.ExecutionResolved)
	calls := kit.Calls("call")
	require.Len(t, calls, 2)
	require.Equal(t, time.Hour, calls[1].Now.Sub(calls[0].Now))

	require.False(t, kit.AdvanceToNextTimer(), "no timer left")
	require.Equal(t, testkit.DefaultStart.Add(time.Hour), kit.Clock.Now(), "the clock stays")
	// Not a performance bound: a test that slept through the hour would
	// hit go test's timeout first; this one names the cause.
	require.Less(t, time.Since(began), time.Minute, "the kit slept")
}

// Advance fires every passed timer at the new reading, as a worker that
// comes late would: the next backoff counts from then.
func TestAdvance_FiresPassedTimersAtTheNewReading(t *testing.T) {
	down := errors.New("down")
	kit := testkit.New(t, config(t), testkit.Stub("call", testkit.Fail(down), testkit.Fail(down), testkit.Return("ok")))
	save(t, kit, "w", &flow.RetryPolicy{MaxAttempts: 3, InitialInterval: time.Minute.Milliseconds()}, node("c", "call", nil))
	id := trigger(t, kit, "w", 1)
	kit.RunUntilIdle()

	require.Equal(t, 0, kit.Advance(30*time.Second), "not due yet")
	require.Equal(t, 1, kit.Advance(10*time.Minute))
	next, ok := kit.NextTimer()
	require.True(t, ok)
	require.Equal(t, testkit.DefaultStart.Add(10*time.Minute+30*time.Second+2*time.Minute), next, "the second backoff (2m) counts from the late run")
	kit.RequireStatus(id, flow.ExecutionStarted)
}

func TestAdvanceToNextTimer_FalseWhenNothingWaitsForATime(t *testing.T) {
	kit := testkit.New(t, config(t))
	require.False(t, kit.AdvanceToNextTimer(), "no executions")

	_, err := kit.Engine.SaveWorkflow(t.Context(), flow.Workflow{Key: "review", Enabled: true,
		Config: flow.TriggerConfig{Collection: "posts"},
		Nodes: []flow.Node{node("m", "manual", map[string]any{"assignees": []any{2},
			"forms": map[string]any{"f": map[string]any{"type": "custom", "actions": []any{map[string]any{"key": "ok", "status": 1}}}}})}})
	require.NoError(t, err)
	id := trigger(t, kit, "review", 1)
	require.False(t, kit.AdvanceToNextTimer(), "paused without deadline or timeout: no timer")
	kit.RequireStatus(id, flow.ExecutionStarted)
	require.Equal(t, testkit.DefaultStart, kit.Clock.Now())
	require.Equal(t, flow.JobPending, kit.Job(id, "m").Status)
}

// The approval flow of docs/testing.md: the test decides the task as the
// manager would, then runs the resumed execution.
func TestApproval_SubmitThenRun(t *testing.T) {
	kit := testkit.New(t, config(t))
	save(t, kit, "review", nil, node("m", "manual", map[string]any{"assignees": []any{2},
		"forms": map[string]any{"decision": map[string]any{"type": "custom", "actions": []any{map[string]any{"key": "approve", "status": 1}}}}}),
		note("book"))
	id := trigger(t, kit, "review", 1)
	kit.RunUntilIdle()
	manager := actiontrigger.User{ID: 2}
	tasks, err := kit.Engine.Tasks(t.Context(), manager, actiontrigger.TaskFilter{Statuses: []flow.TaskStatus{flow.TaskPending}})
	require.NoError(t, err)
	require.Len(t, tasks, 1)
	_, err = kit.Engine.SubmitTask(t.Context(), tasks[0].ID, manager, map[string]any{"decision": map[string]any{}, "_": "approve"})
	require.NoError(t, err)
	kit.RequireStatus(id, flow.ExecutionStarted)
	require.Equal(t, 1, kit.RunUntilIdle())
	kit.RequireStatus(id, flow.ExecutionResolved)
	kit.RequirePath(id, "m", "book")
}

func TestStub_ReplacesARegisteredType(t *testing.T) {
	cfg := config(t)
	reg := nodes.DefaultRegistry()
	builtin, _ := reg.Lookup("create")
	cfg.Nodes = reg
	kit := testkit.New(t, cfg, testkit.Stub("create", testkit.Return("stubbed")))
	save(t, kit, "w", nil, note("n"))
	id := trigger(t, kit, "w", 1)
	kit.RunUntilIdle()
	kit.RequireStatus(id, flow.ExecutionResolved)
	require.Equal(t, "stubbed", kit.Job(id, "n").Result)
	require.Empty(t, notes(t, kit), "the real create did not run")
	require.Len(t, kit.Calls("create"), 1)

	again, _ := reg.Lookup("create")
	require.Equal(t, builtin, again, "the host's registry is not changed")

	// The stub keeps the replaced type's Compile: configs are validated as
	// in production.
	_, err := kit.Engine.SaveWorkflow(t.Context(), flow.Workflow{Key: "bad", Enabled: true,
		Config: flow.TriggerConfig{Collection: "posts"},
		Nodes:  []flow.Node{node("n", "create", map[string]any{"collection": "nope"})}})
	require.ErrorIs(t, err, flow.ErrInvalidWorkflow)
}

// A stub keeps what the replaced type says at save time: whether it can
// pause (a sync workflow refuses it) and whether it is atomic.
func TestStub_KeepsPausingAndAtomicity(t *testing.T) {
	kit := testkit.New(t, config(t),
		testkit.Stub("manual", testkit.Return("approved")),
		testkit.Stub("create"),
		testkit.Stub("call"))
	sync := func(key string, ns ...flow.Node) (*flow.Workflow, error) {
		return kit.Engine.SaveWorkflow(t.Context(), flow.Workflow{Key: key, Enabled: true, Sync: true,
			Config: flow.TriggerConfig{Collection: "posts"}, Nodes: ns})
	}
	_, err := sync("m", node("m", "manual", map[string]any{"assignees": []any{2}}))
	require.ErrorIs(t, err, flow.ErrInvalidWorkflow, "manual can pause: refused in a sync workflow, as in production")
	w, err := sync("a", note("n"))
	require.NoError(t, err)
	require.True(t, w.Atomic, "create is atomic")
	w, err = sync("c", note("n"), node("c", "call", nil))
	require.NoError(t, err)
	require.False(t, w.Atomic, "an added type is not")

	// In an async workflow, the stubbed approval decides at once.
	save(t, kit, "review", nil, node("m", "manual", map[string]any{"assignees": []any{2}}), note("after"))
	id := trigger(t, kit, "review", 1)
	kit.RunUntilIdle()
	kit.RequireStatus(id, flow.ExecutionResolved)
	require.Equal(t, "approved", kit.Job(id, "m").Result)
}

func TestStub_AddsAnUnregisteredTypeAndRepeatsTheLastOutcome(t *testing.T) {
	kit := testkit.New(t, config(t), testkit.Stub("mail", testkit.Fail(errors.New("smtp down")), testkit.Return("sent")))
	save(t, kit, "w", nil, node("m", "mail", map[string]any{"to": "{{$context.data.title}}", "priority": "high"}))
	var ids []string
	for i := 1; i <= 3; i++ {
		ids = append(ids, trigger(t, kit, "w", i))
	}
	kit.RunUntilIdle()
	kit.RequireStatus(ids[0], flow.ExecutionError)
	require.Equal(t, map[string]any{"message": "smtp down"}, kit.Job(ids[0], "m").Result)
	for _, id := range ids[1:] {
		kit.RequireStatus(id, flow.ExecutionResolved)
		require.Equal(t, "sent", kit.Job(id, "m").Result)
	}
	calls := kit.Calls("mail")
	require.Len(t, calls, 3)
	for i, c := range calls {
		require.Equal(t, ids[i], c.ExecutionID, "in run order")
		require.Equal(t, "m", c.NodeKey)
		require.Equal(t, 1, c.Attempt)
		require.Equal(t, map[string]any{"to": "{{$context.data.title}}", "priority": "high"}, c.Config, "the config as saved")
		require.Nil(t, c.Prev, "the first node")
	}
}

func TestStub_RecordsAttemptsKeysAndThePreviousJob(t *testing.T) {
	fail := testkit.Fail(errors.New("busy"))
	kit := testkit.New(t, config(t), testkit.Stub("call", fail, fail, testkit.Return("done")))
	save(t, kit, "w", &flow.RetryPolicy{MaxAttempts: 5, InitialInterval: 1000}, note("before"), node("c", "call", nil))
	id := trigger(t, kit, "w", 1)
	for kit.AdvanceToNextTimer() {
	}
	kit.RequireStatus(id, flow.ExecutionResolved)
	kit.RequirePath(id, "before", "c")
	before := kit.Job(id, "before")
	calls := kit.Calls("call")
	require.Len(t, calls, 3)
	for i, c := range calls {
		require.Equal(t, i+1, c.Attempt)
		require.Equal(t, id+"/c", c.IdempotencyKey)
		require.NotNil(t, c.Prev)
		require.Equal(t, before.ID, c.Prev.ID, "every attempt follows the same job")
	}
	require.Equal(t, []time.Duration{0, time.Second, 3 * time.Second},
		[]time.Duration{calls[0].Now.Sub(testkit.DefaultStart), calls[1].Now.Sub(testkit.DefaultStart), calls[2].Now.Sub(testkit.DefaultStart)})
	require.Len(t, kit.Job(id, "c").Attempts, 2)
}

func TestStub_Outcomes(t *testing.T) {
	var sawAttempt []int
	kit := testkit.New(t, config(t),
		testkit.Stub("reject", testkit.Result(nodes.Rejected("no"))),
		testkit.Stub("permanent", testkit.Fail(nodes.Permanent(errors.New("card declined")))),
		testkit.Stub("snooze", testkit.Fail(nodes.Snooze(time.Hour)), testkit.Return("later")),
		testkit.Stub("do", testkit.Do(func(_ context.Context, r *nodes.RunContext, _ *flow.Job) (nodes.Result, error) {
			sawAttempt = append(sawAttempt, r.Attempt())
			return nodes.Resolved(r.Data().String("title")), nil
		})),
		testkit.Stub("plain"),
		testkit.Stub("nilfail", testkit.Fail(nil)),
	)
	retry := &flow.RetryPolicy{MaxAttempts: 3, InitialInterval: 1000}
	save(t, kit, "reject", nil, node("n", "reject", nil))
	save(t, kit, "permanent", retry, node("n", "permanent", nil))
	save(t, kit, "snooze", retry, node("n", "snooze", nil))
	save(t, kit, "do", nil, node("n", "do", nil))
	save(t, kit, "plain", nil, node("n", "plain", nil), note("after"))
	save(t, kit, "nilfail", nil, node("n", "nilfail", nil))
	ids := map[string]string{}
	for i, k := range []string{"reject", "permanent", "snooze", "do", "plain", "nilfail"} {
		ids[k] = trigger(t, kit, k, i+1)
	}
	for kit.AdvanceToNextTimer() {
	}
	kit.RequireStatus(ids["reject"], flow.ExecutionRejected)
	kit.RequireStatus(ids["permanent"], flow.ExecutionError)
	require.Len(t, kit.Calls("permanent"), 1, "a permanent error is not retried")
	kit.RequireStatus(ids["snooze"], flow.ExecutionResolved)
	j := kit.Job(ids["snooze"], "n")
	require.Equal(t, 1, j.Snoozes)
	require.Empty(t, j.Attempts, "a snooze uses no attempt")
	require.Equal(t, time.Hour, kit.Calls("snooze")[1].Now.Sub(testkit.DefaultStart))
	kit.RequireStatus(ids["do"], flow.ExecutionResolved)
	require.Equal(t, "post 4", kit.Job(ids["do"], "n").Result)
	require.Equal(t, []int{1}, sawAttempt)
	kit.RequireStatus(ids["plain"], flow.ExecutionResolved)
	require.Nil(t, kit.Job(ids["plain"], "n").Result)
	kit.RequireStatus(ids["nilfail"], flow.ExecutionError)
	require.Contains(t, fmt.Sprint(kit.Job(ids["nilfail"], "n").Result), "Fail was given a nil error")
}

// A stub of a branching type keeps its branches, and chooses one.
func TestStub_KeepsBranches(t *testing.T) {
	kit := testkit.New(t, config(t), testkit.Stub("condition", testkit.Result(nodes.Resolved(true).OnBranch(1))))
	save(t, kit, "w", nil,
		flow.Node{Key: "c", Type: "condition", Config: map[string]any{"engine": "expr", "expression": "false"},
			Branches: map[int][]flow.Node{1: {note("yes")}, 0: {note("no")}}},
		note("after"))
	id := trigger(t, kit, "w", 1)
	kit.RunUntilIdle()
	kit.RequirePath(id, "c", "yes", "after")
}

// A stub in a sync workflow runs inline, in AfterAction.
func TestStub_InASyncWorkflow(t *testing.T) {
	kit := testkit.New(t, config(t), testkit.Stub("check", testkit.Result(nodes.Failed("too big"))))
	_, err := kit.Engine.SaveWorkflow(t.Context(), flow.Workflow{Key: "s", Enabled: true, Sync: true,
		Config: flow.TriggerConfig{Collection: "posts"}, Nodes: []flow.Node{node("c", "check", nil)}})
	require.NoError(t, err)
	_, err = kit.Engine.AfterAction(t.Context(),
		actiontrigger.Action{Collection: "posts", Name: actiontrigger.ActionCreate, TriggerWorkflows: "s"},
		map[string]any{"id": 1}, actiontrigger.User{ID: 1})
	var se *actiontrigger.SyncError
	require.ErrorAs(t, err, &se)
	require.Len(t, kit.Calls("check"), 1)
	kit.RequireStatus(se.Execution.ID, flow.ExecutionFailed)
}

// waiter pauses; the test resumes it with Engine.Resume.
type waiter struct{}

func (waiter) Compile(*nodes.CompileContext, *flow.Node) (any, error) { return nil, nil }
func (waiter) CanPause(*flow.Node) bool                               { return true }
func (waiter) Run(context.Context, *nodes.RunContext, *flow.Job) (nodes.Result, error) {
	return nodes.Pending(nil), nil
}

func TestWithNode_InstallsAFake(t *testing.T) {
	kit := testkit.New(t, config(t), testkit.WithNode("webhook", waiter{}))
	save(t, kit, "w", nil, node("hook", "webhook", nil), note("after"))
	id := trigger(t, kit, "w", 1)
	kit.RunUntilIdle()
	kit.RequireStatus(id, flow.ExecutionStarted)
	require.NoError(t, kit.Engine.Resume(t.Context(), kit.Job(id, "hook").ID, flow.JobResolved, "paid"))
	kit.RunUntilIdle()
	kit.RequireStatus(id, flow.ExecutionResolved)
	kit.RequirePath(id, "hook", "after")
}

func TestAssertions_FailWithASummary(t *testing.T) {
	tb := &fakeTB{}
	defer tb.done()
	kit := testkit.New(tb, config(t), testkit.Stub("call", testkit.Fail(errors.New("boom"))))
	save(t, kit, "w", &flow.RetryPolicy{MaxAttempts: 2, InitialInterval: 60000}, note("first"), node("c", "call", nil), note("never"))
	id := trigger(t, kit, "w", 1)
	for kit.AdvanceToNextTimer() {
	}

	msg := fatal(func() { kit.RequireStatus(id, flow.ExecutionResolved) })
	require.Contains(t, msg, "is ERROR, want RESOLVED")
	require.Contains(t, msg, `of workflow "w": ERROR, created +0s, ended +1m0s`)
	require.Contains(t, msg, "  1. first (create): RESOLVED {")
	require.Contains(t, msg, `  2. c (call): ERROR {"message":"boom"}`)
	require.Contains(t, msg, "     attempt 1 failed at +0s: boom\n")
	require.Contains(t, msg, "     attempt 2 failed at +1m0s: boom\n")

	msg = fatal(func() { kit.RequirePath(id, "first", "c", "never") })
	require.Contains(t, msg, `ran ["first" "c"], want ["first" "c" "never"]`)
	require.Contains(t, msg, `  2. c (call): ERROR`)

	require.Contains(t, fatal(func() { kit.Job(id, "never") }), `node "never" has no job`)
	require.Contains(t, fatal(func() { kit.Calls("create") }), `"create" is not stubbed`)
	require.Contains(t, fatal(func() { kit.Execution("nope") }), "execution nope")
	require.Contains(t, kit.Summary("nope"), "not found")
	require.Contains(t, fatal(func() { kit.Advance(-time.Second) }), "only moves forward")
	require.Empty(t, fatal(func() { kit.RequireStatus(id, flow.ExecutionError) }))
}

func TestSummary_ShowsTheTimer(t *testing.T) {
	kit := testkit.New(t, config(t), testkit.Stub("call", testkit.Fail(errors.New("boom"))))
	save(t, kit, "w", &flow.RetryPolicy{MaxAttempts: 2, InitialInterval: 60000}, node("c", "call", nil))
	id := trigger(t, kit, "w", 1)
	require.Contains(t, kit.Summary(id), ": QUEUEING, created +0s, due now; clock +0s\n  no jobs\n")
	kit.RunUntilIdle()
	s := kit.Summary(id)
	require.Contains(t, s, ": STARTED, created +0s, waiting until +1m0s; clock +0s\n")
	require.Contains(t, s, `  1. c (call): RETRY_NEEDED {"message":"boom"}`)
}

func TestLogs_GoToTheTestUntilItsCleanup(t *testing.T) {
	tb := &fakeTB{}
	kit := testkit.New(tb, config(t))
	global := func(key string) {
		_, err := kit.Engine.SaveWorkflow(t.Context(), flow.Workflow{Key: key, Enabled: true,
			Config: flow.TriggerConfig{Collection: "posts", Global: true}, Nodes: []flow.Node{note("n")}})
		require.NoError(t, err)
	}
	global("g1") // a global workflow without actions: the engine warns
	require.Contains(t, tb.logged(), "engine: level=WARN")
	require.NotContains(t, tb.logged(), "time=", "the wall clock is left out")
	tb.done()
	n := len(tb.logs)
	global("g2")
	require.Len(t, tb.logs, n, "dropped after cleanup")

	// A logger of the test's own is used as given.
	var buf strings.Builder
	cfg := config(t)
	cfg.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	tb2 := &fakeTB{}
	defer tb2.done()
	kit = testkit.New(tb2, cfg)
	global("g3")
	require.Empty(t, tb2.logged())
	require.Contains(t, buf.String(), "level=WARN")
}
