package actiontrigger_test

// Tests of approval deadlines and reminders (issue 11 item 4): the manual
// node's config.deadline, driven by a fake clock and Engine.RunDue, on the
// store ACTIONTRIGGER_TEST_STORE names.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/internal/teststores"
	"github.com/actiontrigger/actiontrigger/nodes"
	"github.com/actiontrigger/actiontrigger/nodes/nodetest"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/storagetest"
)

// dlStart is the fake clock's start.
var dlStart = time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC)

// dlClock is a fake clock shared by the engines of a test.
type dlClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *dlClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *dlClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// dlReminder is one call of Config.OnTaskReminder.
type dlReminder struct {
	TaskID, UserID string
	At             time.Time
}

// dlReminders records the reminder hook's calls.
type dlReminders struct {
	mu    sync.Mutex
	clock *dlClock
	calls []dlReminder
	// outsideTx counts calls whose ctx carried no unit of work.
	outsideTx int
}

func (r *dlReminders) hook(ctx context.Context, t *flow.Task) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, dlReminder{TaskID: t.ID, UserID: t.UserID, At: r.clock.Now()})
	if _, ok := storage.TxFrom(ctx); !ok {
		r.outsideTx++
	}
}

func (r *dlReminders) list() []dlReminder {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]dlReminder(nil), r.calls...)
}

// dlEnv is an engine that is not started: the test runs the queue with
// RunDue, at the time of its fake clock.
type dlEnv struct {
	t         *testing.T
	ctx       context.Context
	eng       *actiontrigger.Engine
	clock     *dlClock
	reminders *dlReminders
}

var (
	dlUserC = actiontrigger.User{ID: 4, Fields: map[string]any{"nickname": "c"}}
	dlUserD = actiontrigger.User{ID: 5, Fields: map[string]any{"nickname": "d"}}
)

// dlNew returns an engine on store (nil: a fresh one of the test's kind)
// with the clock (nil: a new one at dlStart).
func dlNew(t *testing.T, store storage.Store, clock *dlClock) *dlEnv {
	t.Helper()
	if store == nil {
		store = testStore(t)
	}
	if clock == nil {
		clock = &dlClock{now: dlStart}
	}
	rem := &dlReminders{clock: clock}
	eng, err := actiontrigger.New(context.Background(), actiontrigger.Config{
		Store: store, Collections: storagetest.Collections(), Logger: apprQuiet,
		Nodes: nodetest.Registry(), Now: clock.Now, OnTaskReminder: rem.hook,
	})
	require.NoError(t, err)
	return &dlEnv{t: t, ctx: testCtx(t), eng: eng, clock: clock, reminders: rem}
}

// runDue runs what is due at the clock's time and returns how many runs it made.
func (e *dlEnv) runDue() int {
	e.t.Helper()
	n, err := e.eng.RunDue(e.ctx)
	require.NoError(e.t, err)
	return n
}

// advance moves the clock by d and runs what is due.
func (e *dlEnv) advance(d time.Duration) int {
	e.t.Helper()
	e.clock.Advance(d)
	return e.runDue()
}

func (e *dlEnv) save(nodes ...flow.Node) {
	e.t.Helper()
	_, err := e.eng.SaveWorkflow(e.ctx, flow.Workflow{Key: "w", Enabled: true, Config: flow.TriggerConfig{Collection: "posts"}, Nodes: nodes})
	require.NoError(e.t, err)
}

// trigger creates a post, triggers "w" and runs it to its pause.
func (e *dlEnv) trigger(title string) *flow.Execution {
	e.t.Helper()
	rec, err := e.eng.Records().CreateRecord(e.ctx, "posts", flow.Record{"title": title})
	require.NoError(e.t, err)
	res, err := e.eng.AfterAction(e.ctx, actiontrigger.Action{Collection: "posts", Name: actiontrigger.ActionCreate, TriggerWorkflows: "w"}, rec, apprUserA)
	require.NoError(e.t, err)
	require.Len(e.t, res.Executions, 1)
	e.runDue()
	x := e.exec(res.Executions[0].ID)
	require.Equal(e.t, flow.ExecutionStarted, x.Status, "paused on the manual node")
	return x
}

func (e *dlEnv) exec(id string) *flow.Execution {
	e.t.Helper()
	x, err := e.eng.Execution(e.ctx, id)
	require.NoError(e.t, err)
	return x
}

func (e *dlEnv) jobs(id string) map[string]*flow.Job {
	e.t.Helper()
	list, err := e.eng.Jobs(e.ctx, id)
	require.NoError(e.t, err)
	out := map[string]*flow.Job{}
	for _, j := range list {
		_, dup := out[j.NodeKey]
		require.False(e.t, dup, "node %s ran twice", j.NodeKey)
		out[j.NodeKey] = j
	}
	return out
}

func (e *dlEnv) tasks(id string) []*flow.Task {
	e.t.Helper()
	list, err := e.eng.Store().ListTasks(e.ctx, storage.TaskFilter{ExecutionID: id})
	require.NoError(e.t, err)
	return list
}

// taskStates is "user:status" per task of an execution, oldest first.
func (e *dlEnv) taskStates(id string) []string {
	e.t.Helper()
	var out []string
	for _, t := range e.tasks(id) {
		out = append(out, fmt.Sprintf("%s:%d", t.UserID, int(t.Status)))
	}
	return out
}

// pendingTaskOf is user's PENDING task in an execution.
func (e *dlEnv) pendingTaskOf(id string, u actiontrigger.User) *flow.Task {
	e.t.Helper()
	var found []*flow.Task
	for _, t := range e.tasks(id) {
		if t.UserID == flow.UserKey(u.ID) && t.Status == flow.TaskPending {
			found = append(found, t)
		}
	}
	require.Lenf(e.t, found, 1, "pending tasks of user %v", u.ID)
	return found[0]
}

// dlManual is a manual node "m" on f1 (resolve, reject, save) with a deadline.
func dlManual(assignees []any, mode int, deadline map[string]any) flow.Node {
	n := apprManual(assignees, mode, apprStdForms())
	n.Config["deadline"] = deadline
	return n
}

// dlEcho is a node "after" whose result is the comment of the manual job's
// f1 form.
func dlEcho() flow.Node {
	return flow.Node{Key: "after", Type: "echoVariable", Config: map[string]any{"variable": "{{$jobsMapByNodeKey.m.f1.comment}}"}}
}

const (
	hour = time.Hour
	ms   = time.Millisecond
)

func msOf(d time.Duration) int64 { return d.Milliseconds() }

// ---------------------------------------------------------------------------
// Deadline actions
// ---------------------------------------------------------------------------

func TestDeadlineResolves(t *testing.T) {
	t.Parallel()
	e := dlNew(t, nil, nil)
	e.save(dlManual(apprIDs(2), 0, map[string]any{"after": msOf(hour), "action": "resolve",
		"result": map[string]any{"f1": map[string]any{"comment": "auto: {{$context.data.title}}"}}}), dlEcho())
	x := e.trigger("t1")
	require.True(t, x.Runnable, "waits on a durable timer")
	m := e.jobs(x.ID)["m"]
	require.Equal(t, flow.JobPending, m.Status)
	dl, _ := asJSON(t, m.Meta).(map[string]any)["deadline"].(map[string]any)
	require.Equal(t, dlStart.Add(hour).Format(time.RFC3339Nano), dl["at"], "the deadline counts from the job's creation")

	require.Equal(t, dlStart.Add(hour), x.RunAfter, "the timer is the deadline")
	require.Zero(t, e.advance(hour-time.Nanosecond), "nothing is due before the deadline")
	require.Equal(t, flow.ExecutionStarted, e.exec(x.ID).Status)
	require.Equal(t, []string{"2:0"}, e.taskStates(x.ID))

	require.Equal(t, 1, e.advance(time.Nanosecond))
	require.Equal(t, flow.ExecutionResolved, e.exec(x.ID).Status, "the execution went on past the node")
	js := e.jobs(x.ID)
	require.Equal(t, flow.JobResolved, js["m"].Status)
	require.JSONEq(t, `{"f1": {"comment": "auto: t1"}, "_": "$deadline"}`, apprJSON(t, js["m"].Result))
	require.Equal(t, "auto: t1", js["after"].Result, "the next node reads the deadline's result")
	require.Equal(t, []string{"2:-3"}, e.taskStates(x.ID), "the open task is closed ABORTED")

	_, err := e.eng.SubmitTask(e.ctx, e.tasks(x.ID)[0].ID, apprUserA, apprSub("f1", nil, "resolve"))
	require.ErrorIs(t, err, actiontrigger.ErrInvalidSubmission)
	require.Zero(t, e.advance(24*hour))
}

// A clock between two microseconds (the SQL stores keep microseconds, the
// storage contract milliseconds): the timer is armed on the next whole
// millisecond, so that no claim comes before the deadline. Before the
// executor rounded it up, the claim at the deadline's truncated time found
// nothing due and armed the same timer again, until RunDue gave up
// (executor.ErrRunaway).
func TestDeadlineSubMillisecondClock(t *testing.T) {
	t.Parallel()
	start := dlStart.Add(123456789 * time.Nanosecond)
	e := dlNew(t, nil, &dlClock{now: start})
	e.save(dlManual(apprIDs(2), 0, map[string]any{"after": msOf(hour), "remindBefore": msOf(time.Minute), "action": "resolve"}), dlEcho())
	x := e.trigger("t1")
	remindAt, at := start.Add(hour-time.Minute), start.Add(hour)
	require.Equal(t, remindAt.Truncate(ms).Add(ms), e.exec(x.ID).RunAfter, "the reminder's time, rounded up to a millisecond")
	e.clock.Advance(hour - time.Minute - 500*time.Nanosecond)
	require.Zero(t, e.runDue(), "within the reminder's microsecond, before it")
	require.Empty(t, e.reminders.list())
	e.clock.Advance(500 * time.Nanosecond)
	require.Zero(t, e.runDue(), "the timer is on the next millisecond")
	e.clock.Advance(ms)
	require.Equal(t, 1, e.runDue(), "the reminder, less than a millisecond late")
	require.Len(t, e.reminders.list(), 1)
	require.Equal(t, at.Truncate(ms).Add(ms), e.exec(x.ID).RunAfter)

	e.clock.Advance(at.Sub(e.clock.Now()) - 500*time.Nanosecond)
	require.Zero(t, e.runDue(), "within the deadline's microsecond, before it")
	require.Equal(t, flow.ExecutionStarted, e.exec(x.ID).Status)
	e.clock.Advance(500*time.Nanosecond + ms)
	require.Equal(t, 1, e.runDue())
	require.Equal(t, flow.ExecutionResolved, e.exec(x.ID).Status)
	require.Len(t, e.reminders.list(), 1)
}

func TestDeadlineRejectsKeepingDecidedTasks(t *testing.T) {
	t.Parallel()
	e := dlNew(t, nil, nil)
	e.save(dlManual(apprIDs(2, 3), nodes.ModeAll, map[string]any{"after": msOf(2 * hour), "action": "reject"}), dlEcho())
	x := e.trigger("t1")
	e.clock.Advance(hour)
	e.mustSubmit(e.pendingTaskOf(x.ID, apprUserA).ID, apprUserA, apprSub("f1", map[string]any{"comment": "ok"}, "resolve"))
	require.Zero(t, e.runDue(), "one of two approvals decides nothing in mode 1")

	require.Equal(t, 1, e.advance(hour))
	require.Equal(t, flow.ExecutionRejected, e.exec(x.ID).Status)
	js := e.jobs(x.ID)
	require.Equal(t, flow.JobRejected, js["m"].Status)
	require.JSONEq(t, `{"_": "$deadline"}`, apprJSON(t, js["m"].Result))
	require.NotContains(t, js, "after")
	require.Equal(t, []string{"2:1", "3:-3"}, e.taskStates(x.ID), "the decided task keeps its decision")
}

func (e *dlEnv) mustSubmit(taskID string, u actiontrigger.User, sub map[string]any) {
	e.t.Helper()
	_, err := e.eng.SubmitTask(e.ctx, taskID, u, sub)
	require.NoError(e.t, err)
}

func TestDeadlineEscalates(t *testing.T) {
	t.Parallel()
	e := dlNew(t, nil, nil)
	e.save(dlManual(apprIDs(2), 0, map[string]any{"after": msOf(hour), "action": "escalate", "assignees": []any{"{{$context.data.id}}", 4}}), dlEcho())
	x := e.trigger("t1") // post 1: the escalation goes to users 1 and 4
	old := e.pendingTaskOf(x.ID, apprUserA)

	require.Equal(t, 1, e.advance(hour))
	require.Equal(t, flow.ExecutionStarted, e.exec(x.ID).Status)
	require.Equal(t, flow.JobPending, e.jobs(x.ID)["m"].Status)
	require.Equal(t, []string{"2:-3", "1:0", "4:0"}, e.taskStates(x.ID))
	nt := e.pendingTaskOf(x.ID, dlUserC)
	require.Equal(t, old.Title, nt.Title)
	require.WithinDuration(t, dlStart.Add(hour), nt.CreatedAt, time.Microsecond, "created at the escalation")
	require.False(t, e.exec(x.ID).Runnable, "no deadline after the escalation: no timer")

	_, err := e.eng.SubmitTask(e.ctx, old.ID, apprUserA, apprSub("f1", nil, "resolve"))
	require.ErrorIs(t, err, actiontrigger.ErrInvalidSubmission, "the former assignee's task is closed")
	_, err = e.eng.SubmitTask(e.ctx, nt.ID, apprUserA, apprSub("f1", nil, "resolve"))
	require.ErrorIs(t, err, actiontrigger.ErrForbidden)

	e.mustSubmit(nt.ID, dlUserC, apprSub("f1", map[string]any{"comment": "by c"}, "resolve"))
	require.Equal(t, 1, e.runDue())
	require.Equal(t, flow.ExecutionResolved, e.exec(x.ID).Status)
	js := e.jobs(x.ID)
	require.Equal(t, "by c", js["after"].Result)
	require.Equal(t, []string{"2:-3", "1:0", "4:1"}, e.taskStates(x.ID), "mode 0: the others stay as they are")
}

func TestDeadlineEscalatesThenSecondDeadline(t *testing.T) {
	t.Parallel()
	e := dlNew(t, nil, nil)
	e.save(dlManual(apprIDs(2), 0, map[string]any{
		"after": msOf(hour), "action": "escalate", "assignees": apprIDs(4),
		"then": map[string]any{
			"after": msOf(30 * time.Minute), "action": "escalate", "assignees": apprIDs(5),
			"then": map[string]any{"after": msOf(10 * time.Minute), "action": "resolve", "result": map[string]any{"f1": map[string]any{"comment": "nobody answered"}}},
		},
	}), dlEcho())
	x := e.trigger("t1")
	require.Equal(t, 1, e.advance(hour))
	require.Equal(t, []string{"2:-3", "4:0"}, e.taskStates(x.ID))
	require.Zero(t, e.advance(30*time.Minute-time.Microsecond), "the second deadline counts from the escalation")
	require.Equal(t, 1, e.advance(time.Microsecond))
	require.Equal(t, []string{"2:-3", "4:-3", "5:0"}, e.taskStates(x.ID))
	dl := asJSON(t, e.jobs(x.ID)["m"].Meta).(map[string]any)["deadline"].(map[string]any)
	require.EqualValues(t, 2, dl["round"])
	require.Zero(t, e.advance(10*time.Minute-time.Microsecond))
	require.Equal(t, 1, e.advance(time.Microsecond))
	require.Equal(t, flow.ExecutionResolved, e.exec(x.ID).Status)
	require.Equal(t, "nobody answered", e.jobs(x.ID)["after"].Result)
	require.Equal(t, []string{"2:-3", "4:-3", "5:-3"}, e.taskStates(x.ID))
}

// In mode 1, the escalated round decides alone: the tasks closed by the
// escalation count neither as rejections nor as approvals.
func TestDeadlineEscalatedRoundDecidesByMode(t *testing.T) {
	t.Parallel()
	e := dlNew(t, nil, nil)
	e.save(dlManual(apprIDs(2, 3), nodes.ModeAll, map[string]any{"after": msOf(hour), "action": "escalate", "assignees": apprIDs(4, 5)}), dlEcho())
	x := e.trigger("t1")
	e.mustSubmit(e.pendingTaskOf(x.ID, apprUserA).ID, apprUserA, apprSub("f1", nil, "resolve"))
	require.Equal(t, 1, e.advance(hour))
	require.Equal(t, []string{"2:1", "3:-3", "4:0", "5:0"}, e.taskStates(x.ID))
	require.JSONEq(t, `[]`, apprJSON(t, e.jobs(x.ID)["m"].Result), "the escalated round starts afresh")

	e.mustSubmit(e.pendingTaskOf(x.ID, dlUserC).ID, dlUserC, apprSub("f1", nil, "resolve"))
	require.Zero(t, e.runDue())
	m := e.jobs(x.ID)["m"]
	require.Equal(t, flow.JobPending, m.Status, "one of the two escalated assignees approved")
	require.InDelta(t, 0.5, m.Result, 1e-9, "the share of the round's decided tasks")
	e.mustSubmit(e.pendingTaskOf(x.ID, dlUserD).ID, dlUserD, apprSub("f1", nil, "resolve"))
	require.Equal(t, 1, e.runDue())
	require.Equal(t, flow.ExecutionResolved, e.exec(x.ID).Status)
	require.InDelta(t, 1.0, e.jobs(x.ID)["m"].Result, 1e-9)
}

// An escalation whose assignees render to no one fails the job: the
// execution ends ERROR, saying why.
func TestDeadlineEscalationToNoOne(t *testing.T) {
	t.Parallel()
	e := dlNew(t, nil, nil)
	e.save(dlManual(apprIDs(2), 0, map[string]any{"after": msOf(hour), "action": "escalate", "assignees": []any{"{{$context.data.createdById}}"}}))
	x := e.trigger("t1") // no createdById
	require.Equal(t, 1, e.advance(hour))
	require.Equal(t, flow.ExecutionError, e.exec(x.ID).Status)
	m := e.jobs(x.ID)["m"]
	require.Equal(t, flow.JobError, m.Status)
	require.Contains(t, apprJSON(t, m.Result), "escalation to no one")
	require.Equal(t, []string{"2:-3"}, e.taskStates(x.ID))
}

// ---------------------------------------------------------------------------
// Reminders
// ---------------------------------------------------------------------------

func TestDeadlineReminderOncePerTask(t *testing.T) {
	t.Parallel()
	e := dlNew(t, nil, nil)
	e.save(dlManual(apprIDs(2, 3, 4), nodes.ModeAll, map[string]any{
		"after": msOf(hour), "remindBefore": msOf(15 * time.Minute), "action": "escalate", "assignees": apprIDs(5),
		"then": map[string]any{"after": msOf(hour), "remindBefore": msOf(10 * time.Minute), "action": "reject"},
	}))
	x := e.trigger("t1")
	// User 2 decided before the reminder: only the open tasks are reminded.
	e.mustSubmit(e.pendingTaskOf(x.ID, apprUserA).ID, apprUserA, apprSub("f1", nil, "resolve"))
	// User 3 saved a draft: the task is still open.
	e.mustSubmit(e.pendingTaskOf(x.ID, apprUserB).ID, apprUserB, apprSub("f1", map[string]any{"comment": "draft"}, "save"))
	require.Zero(t, e.advance(45*time.Minute-time.Microsecond))
	require.Empty(t, e.reminders.list(), "not before deadline - remindBefore")

	require.Equal(t, 1, e.advance(time.Microsecond))
	remindAt := dlStart.Add(45 * time.Minute)
	want := []dlReminder{
		{TaskID: e.pendingTaskOf(x.ID, apprUserB).ID, UserID: "3", At: remindAt},
		{TaskID: e.pendingTaskOf(x.ID, dlUserC).ID, UserID: "4", At: remindAt},
	}
	require.ElementsMatch(t, want, e.reminders.list())
	require.Equal(t, flow.JobPending, e.jobs(x.ID)["m"].Status)
	require.Equal(t, flow.ExecutionStarted, e.exec(x.ID).Status)
	require.Zero(t, e.runDue())
	require.Zero(t, e.advance(15*time.Minute-time.Microsecond))
	require.ElementsMatch(t, want, e.reminders.list(), "once per task")

	// The deadline escalates; the escalated round has its own reminder.
	require.Equal(t, 1, e.advance(time.Microsecond))
	require.Len(t, e.reminders.list(), 2)
	require.Zero(t, e.advance(50*time.Minute-time.Microsecond))
	require.Len(t, e.reminders.list(), 2)
	require.Equal(t, 1, e.advance(time.Microsecond))
	calls := e.reminders.list()
	require.Len(t, calls, 3)
	require.Equal(t, dlReminder{TaskID: e.pendingTaskOf(x.ID, dlUserD).ID, UserID: "5", At: dlStart.Add(hour + 50*time.Minute)}, calls[2])
	require.Zero(t, e.runDue())

	require.Equal(t, 1, e.advance(10*time.Minute))
	require.Equal(t, flow.ExecutionRejected, e.exec(x.ID).Status)
	require.Len(t, e.reminders.list(), 3)
	require.Zero(t, e.advance(24*hour))
	require.Len(t, e.reminders.list(), 3)
	require.Zero(t, e.reminders.outsideTx, "the hook runs in the unit of work that records the reminder")
}

func TestDeadlineNoReminderOnceDecided(t *testing.T) {
	t.Parallel()
	e := dlNew(t, nil, nil)
	e.save(dlManual(apprIDs(2, 3), 0, map[string]any{"after": msOf(hour), "remindBefore": msOf(30 * time.Minute), "action": "reject"}), dlEcho())
	x := e.trigger("t1")
	e.clock.Advance(29 * time.Minute)
	e.mustSubmit(e.pendingTaskOf(x.ID, apprUserB).ID, apprUserB, apprSub("f1", map[string]any{"comment": "fine"}, "resolve"))
	require.Equal(t, 1, e.runDue(), "the resume")
	require.Equal(t, flow.ExecutionResolved, e.exec(x.ID).Status)
	before := e.jobs(x.ID)
	require.Zero(t, e.advance(hour), "no timer is left")
	require.Empty(t, e.reminders.list())
	require.Equal(t, before, e.jobs(x.ID))
	require.Equal(t, "fine", before["after"].Result)
}

// dlFailStore fails the next write of a job whose Meta records a reminder,
// failOnce times.
type dlFailStore struct {
	storagetest.RecordsStore
	fail *atomic.Int64
}

func (s *dlFailStore) InTx(ctx context.Context, fn func(ctx context.Context, tx storage.Store) error) error {
	return s.RecordsStore.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
		return fn(ctx, &dlFailStore{RecordsStore: tx.(storagetest.RecordsStore), fail: s.fail})
	})
}

func (s *dlFailStore) UpdateJob(ctx context.Context, j *flow.Job, expect flow.JobStatus) error {
	if dl, _ := j.Meta["deadline"].(map[string]any); dl["reminded"] != nil && s.fail.Add(-1) >= 0 {
		return fmt.Errorf("dl: injected failure: %w", flow.ErrStorage)
	}
	return s.RecordsStore.UpdateJob(ctx, j, expect)
}

// The hook runs inside the unit of work that records the reminder: when
// that fails, nothing is recorded, and the process that claims the
// execution next reminds again (at least once).
func TestDeadlineReminderAtLeastOnce(t *testing.T) {
	t.Parallel()
	fail := &atomic.Int64{}
	e := dlNew(t, &dlFailStore{RecordsStore: testStore(t).(storagetest.RecordsStore), fail: fail}, nil)
	e.save(dlManual(apprIDs(2), 0, map[string]any{"after": msOf(hour), "remindBefore": msOf(time.Minute), "action": "resolve"}), dlEcho())
	x := e.trigger("t1")
	fail.Store(1)
	e.clock.Advance(hour - time.Minute)
	e.runDue() // the run fails: its claim holds until its lease ends
	require.Len(t, e.reminders.list(), 1)
	require.Zero(t, e.advance(time.Second), "the failed claim's lease holds")
	require.Equal(t, 1, e.advance(30*time.Second), "the lease ended: claimed again")
	calls := e.reminders.list()
	require.Len(t, calls, 2, "called again: the first reminder was not recorded")
	require.Equal(t, calls[0].TaskID, calls[1].TaskID)
	require.Zero(t, e.advance(20*time.Second), "recorded: not again before the deadline")
	require.Len(t, e.reminders.list(), 2)
	require.Equal(t, 1, e.advance(9*time.Second), "the deadline")
	require.Equal(t, flow.ExecutionResolved, e.exec(x.ID).Status)
}

// A reminder whose time passed while no process ran (the engine was down
// until after the deadline) is not sent: the deadline acts.
func TestDeadlineLateWakeSkipsReminder(t *testing.T) {
	t.Parallel()
	e := dlNew(t, nil, nil)
	e.save(dlManual(apprIDs(2), 0, map[string]any{"after": msOf(hour), "remindBefore": msOf(30 * time.Minute), "action": "resolve"}), dlEcho())
	x := e.trigger("t1")
	require.Equal(t, 1, e.advance(2*hour))
	require.Equal(t, flow.ExecutionResolved, e.exec(x.ID).Status)
	require.Empty(t, e.reminders.list())
}

// A submission before the deadline leaves nothing for the timer to do.
func TestDeadlineSubmissionFirst(t *testing.T) {
	t.Parallel()
	e := dlNew(t, nil, nil)
	e.save(dlManual(apprIDs(2), 0, map[string]any{"after": msOf(hour), "remindBefore": msOf(time.Minute), "action": "reject"}), dlEcho())
	x := e.trigger("t1")
	e.clock.Advance(hour - time.Second)
	e.mustSubmit(e.pendingTaskOf(x.ID, apprUserA).ID, apprUserA, apprSub("f1", map[string]any{"comment": "in time"}, "resolve"))
	require.Equal(t, 1, e.runDue())
	xs := e.exec(x.ID)
	require.Equal(t, flow.ExecutionResolved, xs.Status)
	before, tasks := e.jobs(x.ID), e.taskStates(x.ID)
	require.Zero(t, e.advance(time.Second))
	require.Zero(t, e.advance(48*hour))
	require.Equal(t, before, e.jobs(x.ID))
	require.Equal(t, tasks, e.taskStates(x.ID))
	require.Equal(t, xs.UpdatedAt, e.exec(x.ID).UpdatedAt)
	require.Equal(t, "in time", before["after"].Result)
	require.Empty(t, e.reminders.list(), "the reminder was due after the decision")
}

// ---------------------------------------------------------------------------
// Several processes, restarts, races
// ---------------------------------------------------------------------------

// dlSharedStore returns a way to open the test's store again, as another
// process would: the same SQLite file or PostgreSQL schema (memory: the same
// store, which one process can share only).
func dlSharedStore(t *testing.T) func() storage.Store {
	t.Helper()
	switch testStoreKind() {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "shared.db")
		return func() storage.Store {
			s, err := durOpen(context.Background(), "sqlite", path)
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		}
	case "postgres":
		dsn := os.Getenv(teststores.EnvPostgresDSN)
		if dsn == "" {
			teststores.Postgres(t) // skips (or fails in CI), saying how to enable it
		}
		admin, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		schema := fmt.Sprintf("at_deadline_%d", time.Now().UnixNano())
		_, err = admin.Exec("CREATE SCHEMA " + schema)
		require.NoError(t, err)
		t.Cleanup(func() {
			_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
			_ = admin.Close()
		})
		u, err := url.Parse(dsn)
		require.NoError(t, err)
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return func() storage.Store {
			s, err := durOpen(context.Background(), "postgres", u.String())
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		}
	default:
		s := testStore(t)
		return func() storage.Store { return s }
	}
}

// Two engines (two processes: their own store connections and lease owners)
// run the queue at the same instants: every reminder is sent once in all,
// and every deadline acts once.
func TestDeadlineTwoEnginesRemindOnce(t *testing.T) {
	t.Parallel()
	open := dlSharedStore(t)
	clock := &dlClock{now: dlStart}
	a, b := dlNew(t, open(), clock), dlNew(t, open(), clock)
	a.save(dlManual(apprIDs(2, 3), nodes.ModeAll, map[string]any{"after": msOf(hour), "remindBefore": msOf(10 * time.Minute), "action": "resolve",
		"result": map[string]any{"f1": map[string]any{"comment": "late"}}}), dlEcho())
	const n = 8
	var ids []string
	for i := range n {
		ids = append(ids, a.trigger(fmt.Sprintf("t%d", i)).ID)
	}
	both := func() {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, e := range []*dlEnv{a, b} {
			wg.Go(func() { _, errs[i] = e.eng.RunDue(e.ctx) })
		}
		wg.Wait()
		require.NoError(t, errors.Join(errs...))
	}
	clock.Advance(50 * time.Minute)
	both()
	both()
	calls := append(a.reminders.list(), b.reminders.list()...)
	require.Len(t, calls, 2*n, "one reminder per task in all")
	seen := map[string]bool{}
	for _, c := range calls {
		require.False(t, seen[c.TaskID], "task %s reminded twice", c.TaskID)
		seen[c.TaskID] = true
	}
	clock.Advance(10 * time.Minute)
	both()
	both()
	for _, id := range ids {
		require.Equal(t, flow.ExecutionResolved, a.exec(id).Status)
		require.Equal(t, "late", a.jobs(id)["after"].Result, "the next node ran once") // jobs fails on a node run twice
	}
	require.Len(t, append(a.reminders.list(), b.reminders.list()...), 2*n)
}

// An engine stops while a deadline is pending; a new one on the same store,
// after the deadline, acts on it.
func TestDeadlineSurvivesRestart(t *testing.T) {
	t.Parallel()
	if testStoreKind() == "memory" {
		t.Skip("a restart needs a durable store: run with ACTIONTRIGGER_TEST_STORE=sqlite or postgres")
	}
	open := dlSharedStore(t)
	clock := &dlClock{now: dlStart}
	first := open()
	a := dlNew(t, first, clock)
	a.save(dlManual(apprIDs(2), 0, map[string]any{"after": msOf(hour), "remindBefore": msOf(time.Minute), "action": "escalate", "assignees": apprIDs(4),
		"then": map[string]any{"after": msOf(hour), "action": "reject"}}), dlEcho())
	x := a.trigger("t1")
	require.NoError(t, a.eng.Stop(a.ctx))
	require.NoError(t, first.(interface{ Close() error }).Close())

	clock.Advance(59 * time.Minute)
	b := dlNew(t, open(), clock)
	require.Equal(t, 1, b.runDue())
	require.Len(t, b.reminders.list(), 1)
	require.Equal(t, 1, b.advance(time.Minute))
	require.Equal(t, []string{"2:-3", "4:0"}, b.taskStates(x.ID))
	require.Equal(t, 1, b.advance(hour))
	require.Equal(t, flow.ExecutionRejected, b.exec(x.ID).Status)
	require.Len(t, b.reminders.list(), 1)
}

// A submission and the deadline's run race at the deadline, many times:
// exactly one of them decides each job, and tasks, job and execution agree
// on which. A random head start for one side or the other makes either
// come first.
func TestDeadlineRacesSubmission(t *testing.T) {
	t.Parallel()
	spy := &apprSpyState{}
	store := &apprSpyStore{RecordsStore: testStore(t).(storagetest.RecordsStore), st: spy}
	e := dlNew(t, store, nil)
	e.save(dlManual(apprIDs(2), 0, map[string]any{"after": msOf(hour), "action": "reject"}), dlEcho())
	const reps = 40
	bySubmission := 0
	for rep := range reps {
		x := e.trigger(fmt.Sprintf("t%d", rep))
		task := e.pendingTaskOf(x.ID, apprUserA)
		e.clock.Advance(hour)
		pause := [2]time.Duration{}
		pause[rep%2] = time.Duration(rand.IntN(400)) * time.Microsecond
		var (
			wg             sync.WaitGroup
			subErr, dueErr error
			start          = make(chan struct{})
		)
		wg.Go(func() {
			<-start
			time.Sleep(pause[0])
			_, subErr = e.eng.SubmitTask(e.ctx, task.ID, apprUserA, apprSub("f1", map[string]any{"comment": "mine"}, "resolve"))
		})
		wg.Go(func() {
			<-start
			time.Sleep(pause[1])
			_, dueErr = e.eng.RunDue(e.ctx)
		})
		close(start)
		wg.Wait()
		require.NoError(t, dueErr)
		e.runDue()
		js := e.jobs(x.ID)
		tasks := e.tasks(x.ID)
		require.Len(t, tasks, 1)
		if subErr == nil {
			bySubmission++
			require.Equal(t, flow.ExecutionResolved, e.exec(x.ID).Status)
			require.Equal(t, flow.JobResolved, js["m"].Status)
			require.Equal(t, flow.TaskResolved, tasks[0].Status)
			require.Equal(t, "mine", js["after"].Result)
		} else {
			require.ErrorIs(t, subErr, actiontrigger.ErrInvalidSubmission)
			require.Equal(t, flow.ExecutionRejected, e.exec(x.ID).Status)
			require.Equal(t, flow.JobRejected, js["m"].Status)
			require.JSONEq(t, `{"_": "$deadline"}`, apprJSON(t, js["m"].Result))
			require.Equal(t, flow.TaskAborted, tasks[0].Status)
			require.NotContains(t, js, "after")
		}
		require.EqualValues(t, rep+1, spy.decided.Load(), "one decision per job")
	}
	t.Logf("%d of %d jobs decided by the submission, the others by the deadline", bySubmission, reps)
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

func TestDeadlineInvalidConfigs(t *testing.T) {
	t.Parallel()
	e := dlNew(t, nil, nil)
	bad := []struct {
		name     string
		deadline any
		field    string
	}{
		{"not an object", 5, "config.deadline"},
		{"unknown key", map[string]any{"after": 1000, "action": "resolve", "remind": 10}, "config.deadline.remind"},
		{"no after", map[string]any{"action": "resolve"}, "config.deadline.after"},
		{"after 0", map[string]any{"after": 0, "action": "resolve"}, "config.deadline.after"},
		{"after negative", map[string]any{"after": -5, "action": "resolve"}, "config.deadline.after"},
		{"after fractional", map[string]any{"after": 1.5, "action": "resolve"}, "config.deadline.after"},
		{"after a string", map[string]any{"after": "1h", "action": "resolve"}, "config.deadline.after"},
		{"then not an object", map[string]any{"after": 1000, "action": "escalate", "assignees": []any{4}, "then": []any{}}, "config.deadline.then"},
		{"after too far", map[string]any{"after": int64(200 * 365 * 24 * 3600 * 1000), "action": "resolve"}, "config.deadline.after"},
		{"no action", map[string]any{"after": 1000}, "config.deadline.action"},
		{"unknown action", map[string]any{"after": 1000, "action": "expire"}, "config.deadline.action"},
		{"remindBefore 0", map[string]any{"after": 1000, "action": "resolve", "remindBefore": 0}, "config.deadline.remindBefore"},
		{"remindBefore = after", map[string]any{"after": 1000, "action": "resolve", "remindBefore": 1000}, "config.deadline.remindBefore"},
		{"remindBefore > after", map[string]any{"after": 1000, "action": "resolve", "remindBefore": 5000}, "config.deadline.remindBefore"},
		{"escalate without assignees", map[string]any{"after": 1000, "action": "escalate"}, "config.deadline.assignees"},
		{"escalate with empty assignees", map[string]any{"after": 1000, "action": "escalate", "assignees": []any{}}, "config.deadline.assignees"},
		{"escalate with result", map[string]any{"after": 1000, "action": "escalate", "assignees": []any{4}, "result": map[string]any{}}, "config.deadline.result"},
		{"bad escalation assignee", map[string]any{"after": 1000, "action": "escalate", "assignees": []any{"{{$context.data.nope}}"}}, "config.deadline.assignees"},
		{"resolve with assignees", map[string]any{"after": 1000, "action": "resolve", "assignees": []any{4}}, "config.deadline.assignees"},
		{"reject with then", map[string]any{"after": 1000, "action": "reject", "then": map[string]any{"after": 1000, "action": "resolve"}}, "config.deadline.then"},
		{"result sets _", map[string]any{"after": 1000, "action": "resolve", "result": map[string]any{"_": "x"}}, "config.deadline.result"},
		{"result reads an unknown field", map[string]any{"after": 1000, "action": "resolve", "result": map[string]any{"f1": map[string]any{"v": "{{$context.data.nope}}"}}}, "config.deadline.result"},
		{"bad then", map[string]any{"after": 1000, "action": "escalate", "assignees": []any{4}, "then": map[string]any{"after": 1000, "action": "escalate"}}, "config.deadline.then.assignees"},
		{"bad then then", map[string]any{"after": 1000, "action": "escalate", "assignees": []any{4}, "then": map[string]any{"after": 1000, "action": "escalate", "assignees": []any{5},
			"then": map[string]any{"after": 1000, "action": "resolve", "remindBefore": 2000}}}, "config.deadline.then.then.remindBefore"},
	}
	for _, c := range bad {
		n := apprManual(apprIDs(2), 0, apprStdForms())
		n.Config["deadline"] = c.deadline
		_, err := e.eng.SaveWorkflow(e.ctx, flow.Workflow{Key: "bad", Enabled: true, Config: flow.TriggerConfig{Collection: "posts"}, Nodes: []flow.Node{n}})
		require.ErrorIs(t, err, flow.ErrInvalidWorkflow, c.name)
		var ve *flow.ValidationError
		require.True(t, errors.As(err, &ve), c.name)
		require.Equal(t, "m", ve.Node, c.name)
		require.Equal(t, c.field, ve.Field, "%s: %v", c.name, err)
	}
	// Valid ones, for contrast.
	for i, d := range []any{
		nil,
		map[string]any{"after": 1000, "action": "resolve"},
		map[string]any{"after": 1000, "action": "reject", "remindBefore": 999, "result": map[string]any{"f1": map[string]any{"why": "{{$context.data.title}}"}}},
		map[string]any{"after": 1000, "action": "escalate", "assignees": []any{4, "{{$context.data.id}}"}, "then": map[string]any{"after": 5, "action": "reject"}},
	} {
		n := apprManual(apprIDs(2), 0, apprStdForms())
		n.Config["deadline"] = d
		_, err := e.eng.SaveWorkflow(e.ctx, flow.Workflow{Key: fmt.Sprintf("good%d", i), Enabled: true, Config: flow.TriggerConfig{Collection: "posts"}, Nodes: []flow.Node{n}})
		require.NoError(t, err, "valid deadline %d", i)
	}
}
