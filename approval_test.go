package actiontrigger_test

// Tests of the manual-approval node through the engine's approval API, ported
// from the reference system's manual-node scenarios (nocobase-behavior.md F.7,
// 70-95) and its rules (D.3, C.6, C.7).
//
// Mapping of the reference's HTTP layer: 401 is actiontrigger.ErrUnauthenticated,
// 403 ErrForbidden, 400 ErrInvalidSubmission (ErrExecutionTimedOut for an
// expired execution), 404 flow.ErrNotFound, 202 a nil error. The reference's
// async collection trigger on posts is an async "action" workflow on posts
// triggered through AfterAction; where the reference sleeps we wait for the
// engine to be idle (bounded polling). Users a and b are 2 and 3.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/memory"
	"github.com/actiontrigger/actiontrigger/storage/storagetest"
)

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

var apprQuiet = slog.New(slog.DiscardHandler)

var (
	apprUserA = actiontrigger.User{ID: 2, Fields: map[string]any{"nickname": "a"}}
	apprUserB = actiontrigger.User{ID: 3, Fields: map[string]any{"nickname": "b"}}
)

// apprSpyState is shared by a spy store and its transaction views.
type apprSpyState struct {
	// failManualDecision makes every write that moves a manual job out of
	// PENDING fail (an injected storage failure).
	failManualDecision atomic.Bool
	// decided counts committed writes that moved a manual job out of PENDING
	// (to anything but ABORTED); resumes counts committed execution updates
	// that queued a resume.
	decided atomic.Int64
	resumes atomic.Int64
}

// apprSpyTx collects the counts of one unit of work until it commits.
type apprSpyTx struct {
	decided, resumes atomic.Int64
}

// apprSpyStore wraps a store to count committed approval decisions and resumes
// and to inject failures; everything else passes through.
type apprSpyStore struct {
	storagetest.RecordsStore
	st *apprSpyState
	tx *apprSpyTx // nil outside InTx
}

func (s *apprSpyStore) InTx(ctx context.Context, fn func(ctx context.Context, tx storage.Store) error) error {
	if s.tx != nil {
		return s.RecordsStore.InTx(ctx, func(ctx context.Context, _ storage.Store) error { return fn(ctx, s) })
	}
	txc := &apprSpyTx{}
	err := s.RecordsStore.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
		return fn(ctx, &apprSpyStore{RecordsStore: tx.(storagetest.RecordsStore), st: s.st, tx: txc})
	})
	if err == nil {
		s.st.decided.Add(txc.decided.Load())
		s.st.resumes.Add(txc.resumes.Load())
	}
	return err
}

func (s *apprSpyStore) UpdateJob(ctx context.Context, j *flow.Job, expect flow.JobStatus) error {
	deciding := j.NodeType == "manual" && expect == flow.JobPending && j.Status != flow.JobPending && j.Status != flow.JobAborted
	if deciding && s.st.failManualDecision.Load() {
		return fmt.Errorf("appr spy: injected failure: %w", flow.ErrStorage)
	}
	if err := s.RecordsStore.UpdateJob(ctx, j, expect); err != nil {
		return err
	}
	if deciding {
		if s.tx != nil {
			s.tx.decided.Add(1)
		} else {
			s.st.decided.Add(1)
		}
	}
	return nil
}

func (s *apprSpyStore) UpdateExecution(ctx context.Context, e *flow.Execution, expect storage.ExecutionExpect) error {
	if err := s.RecordsStore.UpdateExecution(ctx, e, expect); err != nil {
		return err
	}
	if e.ResumeJobID != "" {
		if s.tx != nil {
			s.tx.resumes.Add(1)
		} else {
			s.st.resumes.Add(1)
		}
	}
	return nil
}

// apprEnv is one test's engine, started, with users 2 and 3 (and more on request).
type apprEnv struct {
	t   testing.TB
	ctx context.Context
	eng *actiontrigger.Engine
	spy *apprSpyState
}

type apprOpt func(*actiontrigger.Config)

func apprNew(t testing.TB, opts ...apprOpt) *apprEnv {
	t.Helper()
	ctx := context.Background()
	spy := &apprSpyState{}
	cfg := actiontrigger.Config{
		Store:       &apprSpyStore{RecordsStore: memory.New(), st: spy},
		Collections: storagetest.Collections(),
		Logger:      apprQuiet,
	}
	for _, o := range opts {
		o(&cfg)
	}
	eng, err := actiontrigger.New(ctx, cfg)
	require.NoError(t, err)
	require.NoError(t, eng.Start(ctx))
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = eng.Stop(sctx)
	})
	e := &apprEnv{t: t, ctx: ctx, eng: eng, spy: spy}
	if _, ok := eng.Collection("users"); ok {
		if _, err := eng.Records().GetRecord(ctx, "users", flow.Record{"id": 2}, nil); errors.Is(err, flow.ErrNotFound) {
			e.users(2, 3)
		}
	}
	return e
}

// users creates user records with the given ids.
func (e *apprEnv) users(ids ...int) {
	e.t.Helper()
	for _, id := range ids {
		_, err := e.eng.Records().CreateRecord(e.ctx, "users", flow.Record{"id": id, "nickname": fmt.Sprintf("u%d", id)})
		require.NoError(e.t, err)
	}
}

// save saves an async, enabled workflow on posts.
func (e *apprEnv) save(key string, nodes ...flow.Node) *flow.Workflow {
	e.t.Helper()
	return e.saveWF(flow.Workflow{Key: key, Enabled: true, Config: flow.TriggerConfig{Collection: "posts"}, Nodes: nodes})
}

func (e *apprEnv) saveWF(wf flow.Workflow) *flow.Workflow {
	e.t.Helper()
	saved, err := e.eng.SaveWorkflow(e.ctx, wf)
	require.NoError(e.t, err)
	return saved
}

// idle waits (bounded) for the engine's workers to be idle.
func (e *apprEnv) idle() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	require.NoError(e.t, e.eng.WaitIdle(ctx))
}

// trigger creates a post and triggers workflow key on it as user a; it waits
// for the execution to run (to its end or its first pause) and returns it.
func (e *apprEnv) trigger(key string, post flow.Record) *flow.Execution {
	e.t.Helper()
	return e.triggerOn("posts", key, post, apprUserA)
}

func (e *apprEnv) triggerOn(collection, key string, values flow.Record, user actiontrigger.User) *flow.Execution {
	e.t.Helper()
	rec, err := e.eng.Records().CreateRecord(e.ctx, collection, values)
	require.NoError(e.t, err)
	res, err := e.eng.AfterAction(e.ctx, actiontrigger.Action{Collection: collection, Name: actiontrigger.ActionCreate, TriggerWorkflows: key}, rec, user)
	require.NoError(e.t, err)
	require.Len(e.t, res.Executions, 1)
	id := res.Executions[0].ID
	var x *flow.Execution
	apprEventually(e.t, "execution "+id+" to leave QUEUEING", func() bool {
		e.idle()
		x = e.exec(id)
		return x.Status != flow.ExecutionQueueing
	})
	return x
}

func (e *apprEnv) exec(id string) *flow.Execution {
	e.t.Helper()
	x, err := e.eng.Execution(e.ctx, id)
	require.NoError(e.t, err)
	return x
}

// waitStatus waits (bounded) until execution id has status want.
func (e *apprEnv) waitStatus(id string, want flow.ExecutionStatus) *flow.Execution {
	e.t.Helper()
	var x *flow.Execution
	apprEventually(e.t, fmt.Sprintf("execution %s to be %s", id, want), func() bool {
		e.idle()
		x = e.exec(id)
		return x.Status == want
	})
	return x
}

// stays checks that execution id is still STARTED once the workers are idle.
func (e *apprEnv) stays(id string) {
	e.t.Helper()
	e.idle()
	require.Equal(e.t, flow.ExecutionStarted, e.exec(id).Status)
}

// jobs returns the jobs of an execution by node key (each node ran once in
// these tests, which jobCounts checks where it matters).
func (e *apprEnv) jobs(id string) map[string]*flow.Job {
	e.t.Helper()
	list, err := e.eng.Jobs(e.ctx, id)
	require.NoError(e.t, err)
	out := map[string]*flow.Job{}
	for _, j := range list {
		out[j.NodeKey] = j
	}
	return out
}

func (e *apprEnv) job(id, node string) *flow.Job {
	e.t.Helper()
	j, ok := e.jobs(id)[node]
	require.Truef(e.t, ok, "execution %s has no job of node %q", id, node)
	return j
}

// jobCounts counts the jobs of an execution per node key.
func (e *apprEnv) jobCounts(id string) map[string]int {
	e.t.Helper()
	list, err := e.eng.Jobs(e.ctx, id)
	require.NoError(e.t, err)
	out := map[string]int{}
	for _, j := range list {
		out[j.NodeKey]++
	}
	return out
}

// tasks lists the tasks of an execution, oldest first.
func (e *apprEnv) tasks(executionID string) []*flow.Task {
	e.t.Helper()
	list, err := e.eng.Store().ListTasks(e.ctx, storage.TaskFilter{ExecutionID: executionID})
	require.NoError(e.t, err)
	return list
}

// taskOf returns the single task of user in an execution.
func (e *apprEnv) taskOf(executionID string, user actiontrigger.User) *flow.Task {
	e.t.Helper()
	var found []*flow.Task
	for _, t := range e.tasks(executionID) {
		if t.UserID == flow.UserKey(user.ID) {
			found = append(found, t)
		}
	}
	require.Lenf(e.t, found, 1, "tasks of user %v in execution %s", user.ID, executionID)
	return found[0]
}

func (e *apprEnv) task(id string) *flow.Task {
	e.t.Helper()
	t, err := e.eng.Store().GetTask(e.ctx, id)
	require.NoError(e.t, err)
	return t
}

func (e *apprEnv) submit(taskID string, user actiontrigger.User, sub map[string]any) (*flow.Task, error) {
	return e.eng.SubmitTask(e.ctx, taskID, user, sub)
}

// mustSubmit submits and requires success (202).
func (e *apprEnv) mustSubmit(taskID string, user actiontrigger.User, sub map[string]any) *flow.Task {
	e.t.Helper()
	t, err := e.submit(taskID, user, sub)
	require.NoError(e.t, err)
	require.NotNil(e.t, t)
	return t
}

func (e *apprEnv) records(collection string, f storage.Filter) []flow.Record {
	e.t.Helper()
	list, err := e.eng.Records().ListRecords(e.ctx, collection, f, nil)
	require.NoError(e.t, err)
	return list
}

// apprEventually polls cond every few milliseconds for at most 10 seconds.
func apprEventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// apprJSON renders v as JSON, so results compare regardless of number types.
func apprJSON(t testing.TB, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	return string(raw)
}

// apprSub builds a submission {form: values, "_": action}.
func apprSub(form string, values map[string]any, action string) map[string]any {
	return map[string]any{form: values, "_": action}
}

// Action configs.
func apprResolve(values ...map[string]any) map[string]any { return apprAction("resolve", 1, values) }
func apprReject(values ...map[string]any) map[string]any  { return apprAction("reject", -5, values) }
func apprSave(values ...map[string]any) map[string]any    { return apprAction("save", 0, values) }

func apprAction(key string, status int, values []map[string]any) map[string]any {
	a := map[string]any{"key": key, "status": status}
	if len(values) > 0 {
		a["values"] = values[0]
	}
	return a
}

// apprCustom is a custom form with the given actions.
func apprCustom(actions ...map[string]any) map[string]any {
	list := make([]any, len(actions))
	for i, a := range actions {
		list[i] = a
	}
	return map[string]any{"type": "custom", "actions": list}
}

// apprStdForms is {"f1": custom form with resolve, reject and save}.
func apprStdForms() map[string]any {
	return map[string]any{"f1": apprCustom(apprResolve(), apprReject(), apprSave())}
}

// apprManual is a manual node "m".
func apprManual(assignees []any, mode int, forms map[string]any) flow.Node {
	return flow.Node{Key: "m", Type: "manual", Title: "review", Config: map[string]any{"assignees": assignees, "mode": mode, "forms": forms}}
}

// apprAfter is a downstream node that records that the execution went on.
func apprAfter() flow.Node {
	return flow.Node{Key: "after", Type: "condition", Config: map[string]any{"engine": "expr", "expression": "$jobsMapByNodeKey.m != nil"}}
}

func apprIDs(ids ...int) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// ---------------------------------------------------------------------------
// F.7 scenarios
// ---------------------------------------------------------------------------

// F.7 #70: mode 0, single assignee: 401, 403, 202, job and task resolved with
// the submission, re-submit 400.
func TestApprovalSingleAssigneeResolve(t *testing.T) {
	t.Parallel()
	e := apprNew(t)
	e.save("w", apprManual(apprIDs(2), 0, apprStdForms()))
	x := e.trigger("w", flow.Record{"title": "t1"})

	require.Equal(t, flow.ExecutionStarted, x.Status)
	jobs := e.jobs(x.ID)
	require.Len(t, jobs, 1)
	j := jobs["m"]
	require.NotNil(t, j)
	require.Equal(t, flow.JobPending, j.Status)
	require.Nil(t, j.Result)

	tasks := e.tasks(x.ID)
	require.Len(t, tasks, 1)
	task := tasks[0]
	require.Equal(t, flow.TaskPending, task.Status)
	require.Equal(t, "2", task.UserID)
	require.Equal(t, j.ID, task.JobID)
	require.Equal(t, x.ID, task.ExecutionID)
	require.Equal(t, "w", task.WorkflowKey)
	require.Equal(t, "m", task.NodeKey)
	require.Equal(t, "review", task.Title)

	mine, err := e.eng.Tasks(e.ctx, apprUserA, actiontrigger.TaskFilter{Statuses: []flow.TaskStatus{flow.TaskPending}})
	require.NoError(t, err)
	require.Len(t, mine, 1)
	require.Equal(t, task.ID, mine[0].ID)

	sub := apprSub("f1", map[string]any{"a": 1}, "resolve")
	_, err = e.submit(task.ID, actiontrigger.User{}, sub)
	require.ErrorIs(t, err, actiontrigger.ErrUnauthenticated, "anonymous: 401")
	_, err = e.submit(task.ID, apprUserB, sub)
	require.ErrorIs(t, err, actiontrigger.ErrForbidden, "another user: 403")
	_, err = e.submit("no-such-task", apprUserA, sub)
	require.ErrorIs(t, err, flow.ErrNotFound, "unknown task: 404")
	require.Equal(t, flow.TaskPending, e.task(task.ID).Status, "refused submissions change nothing")

	got := e.mustSubmit(task.ID, apprUserA, sub)
	require.Equal(t, flow.TaskResolved, got.Status)
	require.JSONEq(t, `{"f1":{"a":1},"_":"resolve"}`, apprJSON(t, got.Result))

	e.waitStatus(x.ID, flow.ExecutionResolved)
	j = e.job(x.ID, "m")
	require.Equal(t, flow.JobResolved, j.Status)
	require.JSONEq(t, `{"f1":{"a":1},"_":"resolve"}`, apprJSON(t, j.Result))
	task = e.task(task.ID)
	require.Equal(t, flow.TaskResolved, task.Status)
	require.JSONEq(t, `{"f1":{"a":1},"_":"resolve"}`, apprJSON(t, task.Result))

	_, err = e.submit(task.ID, apprUserA, sub)
	require.ErrorIs(t, err, actiontrigger.ErrInvalidSubmission, "re-submit: 400")
	require.JSONEq(t, `{"f1":{"a":1},"_":"resolve"}`, apprJSON(t, e.task(task.ID).Result))
}

// F.7 #71: mode 0, two assignees: the first to decide (b) decides the job;
// a's later submission is 400.
func TestApprovalModeSingleTwoAssignees(t *testing.T) {
	t.Parallel()
	e := apprNew(t)
	e.save("w", apprManual(apprIDs(2, 3), 0, apprStdForms()))
	x := e.trigger("w", flow.Record{"title": "t1"})
	require.Equal(t, flow.ExecutionStarted, x.Status)
	require.Len(t, e.tasks(x.ID), 2)
	ta, tb := e.taskOf(x.ID, apprUserA), e.taskOf(x.ID, apprUserB)
	require.Equal(t, ta.JobID, tb.JobID)

	// Each assignee can only submit their own task.
	_, err := e.submit(ta.ID, apprUserB, apprSub("f1", map[string]any{"by": "b"}, "resolve"))
	require.ErrorIs(t, err, actiontrigger.ErrForbidden)

	e.mustSubmit(tb.ID, apprUserB, apprSub("f1", map[string]any{"by": "b"}, "resolve"))
	e.waitStatus(x.ID, flow.ExecutionResolved)
	j := e.job(x.ID, "m")
	require.Equal(t, flow.JobResolved, j.Status)
	require.JSONEq(t, `{"f1":{"by":"b"},"_":"resolve"}`, apprJSON(t, j.Result))
	require.Equal(t, flow.TaskResolved, e.task(tb.ID).Status)

	_, err = e.submit(ta.ID, apprUserA, apprSub("f1", map[string]any{"by": "a"}, "resolve"))
	require.ErrorIs(t, err, actiontrigger.ErrInvalidSubmission)
	require.JSONEq(t, `{"f1":{"by":"b"},"_":"resolve"}`, apprJSON(t, e.job(x.ID, "m").Result))
}

// F.7 #72: a mode-0 submission completes the execution; the flow continues
// after the manual node.
func TestApprovalSubmitCompletesExecution(t *testing.T) {
	t.Parallel()
	e := apprNew(t)
	e.save("w", apprManual(apprIDs(2), 0, apprStdForms()), apprAfter())
	x := e.trigger("w", flow.Record{"title": "t1"})
	require.Equal(t, flow.ExecutionStarted, x.Status)
	require.NotContains(t, e.jobs(x.ID), "after", "nothing runs past a pending manual node")

	e.mustSubmit(e.taskOf(x.ID, apprUserA).ID, apprUserA, apprSub("f1", map[string]any{"a": 1}, "resolve"))
	done := e.waitStatus(x.ID, flow.ExecutionResolved)
	require.False(t, done.EndedAt.IsZero())
	j := e.job(x.ID, "m")
	require.Equal(t, flow.JobResolved, j.Status)
	require.JSONEq(t, `{"f1":{"a":1},"_":"resolve"}`, apprJSON(t, j.Result))
	after := e.job(x.ID, "after")
	require.Equal(t, flow.JobResolved, after.Status)
	require.Equal(t, true, after.Result)
	require.Equal(t, map[string]int{"m": 1, "after": 1}, e.jobCounts(x.ID))
}

// apprTwoStep runs one two-assignee scenario: a submits first, b second.
type apprTwoStep struct {
	mode                   int
	first, second          string // action keys of a and b
	afterFirst             flow.ExecutionStatus
	firstJob               flow.JobStatus
	firstRatio             float64
	secondErr              error // expected error of b's submission (nil: accepted)
	afterSecond            flow.ExecutionStatus
	secondJob              flow.JobStatus
	secondRatio            float64
	secondTaskStatusIfDone flow.TaskStatus
}

func apprRunTwoStep(t *testing.T, c apprTwoStep) {
	e := apprNew(t)
	e.save("w", apprManual(apprIDs(2, 3), c.mode, apprStdForms()), apprAfter())
	x := e.trigger("w", flow.Record{"title": "t1"})
	require.Equal(t, flow.ExecutionStarted, x.Status)
	j := e.job(x.ID, "m")
	require.Equal(t, flow.JobPending, j.Status)
	require.JSONEq(t, `[]`, apprJSON(t, j.Result), "modes 1 and -1 start with an empty result")
	ta, tb := e.taskOf(x.ID, apprUserA), e.taskOf(x.ID, apprUserB)

	e.mustSubmit(ta.ID, apprUserA, apprSub("f1", map[string]any{"by": "a"}, c.first))
	if c.afterFirst == flow.ExecutionStarted {
		e.stays(x.ID)
	} else {
		e.waitStatus(x.ID, c.afterFirst)
	}
	j = e.job(x.ID, "m")
	require.Equal(t, c.firstJob, j.Status, "job after the first submission")
	require.InDelta(t, c.firstRatio, j.Result, 1e-9, "job result after the first submission")

	_, err := e.submit(tb.ID, apprUserB, apprSub("f1", map[string]any{"by": "b"}, c.second))
	if c.secondErr != nil {
		require.ErrorIs(t, err, c.secondErr)
		require.Equal(t, flow.TaskPending, e.task(tb.ID).Status, "a refused submission leaves the task as it was")
		j = e.job(x.ID, "m")
		require.Equal(t, c.firstJob, j.Status)
		require.InDelta(t, c.firstRatio, j.Result, 1e-9)
		return
	}
	require.NoError(t, err)
	require.Equal(t, c.secondTaskStatusIfDone, e.task(tb.ID).Status)
	e.waitStatus(x.ID, c.afterSecond)
	j = e.job(x.ID, "m")
	require.Equal(t, c.secondJob, j.Status, "job after the second submission")
	require.InDelta(t, c.secondRatio, j.Result, 1e-9, "job result after the second submission")
	counts := e.jobCounts(x.ID)
	require.Equal(t, 1, counts["m"])
	if c.afterSecond == flow.ExecutionResolved {
		require.Equal(t, 1, counts["after"])
	} else {
		require.Zero(t, counts["after"], "a rejected approval runs nothing downstream")
	}
}

// F.7 #73: mode 1 (all pass), both resolve.
func TestApprovalModeAllBothResolve(t *testing.T) {
	t.Parallel()
	apprRunTwoStep(t, apprTwoStep{mode: 1, first: "resolve", second: "resolve",
		afterFirst: flow.ExecutionStarted, firstJob: flow.JobPending, firstRatio: 0.5,
		afterSecond: flow.ExecutionResolved, secondJob: flow.JobResolved, secondRatio: 1, secondTaskStatusIfDone: flow.TaskResolved})
}

// F.7 #74: mode 1, the first rejects: rejected at once; the second is 400.
func TestApprovalModeAllFirstRejected(t *testing.T) {
	t.Parallel()
	apprRunTwoStep(t, apprTwoStep{mode: 1, first: "reject", second: "resolve",
		afterFirst: flow.ExecutionRejected, firstJob: flow.JobRejected, firstRatio: 0.5,
		secondErr: actiontrigger.ErrInvalidSubmission})
}

// F.7 #75: mode 1, resolve then reject: rejected with ratio 1.
func TestApprovalModeAllLastRejected(t *testing.T) {
	t.Parallel()
	apprRunTwoStep(t, apprTwoStep{mode: 1, first: "resolve", second: "reject",
		afterFirst: flow.ExecutionStarted, firstJob: flow.JobPending, firstRatio: 0.5,
		afterSecond: flow.ExecutionRejected, secondJob: flow.JobRejected, secondRatio: 1, secondTaskStatusIfDone: flow.TaskRejected})
}

// F.7 #76: mode -1 (any passes), the first resolves: resolved at once; the
// second is 400.
func TestApprovalModeAnyFirstResolved(t *testing.T) {
	t.Parallel()
	apprRunTwoStep(t, apprTwoStep{mode: -1, first: "resolve", second: "resolve",
		afterFirst: flow.ExecutionResolved, firstJob: flow.JobResolved, firstRatio: 0.5,
		secondErr: actiontrigger.ErrInvalidSubmission})
}

// F.7 #77: mode -1, reject then resolve: resolved with ratio 1.
func TestApprovalModeAnyRejectThenResolve(t *testing.T) {
	t.Parallel()
	apprRunTwoStep(t, apprTwoStep{mode: -1, first: "reject", second: "resolve",
		afterFirst: flow.ExecutionStarted, firstJob: flow.JobPending, firstRatio: 0.5,
		afterSecond: flow.ExecutionResolved, secondJob: flow.JobResolved, secondRatio: 1, secondTaskStatusIfDone: flow.TaskResolved})
}

// F.7 #78: mode -1, all reject: rejected with ratio 1.
func TestApprovalModeAnyAllRejected(t *testing.T) {
	t.Parallel()
	apprRunTwoStep(t, apprTwoStep{mode: -1, first: "reject", second: "reject",
		afterFirst: flow.ExecutionStarted, firstJob: flow.JobPending, firstRatio: 0.5,
		afterSecond: flow.ExecutionRejected, secondJob: flow.JobRejected, secondRatio: 1, secondTaskStatusIfDone: flow.TaskRejected})
}

// F.7 #79: mode 1 atomicity: a failure while updating the aggregated job rolls
// the task back; concurrent submissions serialise and resume only once.
func TestApprovalModeAllAtomicity(t *testing.T) {
	t.Parallel()
	e := apprNew(t)
	e.save("w", apprManual(apprIDs(2, 3), 1, apprStdForms()), apprAfter())
	x := e.trigger("w", flow.Record{"title": "t1"})
	ta, tb := e.taskOf(x.ID, apprUserA), e.taskOf(x.ID, apprUserB)

	// a's first submission would decide nothing (1 of 2), so inject the
	// failure on the job write at b's: b resolving after a would resolve the job.
	e.mustSubmit(ta.ID, apprUserA, apprSub("f1", map[string]any{"n": 1}, "resolve"))
	e.stays(x.ID)
	require.InDelta(t, 0.5, e.job(x.ID, "m").Result, 1e-9)

	e.spy.failManualDecision.Store(true)
	_, err := e.submit(tb.ID, apprUserB, apprSub("f1", map[string]any{"n": 2}, "resolve"))
	e.spy.failManualDecision.Store(false)
	require.ErrorIs(t, err, flow.ErrStorage, "the storage failure surfaces")
	tbNow := e.task(tb.ID)
	require.Equal(t, flow.TaskPending, tbNow.Status, "the task update rolled back with the job update")
	require.Nil(t, tbNow.Result)
	j := e.job(x.ID, "m")
	require.Equal(t, flow.JobPending, j.Status)
	require.InDelta(t, 0.5, j.Result, 1e-9)
	e.stays(x.ID)
	require.Zero(t, e.spy.decided.Load())
	require.Zero(t, e.spy.resumes.Load())

	// Now b submits from many goroutines at once: one wins, the job is decided
	// once, the execution resumes once.
	const n = 16
	var ok, invalid atomic.Int64
	var other sync.Map
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			_, err := e.eng.SubmitTask(e.ctx, tb.ID, apprUserB, apprSub("f1", map[string]any{"n": i}, "resolve"))
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, actiontrigger.ErrInvalidSubmission):
				invalid.Add(1)
			default:
				other.Store(i, err)
			}
		}(i)
	}
	close(start)
	wg.Wait()
	other.Range(func(k, v any) bool { t.Errorf("submission %v: unexpected error %v", k, v); return true })
	require.EqualValues(t, 1, ok.Load())
	require.EqualValues(t, n-1, invalid.Load())
	e.waitStatus(x.ID, flow.ExecutionResolved)
	j = e.job(x.ID, "m")
	require.Equal(t, flow.JobResolved, j.Status)
	require.InDelta(t, 1.0, j.Result, 1e-9)
	require.Equal(t, map[string]int{"m": 1, "after": 1}, e.jobCounts(x.ID))
	require.EqualValues(t, 1, e.spy.decided.Load())
	require.EqualValues(t, 1, e.spy.resumes.Load())
}

// F.7 #80: a form without actions accepts no submission.
func TestApprovalFormWithoutActions(t *testing.T) {
	t.Parallel()
	e := apprNew(t)
	e.save("w", apprManual(apprIDs(2), 0, map[string]any{"f1": map[string]any{"type": "custom"}}))
	x := e.trigger("w", flow.Record{"title": "t1"})
	task := e.taskOf(x.ID, apprUserA)
	for _, action := range []string{"resolve", "reject", "save"} {
		_, err := e.submit(task.ID, apprUserA, apprSub("f1", map[string]any{"a": 1}, action))
		require.ErrorIs(t, err, actiontrigger.ErrInvalidSubmission, action)
	}
	require.Equal(t, flow.TaskPending, e.task(task.ID).Status)
	require.Equal(t, flow.JobPending, e.job(x.ID, "m").Status)
	e.stays(x.ID)
}

// F.7 #81: a submission must name an action of a submitted form.
func TestApprovalSubmissionWithoutAction(t *testing.T) {
	t.Parallel()
	e := apprNew(t)
	e.save("w", apprManual(apprIDs(2), 0, apprStdForms()))
	x := e.trigger("w", flow.Record{"title": "t1"})
	task := e.taskOf(x.ID, apprUserA)
	bad := map[string]map[string]any{
		"no _":           {"f1": map[string]any{"a": 1}},
		"empty _":        {"f1": map[string]any{"a": 1}, "_": ""},
		"_ not a string": {"f1": map[string]any{"a": 1}, "_": 1},
		"unknown action": {"f1": map[string]any{"a": 1}, "_": "approve"},
		"no form":        {"_": "resolve"},
		"unknown form":   {"f9": map[string]any{"a": 1}, "_": "resolve"},
		"empty":          {},
	}
	for name, sub := range bad {
		_, err := e.submit(task.ID, apprUserA, sub)
		require.ErrorIs(t, err, actiontrigger.ErrInvalidSubmission, name)
	}
	_, err := e.submit(task.ID, apprUserA, nil)
	require.ErrorIs(t, err, actiontrigger.ErrInvalidSubmission, "nil submission")
	got := e.task(task.ID)
	require.Equal(t, flow.TaskPending, got.Status)
	require.Nil(t, got.Result)
	e.stays(x.ID)
	// The task is still submittable.
	e.mustSubmit(task.ID, apprUserA, apprSub("f1", map[string]any{"a": 1}, "resolve"))
	e.waitStatus(x.ID, flow.ExecutionResolved)
}

// F.7 #82: a resolve action's values override the submitted ones.
func TestApprovalResolveValuesOverride(t *testing.T) {
	t.Parallel()
	e := apprNew(t)
	e.save("w", apprManual(apprIDs(2), 0, map[string]any{"f1": apprCustom(apprResolve(map[string]any{"a": 2}))}))
	x := e.trigger("w", flow.Record{"title": "t1"})
	task := e.taskOf(x.ID, apprUserA)
	got := e.mustSubmit(task.ID, apprUserA, apprSub("f1", map[string]any{"a": 1, "keep": "me"}, "resolve"))
	require.JSONEq(t, `{"f1":{"a":2,"keep":"me"},"_":"resolve"}`, apprJSON(t, got.Result))
	e.waitStatus(x.ID, flow.ExecutionResolved)
	j := e.job(x.ID, "m")
	require.Equal(t, flow.JobResolved, j.Status)
	require.JSONEq(t, `{"f1":{"a":2,"keep":"me"},"_":"resolve"}`, apprJSON(t, j.Result))
	require.JSONEq(t, `{"f1":{"a":2,"keep":"me"},"_":"resolve"}`, apprJSON(t, e.task(task.ID).Result))
}

// F.7 #83: a reject action's values override too; the execution is rejected.
func TestApprovalRejectValuesOverride(t *testing.T) {
	t.Parallel()
	e := apprNew(t)
	e.save("w", apprManual(apprIDs(2), 0, map[string]any{"f1": apprCustom(apprReject(map[string]any{"a": 2}))}), apprAfter())
	x := e.trigger("w", flow.Record{"title": "t1"})
	task := e.taskOf(x.ID, apprUserA)
	e.mustSubmit(task.ID, apprUserA, apprSub("f1", map[string]any{"a": 1}, "reject"))
	e.waitStatus(x.ID, flow.ExecutionRejected)
	j := e.job(x.ID, "m")
	require.Equal(t, flow.JobRejected, j.Status)
	require.JSONEq(t, `{"f1":{"a":2},"_":"reject"}`, apprJSON(t, j.Result))
	require.Equal(t, flow.TaskRejected, e.task(task.ID).Status)
	require.NotContains(t, e.jobs(x.ID), "after")
}

// F.7 #84: a save action keeps the submitted values (its values are not
// applied) and keeps the job waiting.
func TestApprovalSaveValuesNotApplied(t *testing.T) {
	t.Parallel()
	e := apprNew(t)
	e.save("w", apprManual(apprIDs(2), 0, map[string]any{"f1": apprCustom(apprSave(map[string]any{"a": 2}), apprResolve())}))
	x := e.trigger("w", flow.Record{"title": "t1"})
	task := e.taskOf(x.ID, apprUserA)
	got := e.mustSubmit(task.ID, apprUserA, apprSub("f1", map[string]any{"a": 1}, "save"))
	require.Equal(t, flow.TaskPending, got.Status)
	e.stays(x.ID)
	j := e.job(x.ID, "m")
	require.Equal(t, flow.JobPending, j.Status)
	require.JSONEq(t, `{"f1":{"a":1},"_":"save"}`, apprJSON(t, j.Result))
	stored := e.task(task.ID)
	require.Equal(t, flow.TaskPending, stored.Status)
	require.JSONEq(t, `{"f1":{"a":1},"_":"save"}`, apprJSON(t, stored.Result))
	require.Zero(t, e.spy.resumes.Load(), "a save resumes nothing")
}

// F.7 #85: action values are templates over $context, currentUser,
// currentRecord and currentTime (and their $user, $nForm, $nDate aliases).
func TestApprovalActionValueTemplates(t *testing.T) {
	t.Parallel()
	e := apprNew(t)
	values := map[string]any{
		"a":  "{{currentUser.id}}",
		"b":  "{{currentRecord.id}}",
		"c":  "{{currentTime}}",
		"d":  "{{$context.data.title}}",
		"e":  "{{$user.nickname}}",
		"f":  "{{$nForm.id}}",
		"g":  "{{$nDate.now}}",
		"by": "user {{currentUser.id}} on {{$context.data.title}}",
	}
	e.save("w", apprManual(apprIDs(2), 0, map[string]any{"f1": apprCustom(apprResolve(values))}))
	x := e.trigger("w", flow.Record{"title": "my post"})
	task := e.taskOf(x.ID, apprUserA)
	// a is submitted as 5 so that currentUser.id (2) visibly replaces it.
	before := time.Now()
	e.mustSubmit(task.ID, apprUserA, apprSub("f1", map[string]any{"a": 5, "id": 3}, "resolve"))
	e.waitStatus(x.ID, flow.ExecutionResolved)
	res, ok := e.job(x.ID, "m").Result.(map[string]any)
	require.True(t, ok)
	require.Equal(t, "resolve", res["_"])
	f1, ok := res["f1"].(map[string]any)
	require.True(t, ok)
	require.EqualValues(t, 2, f1["a"], "currentUser.id")
	require.EqualValues(t, 3, f1["id"])
	require.EqualValues(t, 3, f1["b"], "currentRecord.id")
	require.Equal(t, "my post", f1["d"], "$context.data.title")
	require.Equal(t, "a", f1["e"], "$user.nickname")
	require.EqualValues(t, 3, f1["f"], "$nForm.id")
	require.Equal(t, "user 2 on my post", f1["by"])
	for _, k := range []string{"c", "g"} {
		ts, ok := f1[k].(time.Time)
		require.Truef(t, ok, "%s is %T, want time.Time", k, f1[k])
		require.WithinDuration(t, before, ts, time.Second, k)
	}
}

// Issue 10 item 5: a form action's values see the same scope as the run:
// {{$system.now}} and {{$env...}} render (the submission's scope used to
// lack $system, and the value was stored as null). On every store.
func TestApprovalActionValuesSeeSystemAndEnv(t *testing.T) {
	t.Parallel()
	clock := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	e := apprNew(t, apprOnTestStore(t), func(c *actiontrigger.Config) {
		c.Now = func() time.Time { return clock }
		c.Env = map[string]any{"region": "eu"}
	})
	values := map[string]any{
		"at":     "{{$system.now}}",
		"epoch":  "{{$system.epoch}}",
		"region": "{{$env.region}}",
		"note":   "decided in {{$env.region}}",
	}
	e.save("w", apprManual(apprIDs(2), 0, map[string]any{"f1": apprCustom(apprResolve(values))}), apprAfter())
	x := e.trigger("w", flow.Record{"title": "p"})
	e.mustSubmit(e.taskOf(x.ID, apprUserA).ID, apprUserA, apprSub("f1", map[string]any{}, "resolve"))
	e.waitStatus(x.ID, flow.ExecutionResolved)
	for what, result := range map[string]any{"job": e.job(x.ID, "m").Result, "task": e.taskOf(x.ID, apprUserA).Result} {
		res, ok := result.(map[string]any)
		require.True(t, ok, "%s result is %T", what, result)
		f1, ok := res["f1"].(map[string]any)
		require.True(t, ok, "%s result: %v", what, res)
		require.NotNil(t, f1["at"], "%s: $system.now", what)
		require.Equal(t, apprJSON(t, clock), apprJSON(t, f1["at"]), "%s: $system.now", what)
		require.EqualValues(t, 1605024000, f1["epoch"], "%s: $system.epoch", what)
		require.Equal(t, "eu", f1["region"], "%s: $env.region", what)
		require.Equal(t, "decided in eu", f1["note"], what)
	}
}

// F.7 #86: later nodes read the submitted form through
// $jobsMapByNodeKey.<manual>.f1.
func TestApprovalDownstreamReadsResult(t *testing.T) {
	t.Parallel()
	e := apprNew(t)
	e.save("w",
		apprManual(apprIDs(2), 0, apprStdForms()),
		flow.Node{Key: "calc", Type: "condition", Config: map[string]any{"engine": "expr", "expression": "$jobsMapByNodeKey.m.f1.number + 1"}},
		flow.Node{Key: "copy", Type: "create", Config: map[string]any{"collection": "comments",
			"params": map[string]any{"values": map[string]any{"status": "{{$jobsMapByNodeKey.m.f1.number}}", "content": "n={{$jobsMapByNodeKey.calc}}"}}}},
	)
	x := e.trigger("w", flow.Record{"title": "t1"})
	e.mustSubmit(e.taskOf(x.ID, apprUserA).ID, apprUserA, apprSub("f1", map[string]any{"number": 1}, "resolve"))
	e.waitStatus(x.ID, flow.ExecutionResolved)
	calc := e.job(x.ID, "calc")
	require.Equal(t, flow.JobResolved, calc.Status)
	require.EqualValues(t, 2, calc.Result)
	comments := e.records("comments", nil)
	require.Len(t, comments, 1)
	require.EqualValues(t, 1, comments[0]["status"])
	require.Equal(t, "n=2", comments[0]["content"])
}

// F.7 #87: saves accumulate forms; the final resolve keeps only its own form.
func TestApprovalSaveAccumulatesForms(t *testing.T) {
	t.Parallel()
	e := apprNew(t)
	e.save("w", apprManual(apprIDs(2), 0, map[string]any{
		"f1": apprCustom(apprSave()),
		"f2": apprCustom(apprSave(), apprResolve()),
	}))
	x := e.trigger("w", flow.Record{"title": "t1"})
	task := e.taskOf(x.ID, apprUserA)

	e.mustSubmit(task.ID, apprUserA, apprSub("f1", map[string]any{"number": 1}, "save"))
	e.stays(x.ID)
	require.JSONEq(t, `{"f1":{"number":1},"_":"save"}`, apprJSON(t, e.task(task.ID).Result))
	require.JSONEq(t, `{"f1":{"number":1},"_":"save"}`, apprJSON(t, e.job(x.ID, "m").Result))

	e.mustSubmit(task.ID, apprUserA, apprSub("f2", map[string]any{"number": 2}, "save"))
	e.stays(x.ID)
	both := `{"f1":{"number":1},"f2":{"number":2},"_":"save"}`
	require.JSONEq(t, both, apprJSON(t, e.task(task.ID).Result))
	j := e.job(x.ID, "m")
	require.Equal(t, flow.JobPending, j.Status)
	require.JSONEq(t, both, apprJSON(t, j.Result))

	e.mustSubmit(task.ID, apprUserA, apprSub("f2", map[string]any{"number": 3}, "resolve"))
	e.waitStatus(x.ID, flow.ExecutionResolved)
	j = e.job(x.ID, "m")
	require.Equal(t, flow.JobResolved, j.Status)
	require.JSONEq(t, `{"f2":{"number":3},"_":"resolve"}`, apprJSON(t, j.Result))
	require.JSONEq(t, `{"f2":{"number":3},"_":"resolve"}`, apprJSON(t, e.task(task.ID).Result))
}

// apprCreateForm is a create form on comments with resolve, reject and save.
func apprCreateForm() map[string]any {
	f := apprCustom(apprResolve(), apprReject(), apprSave())
	f["type"] = "create"
	f["collection"] = "comments"
	return map[string]any{"f1": f}
}

// F.7 #88: a create form inserts the submitted values on resolve.
func TestApprovalCreateForm(t *testing.T) {
	t.Parallel()
	e := apprNew(t)
	e.save("w", apprManual(apprIDs(2), 0, apprCreateForm()))
	x := e.trigger("w", flow.Record{"title": "t1"})
	require.Empty(t, e.records("comments", nil))
	e.mustSubmit(e.taskOf(x.ID, apprUserA).ID, apprUserA, apprSub("f1", map[string]any{"status": 1, "content": "looks good"}, "resolve"))
	e.waitStatus(x.ID, flow.ExecutionResolved)
	comments := e.records("comments", nil)
	require.Len(t, comments, 1)
	require.EqualValues(t, 1, comments[0]["status"])
	require.Equal(t, "looks good", comments[0]["content"])
	require.EqualValues(t, 2, comments[0]["createdById"], "the form stamps the submitting user as creator (D.3 step 6)")
}

// F.7 #89: a create form writes nothing on save, and once on resolve. The form
// writes on reject too (D.3 step 6, docs/nodes.md).
func TestApprovalCreateFormSaveThenCommit(t *testing.T) {
	t.Parallel()
	e := apprNew(t)
	e.save("w", apprManual(apprIDs(2), 0, apprCreateForm()))
	x := e.trigger("w", flow.Record{"title": "t1"})
	task := e.taskOf(x.ID, apprUserA)
	e.mustSubmit(task.ID, apprUserA, apprSub("f1", map[string]any{"status": 1}, "save"))
	e.stays(x.ID)
	require.Empty(t, e.records("comments", nil), "save writes no record")
	e.mustSubmit(task.ID, apprUserA, apprSub("f1", map[string]any{"status": 1}, "resolve"))
	e.waitStatus(x.ID, flow.ExecutionResolved)
	require.Len(t, e.records("comments", nil), 1)

	y := e.trigger("w", flow.Record{"title": "t2"})
	e.mustSubmit(e.taskOf(y.ID, apprUserA).ID, apprUserA, apprSub("f1", map[string]any{"status": -1}, "reject"))
	e.waitStatus(y.ID, flow.ExecutionRejected)
	require.Len(t, e.records("comments", storage.Filter{"status": -1}), 1, "a rejecting create form writes too")
	require.Len(t, e.records("comments", nil), 2)
}

// F.7 #90: an update form updates the records its rendered filter selects.
func TestApprovalUpdateForm(t *testing.T) {
	t.Parallel()
	e := apprNew(t)
	f := apprCustom(apprResolve())
	f["type"] = "update"
	f["collection"] = "posts"
	f["filter"] = map[string]any{"id": "{{$context.data.id}}"}
	e.save("w", apprManual(apprIDs(2), 0, map[string]any{"f1": f}))
	other, err := e.eng.Records().CreateRecord(e.ctx, "posts", flow.Record{"title": "t1"})
	require.NoError(t, err)
	x := e.trigger("w", flow.Record{"title": "t1"})
	postID := x.Context["data"].(map[string]any)["id"]
	require.NotNil(t, postID)

	e.mustSubmit(e.taskOf(x.ID, apprUserA).ID, apprUserA, apprSub("f1", map[string]any{"title": "t2"}, "resolve"))
	e.waitStatus(x.ID, flow.ExecutionResolved)
	post, err := e.eng.Records().GetRecord(e.ctx, "posts", flow.Record{"id": postID}, nil)
	require.NoError(t, err)
	require.Equal(t, "t2", post["title"])
	untouched, err := e.eng.Records().GetRecord(e.ctx, "posts", flow.Record{"id": other["id"]}, nil)
	require.NoError(t, err)
	require.Equal(t, "t1", untouched["title"], "only the filtered record changes")
}

// F.7 #91: no assignees (also after rendering): resolved at once, no task.
func TestApprovalEmptyAssignees(t *testing.T) {
	t.Parallel()
	for name, assignees := range map[string][]any{
		"none":            {},
		"nil":             nil,
		"renders to none": {"{{$context.data.updatedById}}", "", 0, nil},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := apprNew(t)
			e.save("w", apprManual(assignees, 0, apprStdForms()), apprAfter())
			x := e.trigger("w", flow.Record{"title": "t1"})
			x = e.waitStatus(x.ID, flow.ExecutionResolved)
			j := e.job(x.ID, "m")
			require.Equal(t, flow.JobResolved, j.Status)
			require.Empty(t, e.tasks(x.ID))
			require.Equal(t, map[string]int{"m": 1, "after": 1}, e.jobCounts(x.ID))
		})
	}
}

// F.7 #92: assignees from a nested-array template over appended associations;
// then the 401/403/202/400 sequence of #70.
func TestApprovalNestedAssigneeTemplate(t *testing.T) {
	t.Parallel()
	e := apprNew(t)
	e.saveWF(flow.Workflow{Key: "w", Enabled: true,
		Config: flow.TriggerConfig{Collection: "posts", Appends: []string{"category", "category.posts"}},
		Nodes:  []flow.Node{apprManual([]any{"{{$context.data.category.posts.createdById}}"}, 0, apprStdForms())}})
	cat, err := e.eng.Records().CreateRecord(e.ctx, "categories", flow.Record{"title": "c1"})
	require.NoError(t, err)
	_, err = e.eng.Records().CreateRecord(e.ctx, "posts", flow.Record{"title": "p0", "categoryId": cat["id"], "createdById": 2})
	require.NoError(t, err)
	x := e.trigger("w", flow.Record{"title": "p1", "categoryId": cat["id"], "createdById": 2})
	require.Equal(t, flow.ExecutionStarted, x.Status)

	tasks := e.tasks(x.ID)
	require.Len(t, tasks, 1, "both posts' author is a: one task after de-duplication")
	task := tasks[0]
	require.Equal(t, "2", task.UserID)

	sub := apprSub("f1", map[string]any{"a": 1}, "resolve")
	_, err = e.submit(task.ID, actiontrigger.User{}, sub)
	require.ErrorIs(t, err, actiontrigger.ErrUnauthenticated)
	_, err = e.submit(task.ID, apprUserB, sub)
	require.ErrorIs(t, err, actiontrigger.ErrForbidden)
	e.mustSubmit(task.ID, apprUserA, sub)
	e.waitStatus(x.ID, flow.ExecutionResolved)
	require.JSONEq(t, `{"f1":{"a":1},"_":"resolve"}`, apprJSON(t, e.job(x.ID, "m").Result))
	_, err = e.submit(task.ID, apprUserA, sub)
	require.ErrorIs(t, err, actiontrigger.ErrInvalidSubmission)
}

// Assignee ids are flattened and de-duplicated across ids and templates and
// across number types: 2, "2" and the template for user a give one task.
func TestApprovalAssigneesFlattenedAndDeduplicated(t *testing.T) {
	t.Parallel()
	e := apprNew(t)
	e.save("w", apprManual([]any{2, "2", "{{$context.user.id}}", []any{3, []any{"3"}}, "{{$context.data.createdById}}"}, 1, apprStdForms()))
	x := e.trigger("w", flow.Record{"title": "t1", "createdById": 3})
	tasks := e.tasks(x.ID)
	require.Len(t, tasks, 2)
	users := []string{tasks[0].UserID, tasks[1].UserID}
	require.ElementsMatch(t, []string{"2", "3"}, users)
	// int64 and float64 ids name the same user.
	e.mustSubmit(e.taskOf(x.ID, apprUserA).ID, actiontrigger.User{ID: int64(2)}, apprSub("f1", map[string]any{}, "resolve"))
	e.mustSubmit(e.taskOf(x.ID, apprUserB).ID, actiontrigger.User{ID: 3.0}, apprSub("f1", map[string]any{}, "resolve"))
	e.waitStatus(x.ID, flow.ExecutionResolved)
}

// F.7 #93: canceling a waiting execution aborts its job and tasks.
func TestApprovalCancelAbortsTasks(t *testing.T) {
	t.Parallel()
	e := apprNew(t)
	e.save("w", apprManual(apprIDs(2, 3), 1, apprStdForms()), apprAfter())
	x := e.trigger("w", flow.Record{"title": "t1"})
	ta := e.taskOf(x.ID, apprUserA)
	e.mustSubmit(ta.ID, apprUserA, apprSub("f1", map[string]any{}, "resolve"))
	e.stays(x.ID)

	require.NoError(t, e.eng.CancelExecution(e.ctx, x.ID))
	got := e.exec(x.ID)
	require.Equal(t, flow.ExecutionAborted, got.Status)
	require.Equal(t, flow.ReasonManualCancel, got.Reason)
	require.Equal(t, flow.JobAborted, e.job(x.ID, "m").Status)
	tb := e.taskOf(x.ID, apprUserB)
	require.Equal(t, flow.TaskAborted, tb.Status)
	require.Equal(t, flow.TaskResolved, e.task(ta.ID).Status, "a decided task keeps its decision")
	pending, err := e.eng.Tasks(e.ctx, apprUserB, actiontrigger.TaskFilter{Statuses: []flow.TaskStatus{flow.TaskPending}})
	require.NoError(t, err)
	require.Empty(t, pending, "no pending task left")

	_, err = e.submit(tb.ID, apprUserB, apprSub("f1", map[string]any{}, "resolve"))
	require.ErrorIs(t, err, actiontrigger.ErrInvalidSubmission)
	require.ErrorIs(t, e.eng.CancelExecution(e.ctx, x.ID), actiontrigger.ErrExecutionEnded)
	require.ErrorIs(t, e.eng.CancelExecution(e.ctx, "no-such-execution"), flow.ErrNotFound)
	e.idle()
	require.Equal(t, flow.ExecutionAborted, e.exec(x.ID).Status)
	require.NotContains(t, e.jobs(x.ID), "after")
}

// F.7 #94: options.timeout aborts a waiting execution and its task.
func TestApprovalTimeoutAbortsExecution(t *testing.T) {
	t.Parallel()
	e := apprNew(t)
	e.saveWF(flow.Workflow{Key: "w", Enabled: true, Config: flow.TriggerConfig{Collection: "posts"},
		Options: flow.Options{Timeout: 500},
		Nodes:   []flow.Node{apprManual(apprIDs(2), 0, apprStdForms()), apprAfter()}})
	x := e.trigger("w", flow.Record{"title": "t1"})
	require.Equal(t, flow.ExecutionStarted, x.Status)
	require.False(t, x.ExpiresAt.IsZero())
	task := e.taskOf(x.ID, apprUserA)
	require.Equal(t, flow.TaskPending, task.Status)

	got := e.waitStatus(x.ID, flow.ExecutionAborted)
	require.Equal(t, flow.ReasonTimeout, got.Reason)
	require.Equal(t, flow.JobAborted, e.job(x.ID, "m").Status)
	require.Equal(t, flow.TaskAborted, e.task(task.ID).Status)
	require.NotContains(t, e.jobs(x.ID), "after")

	_, err := e.submit(task.ID, apprUserA, apprSub("f1", map[string]any{}, "resolve"))
	require.Error(t, err)
	require.Truef(t, errors.Is(err, actiontrigger.ErrInvalidSubmission) || errors.Is(err, actiontrigger.ErrExecutionTimedOut),
		"submission to a timed-out execution: want a 400 error, got %v", err)
	require.Equal(t, flow.TaskAborted, e.task(task.ID).Status)
}

// apprClock is a settable clock for Config.Now.
type apprClock struct{ offset atomic.Int64 }

func (c *apprClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *apprClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// C.7: submitting a task of an execution past its timeout (before the timer
// fired) is "Execution timed out" (400), and aborts the execution.
func TestApprovalSubmitExpiredExecution(t *testing.T) {
	t.Parallel()
	clock := &apprClock{}
	e := apprNew(t, func(c *actiontrigger.Config) { c.Now = clock.Now })
	e.saveWF(flow.Workflow{Key: "w", Enabled: true, Config: flow.TriggerConfig{Collection: "posts"},
		Options: flow.Options{Timeout: int64(time.Hour / time.Millisecond)},
		Nodes:   []flow.Node{apprManual(apprIDs(2), 0, apprStdForms()), apprAfter()}})
	x := e.trigger("w", flow.Record{"title": "t1"})
	require.Equal(t, flow.ExecutionStarted, x.Status)
	task := e.taskOf(x.ID, apprUserA)

	clock.Advance(2 * time.Hour)
	_, err := e.submit(task.ID, apprUserA, apprSub("f1", map[string]any{"a": 1}, "resolve"))
	require.ErrorIs(t, err, actiontrigger.ErrExecutionTimedOut)

	got := e.exec(x.ID)
	require.Equal(t, flow.ExecutionAborted, got.Status)
	require.Equal(t, flow.ReasonTimeout, got.Reason)
	require.Equal(t, flow.JobAborted, e.job(x.ID, "m").Status)
	stored := e.task(task.ID)
	require.Equal(t, flow.TaskAborted, stored.Status)
	require.Nil(t, stored.Result, "the submission was not recorded")
	e.idle()
	require.NotContains(t, e.jobs(x.ID), "after")
	_, err = e.submit(task.ID, apprUserA, apprSub("f1", map[string]any{"a": 1}, "resolve"))
	require.Error(t, err)
}

// F.7 #95, adapted: the reference submits manual jobs of parallel branches
// concurrently; we have no parallel node, so two executions, each paused at a
// manual node, are submitted at the same time. Both resume and complete.
func TestApprovalConcurrentExecutions(t *testing.T) {
	t.Parallel()
	e := apprNew(t, apprOnTestStore(t))
	e.save("w", apprManual(apprIDs(2), 0, apprStdForms()), apprAfter())
	x1 := e.trigger("w", flow.Record{"title": "t1"})
	x2 := e.trigger("w", flow.Record{"title": "t2"})
	t1, t2 := e.taskOf(x1.ID, apprUserA), e.taskOf(x2.ID, apprUserA)
	require.NotEqual(t, t1.JobID, t2.JobID)

	errs := make([]error, 2)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, id := range []string{t1.ID, t2.ID} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = e.eng.SubmitTask(e.ctx, id, apprUserA, apprSub("f1", map[string]any{"i": i}, "resolve"))
		}()
	}
	close(start)
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	for i, x := range []*flow.Execution{x1, x2} {
		e.waitStatus(x.ID, flow.ExecutionResolved)
		j := e.job(x.ID, "m")
		require.Equal(t, flow.JobResolved, j.Status)
		require.JSONEq(t, fmt.Sprintf(`{"f1":{"i":%d},"_":"resolve"}`, i), apprJSON(t, j.Result))
		require.Equal(t, map[string]int{"m": 1, "after": 1}, e.jobCounts(x.ID))
	}
	require.EqualValues(t, 2, e.spy.resumes.Load())
}

// C.6/C.7: a cancel racing a submission: whichever commits first wins, and the
// outcome is consistent (never both a resumed run and an abort, never a run of
// the downstream node after an abort).
func TestApprovalCancelRacesSubmit(t *testing.T) {
	t.Parallel()
	e := apprNew(t, apprOnTestStore(t))
	e.save("w", apprManual(apprIDs(2), 0, apprStdForms()), apprAfter())
	for round := 0; round < 20; round++ {
		x := e.trigger("w", flow.Record{"title": fmt.Sprint(round)})
		task := e.taskOf(x.ID, apprUserA)
		var subErr, cancelErr error
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			_, subErr = e.eng.SubmitTask(e.ctx, task.ID, apprUserA, apprSub("f1", map[string]any{}, "resolve"))
		}()
		go func() {
			defer wg.Done()
			<-start
			cancelErr = e.eng.CancelExecution(e.ctx, x.ID)
		}()
		close(start)
		wg.Wait()
		if subErr != nil {
			require.ErrorIs(t, subErr, actiontrigger.ErrInvalidSubmission, "round %d", round)
		}
		if cancelErr != nil {
			require.ErrorIs(t, cancelErr, actiontrigger.ErrExecutionEnded, "round %d", round)
			require.NoError(t, subErr, "round %d: something ended the execution", round)
		}
		e.idle()
		var final *flow.Execution
		apprEventually(t, "the execution to end", func() bool {
			e.idle()
			final = e.exec(x.ID)
			return final.Status.Ended()
		})
		counts := e.jobCounts(x.ID)
		require.Equal(t, 1, counts["m"], "round %d", round)
		switch {
		case cancelErr == nil:
			require.Equal(t, flow.ExecutionAborted, final.Status, "round %d", round)
			require.Equal(t, flow.ReasonManualCancel, final.Reason)
			require.Zero(t, counts["after"], "round %d: nothing runs after an abort", round)
			require.NotEqual(t, flow.TaskPending, e.task(task.ID).Status)
		default:
			require.Equal(t, flow.ExecutionResolved, final.Status, "round %d", round)
			require.Equal(t, 1, counts["after"], "round %d", round)
			require.Equal(t, flow.TaskResolved, e.task(task.ID).Status)
		}
	}
}

// C.6: a paused execution is state in the store: another engine on the same
// store (a restarted process) takes the submission and resumes it.
func TestApprovalResumeOnAnotherEngine(t *testing.T) {
	t.Parallel()
	store := &apprSpyStore{RecordsStore: memory.New(), st: &apprSpyState{}}
	useStore := func(c *actiontrigger.Config) { c.Store = store }
	e1 := apprNew(t, useStore)
	e1.save("w", apprManual(apprIDs(2), 0, apprStdForms()), apprAfter())
	x := e1.trigger("w", flow.Record{"title": "t1"})
	require.Equal(t, flow.ExecutionStarted, x.Status)
	task := e1.taskOf(x.ID, apprUserA)
	require.NoError(t, e1.eng.Stop(e1.ctx))

	e2 := apprNew(t, useStore)
	mine, err := e2.eng.Tasks(e2.ctx, apprUserA, actiontrigger.TaskFilter{Statuses: []flow.TaskStatus{flow.TaskPending}})
	require.NoError(t, err)
	require.Len(t, mine, 1)
	require.Equal(t, task.ID, mine[0].ID)
	e2.mustSubmit(task.ID, apprUserA, apprSub("f1", map[string]any{"a": 1}, "resolve"))
	e2.waitStatus(x.ID, flow.ExecutionResolved)
	require.Equal(t, map[string]int{"m": 1, "after": 1}, e2.jobCounts(x.ID))
}

// A paused execution finishes on the workflow version it started with, even
// after a new version is enabled or the workflow is disabled.
func TestApprovalResumeKeepsWorkflowVersion(t *testing.T) {
	t.Parallel()
	e := apprNew(t)
	v1 := e.save("w", apprManual(apprIDs(2), 0, apprStdForms()), apprAfter())
	x := e.trigger("w", flow.Record{"title": "t1"})
	require.Equal(t, v1.ID, x.WorkflowID)

	v2, err := e.eng.Revise(e.ctx, "w")
	require.NoError(t, err)
	v2.Nodes = []flow.Node{apprManual(apprIDs(3), 0, apprStdForms()),
		{Key: "after2", Type: "condition", Config: map[string]any{"engine": "expr", "expression": "true"}}}
	v2.Enabled = true
	_, err = e.eng.SaveWorkflow(e.ctx, *v2)
	require.NoError(t, err)
	y := e.trigger("w", flow.Record{"title": "t2"})
	require.Equal(t, v2.ID, y.WorkflowID)
	require.NoError(t, e.eng.Disable(e.ctx, "w"))

	// v1's task is still a's (v2 assigns b), and v1's downstream node runs.
	_, err = e.submit(e.taskOf(x.ID, apprUserA).ID, apprUserB, apprSub("f1", map[string]any{}, "resolve"))
	require.ErrorIs(t, err, actiontrigger.ErrForbidden)
	e.mustSubmit(e.taskOf(x.ID, apprUserA).ID, apprUserA, apprSub("f1", map[string]any{}, "resolve"))
	e.waitStatus(x.ID, flow.ExecutionResolved)
	require.Equal(t, map[string]int{"m": 1, "after": 1}, e.jobCounts(x.ID))

	e.mustSubmit(e.taskOf(y.ID, apprUserB).ID, apprUserB, apprSub("f1", map[string]any{}, "resolve"))
	e.waitStatus(y.ID, flow.ExecutionResolved)
	require.Equal(t, map[string]int{"m": 1, "after2": 1}, e.jobCounts(y.ID))
}

// ---------------------------------------------------------------------------
// Concurrency: exactly one resume
// ---------------------------------------------------------------------------

// TestApprovalExactlyOneResume: 50 submissions of 20 assignees race on one
// job, on the store ACTIONTRIGGER_TEST_STORE names.
func TestApprovalExactlyOneResume(t *testing.T) {
	t.Parallel()
	const (
		assignees  = 20
		goroutines = 50
	)
	cases := []struct {
		name string
		mode int
		// action of goroutine i (which submits task i % assignees)
		action func(task int) string
	}{
		{"mode 1 all resolve", 1, func(int) string { return "resolve" }},
		{"mode 1 one rejects", 1, func(task int) string {
			if task == 7 {
				return "reject"
			}
			return "resolve"
		}},
		{"mode -1 rejects and resolves", -1, func(task int) string {
			if task < 5 {
				return "reject"
			}
			return "resolve"
		}},
		{"mode -1 all resolve", -1, func(int) string { return "resolve" }},
		{"mode 0 mixed", 0, func(task int) string {
			if task%3 == 0 {
				return "reject"
			}
			return "resolve"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := apprNew(t, apprOnTestStore(t))
			ids := make([]int, assignees)
			for i := range ids {
				ids[i] = 10 + i
			}
			e.users(ids...)
			e.save("w", apprManual(apprIDs(ids...), c.mode, apprStdForms()), apprAfter())
			x := e.trigger("w", flow.Record{"title": "t1"})
			require.Equal(t, flow.ExecutionStarted, x.Status)
			tasks := e.tasks(x.ID)
			require.Len(t, tasks, assignees)
			byUser := map[string]*flow.Task{}
			for _, task := range tasks {
				byUser[task.UserID] = task
			}

			var (
				wg      sync.WaitGroup
				start   = make(chan struct{})
				mu      sync.Mutex
				wins    = map[string]int{} // task id -> accepted submissions
				invalid int
				others  []error
			)
			for i := 0; i < goroutines; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					k := i % assignees
					user := actiontrigger.User{ID: ids[k]}
					task := byUser[flow.UserKey(ids[k])]
					<-start
					_, err := e.eng.SubmitTask(e.ctx, task.ID, user, apprSub("f1", map[string]any{"g": i}, c.action(k)))
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						wins[task.ID]++
					case errors.Is(err, actiontrigger.ErrInvalidSubmission):
						invalid++
					default:
						others = append(others, err)
					}
				}()
			}
			close(start)
			wg.Wait()
			require.Empty(t, others, "only 400s may be refused")
			accepted := 0
			for id, n := range wins {
				require.Equalf(t, 1, n, "task %s accepted %d submissions", id, n)
				accepted++
			}
			require.Equal(t, goroutines, accepted+invalid)

			// Every accepted submission decided its task; the others are untouched.
			decidedTasks := 0
			for _, task := range e.tasks(x.ID) {
				if wins[task.ID] == 1 {
					require.NotEqual(t, flow.TaskPending, task.Status)
					decidedTasks++
				} else {
					require.Equal(t, flow.TaskPending, task.Status)
					require.Nil(t, task.Result)
				}
			}
			require.Equal(t, accepted, decidedTasks)

			// Exactly one write moved the job out of PENDING, exactly one resume
			// was queued, and the execution ran on exactly once.
			require.EqualValues(t, 1, e.spy.decided.Load(), "decisions of the manual job")
			require.EqualValues(t, 1, e.spy.resumes.Load(), "resumes queued")
			j := e.job(x.ID, "m")
			switch c.mode {
			case 1:
				if c.name == "mode 1 all resolve" {
					require.Equal(t, assignees, accepted)
					require.Equal(t, flow.JobResolved, j.Status)
					require.InDelta(t, 1.0, j.Result, 1e-9)
				} else {
					require.Equal(t, flow.JobRejected, j.Status)
					require.InDelta(t, float64(accepted)/assignees, j.Result, 1e-9)
				}
			case -1:
				require.Equal(t, flow.JobResolved, j.Status)
				require.InDelta(t, float64(accepted)/assignees, j.Result, 1e-9)
				resolved := 0
				for _, task := range e.tasks(x.ID) {
					if task.Status == flow.TaskResolved {
						resolved++
					}
				}
				require.Equal(t, 1, resolved, "the first resolution decides; later ones are refused")
			case 0:
				require.Equal(t, 1, accepted, "one shared decision")
				var winner *flow.Task
				for _, task := range e.tasks(x.ID) {
					if task.Status != flow.TaskPending {
						winner = task
					}
				}
				require.NotNil(t, winner)
				require.Equal(t, flow.JobStatus(winner.Status), j.Status)
				require.Equal(t, apprJSON(t, winner.Result), apprJSON(t, j.Result))
			}
			var want flow.ExecutionStatus = flow.ExecutionResolved
			if j.Status == flow.JobRejected {
				want = flow.ExecutionRejected
			}
			e.waitStatus(x.ID, want)
			counts := e.jobCounts(x.ID)
			require.Equal(t, 1, counts["m"])
			if want == flow.ExecutionResolved {
				require.Equal(t, 1, counts["after"], "the execution resumed exactly once")
			} else {
				require.Zero(t, counts["after"])
			}
			e.idle()
			require.EqualValues(t, 1, e.spy.resumes.Load())
		})
	}
}

// ---------------------------------------------------------------------------
// Task listing
// ---------------------------------------------------------------------------

func TestApprovalTasksListing(t *testing.T) {
	t.Parallel()
	e := apprNew(t)
	e.users(4)
	e.save("wa", apprManual(apprIDs(2, 3), 1, apprStdForms()))
	e.save("wb", apprManual(apprIDs(2), 0, apprStdForms()))
	var xs []*flow.Execution
	for i, key := range []string{"wa", "wb", "wa", "wb", "wa"} {
		xs = append(xs, e.trigger(key, flow.Record{"title": fmt.Sprintf("t%d", i)}))
	}
	list := func(u actiontrigger.User, f actiontrigger.TaskFilter) []*flow.Task {
		t.Helper()
		got, err := e.eng.Tasks(e.ctx, u, f)
		require.NoError(t, err)
		for _, task := range got {
			require.Equal(t, flow.UserKey(u.ID), task.UserID, "a user only sees their own tasks")
		}
		return got
	}
	execsOf := func(ts []*flow.Task) []string {
		out := make([]string, len(ts))
		for i, task := range ts {
			out[i] = task.ExecutionID
		}
		return out
	}

	allA := list(apprUserA, actiontrigger.TaskFilter{})
	require.Equal(t, []string{xs[0].ID, xs[1].ID, xs[2].ID, xs[3].ID, xs[4].ID}, execsOf(allA), "oldest first")
	allB := list(apprUserB, actiontrigger.TaskFilter{})
	require.Equal(t, []string{xs[0].ID, xs[2].ID, xs[4].ID}, execsOf(allB))
	require.Empty(t, list(actiontrigger.User{ID: 4}, actiontrigger.TaskFilter{}))
	for _, ta := range allA {
		for _, tb := range allB {
			require.NotEqual(t, ta.ID, tb.ID)
		}
	}
	// Ids of any type name the same user.
	require.Len(t, list(actiontrigger.User{ID: "2"}, actiontrigger.TaskFilter{}), 5)
	require.Len(t, list(actiontrigger.User{ID: int64(2)}, actiontrigger.TaskFilter{}), 5)

	// By workflow key.
	require.Equal(t, []string{xs[0].ID, xs[2].ID, xs[4].ID}, execsOf(list(apprUserA, actiontrigger.TaskFilter{WorkflowKey: "wa"})))
	require.Equal(t, []string{xs[1].ID, xs[3].ID}, execsOf(list(apprUserA, actiontrigger.TaskFilter{WorkflowKey: "wb"})))
	require.Empty(t, list(apprUserB, actiontrigger.TaskFilter{WorkflowKey: "wb"}))
	require.Empty(t, list(apprUserA, actiontrigger.TaskFilter{WorkflowKey: "nope"}))

	// Decide two of a's tasks: resolve the first wa one, reject the first wb one.
	e.mustSubmit(allA[0].ID, apprUserA, apprSub("f1", map[string]any{}, "resolve"))
	e.mustSubmit(allA[1].ID, apprUserA, apprSub("f1", map[string]any{}, "reject"))
	e.waitStatus(xs[1].ID, flow.ExecutionRejected)
	e.stays(xs[0].ID)

	pendingA := list(apprUserA, actiontrigger.TaskFilter{Statuses: []flow.TaskStatus{flow.TaskPending}})
	require.Equal(t, []string{xs[2].ID, xs[3].ID, xs[4].ID}, execsOf(pendingA))
	resolvedA := list(apprUserA, actiontrigger.TaskFilter{Statuses: []flow.TaskStatus{flow.TaskResolved}})
	require.Equal(t, []string{xs[0].ID}, execsOf(resolvedA))
	decidedA := list(apprUserA, actiontrigger.TaskFilter{Statuses: []flow.TaskStatus{flow.TaskResolved, flow.TaskRejected}})
	require.Equal(t, []string{xs[0].ID, xs[1].ID}, execsOf(decidedA))
	require.Equal(t, []string{xs[0].ID}, execsOf(list(apprUserA, actiontrigger.TaskFilter{WorkflowKey: "wa", Statuses: []flow.TaskStatus{flow.TaskResolved, flow.TaskRejected}})))
	// b's tasks are untouched by a's decisions (mode 1: b still has to decide).
	require.Len(t, list(apprUserB, actiontrigger.TaskFilter{Statuses: []flow.TaskStatus{flow.TaskPending}}), 3)
	require.Empty(t, list(apprUserB, actiontrigger.TaskFilter{Statuses: []flow.TaskStatus{flow.TaskResolved, flow.TaskRejected}}))

	// Paging, oldest first.
	var paged []*flow.Task
	for off := 0; off < 10; off += 2 {
		page := list(apprUserA, actiontrigger.TaskFilter{Limit: 2, Offset: off})
		require.LessOrEqual(t, len(page), 2)
		paged = append(paged, page...)
	}
	require.Equal(t, execsOf(allA), execsOf(paged))
	require.Len(t, list(apprUserA, actiontrigger.TaskFilter{Limit: 2, Offset: 4}), 1)
	require.Empty(t, list(apprUserA, actiontrigger.TaskFilter{Offset: 5}))
	require.Equal(t, []string{xs[3].ID, xs[4].ID}, execsOf(list(apprUserA, actiontrigger.TaskFilter{Statuses: []flow.TaskStatus{flow.TaskPending}, Offset: 1})))
	require.Equal(t, []string{xs[2].ID}, execsOf(list(apprUserA, actiontrigger.TaskFilter{WorkflowKey: "wa", Limit: 1, Offset: 1})))

	_, err := e.eng.Tasks(e.ctx, actiontrigger.User{}, actiontrigger.TaskFilter{})
	require.ErrorIs(t, err, actiontrigger.ErrUnauthenticated)
}

// ---------------------------------------------------------------------------
// Product example: expense claims over the limit need the manager's approval
// ---------------------------------------------------------------------------

func apprExpenseCollections() []flow.Collection {
	return []flow.Collection{
		{Name: "users", Fields: []flow.Field{
			{Name: "nickname", Type: flow.FieldString},
			{Name: "password", Type: flow.FieldString, Hidden: true},
		}},
		{Name: "expenses", Fields: []flow.Field{
			{Name: "title", Type: flow.FieldString},
			{Name: "amount", Type: flow.FieldNumber},
			{Name: "applicant", Type: flow.FieldBelongsTo, Target: "users"},
		}},
		{Name: "ledger", Fields: []flow.Field{
			{Name: "title", Type: flow.FieldString},
			{Name: "amount", Type: flow.FieldNumber},
			{Name: "expenseId", Type: flow.FieldInteger},
			{Name: "approvedBy", Type: flow.FieldString},
		}},
	}
}

func TestApprovalExpenseFlow(t *testing.T) {
	t.Parallel()
	e := apprNew(t, func(c *actiontrigger.Config) { c.Collections = apprExpenseCollections() })
	manager, applicant := apprUserA, apprUserB
	e.saveWF(flow.Workflow{
		Key: "expense-review", Enabled: true,
		Config: flow.TriggerConfig{Collection: "expenses", Appends: []string{"applicant"}},
		Nodes: []flow.Node{
			{Key: "big", Type: "condition", Config: map[string]any{"engine": "expr", "expression": "$context.data.amount > 500"},
				Branches: map[int][]flow.Node{1: {{
					Key: "approve", Type: "manual", Title: "Approve {{$context.data.title}}",
					Config: map[string]any{"assignees": []any{2}, "mode": 0, "forms": map[string]any{
						"decision": map[string]any{"type": "custom", "actions": []any{
							map[string]any{"key": "approve", "status": 1, "values": map[string]any{"by": "{{currentUser.nickname}}"}},
							map[string]any{"key": "reject", "status": -5},
						}},
					}},
				}}}},
			{Key: "book", Type: "create", Config: map[string]any{"collection": "ledger", "params": map[string]any{"values": map[string]any{
				"title": "{{$context.data.title}}", "amount": "{{$context.data.amount}}", "expenseId": "{{$context.data.id}}",
				"approvedBy": "{{$jobsMapByNodeKey.approve.decision.by}}",
			}}}},
		},
	})
	claim := func(title string, amount float64) *flow.Execution {
		t.Helper()
		return e.triggerOn("expenses", "expense-review", flow.Record{"title": title, "amount": amount, "applicantId": 3}, applicant)
	}
	ledgerOf := func(x *flow.Execution) []flow.Record {
		t.Helper()
		return e.records("ledger", storage.Filter{"expenseId": x.Context["data"].(map[string]any)["id"]})
	}
	managerTasks := func() []*flow.Task {
		t.Helper()
		ts, err := e.eng.Tasks(e.ctx, manager, actiontrigger.TaskFilter{WorkflowKey: "expense-review", Statuses: []flow.TaskStatus{flow.TaskPending}})
		require.NoError(t, err)
		return ts
	}

	// Over the limit: waits for the manager.
	flight := claim("Flight", 900)
	require.Equal(t, flow.ExecutionStarted, flight.Status)
	applicantRec, ok := flight.Context["data"].(map[string]any)["applicant"].(map[string]any)
	require.True(t, ok, "the applicant is appended to the event data")
	require.Equal(t, "u3", applicantRec["nickname"])
	require.Empty(t, ledgerOf(flight), "nothing is booked before the approval")
	tasks := managerTasks()
	require.Len(t, tasks, 1)
	require.Equal(t, "Approve Flight", tasks[0].Title)
	require.Equal(t, flight.ID, tasks[0].ExecutionID)
	mine, err := e.eng.Tasks(e.ctx, applicant, actiontrigger.TaskFilter{})
	require.NoError(t, err)
	require.Empty(t, mine, "the applicant approves nothing")
	_, err = e.submit(tasks[0].ID, applicant, apprSub("decision", map[string]any{}, "approve"))
	require.ErrorIs(t, err, actiontrigger.ErrForbidden, "applicants cannot approve their own claims")

	e.mustSubmit(tasks[0].ID, manager, apprSub("decision", map[string]any{"comment": "ok"}, "approve"))
	e.waitStatus(flight.ID, flow.ExecutionResolved)
	booked := ledgerOf(flight)
	require.Len(t, booked, 1)
	require.Equal(t, "Flight", booked[0]["title"])
	require.EqualValues(t, 900, booked[0]["amount"])
	require.Equal(t, "a", booked[0]["approvedBy"])
	require.Equal(t, map[string]int{"big": 1, "approve": 1, "book": 1}, e.jobCounts(flight.ID))

	// Under the limit: booked at once, no task.
	taxi := claim("Taxi", 40)
	taxi = e.waitStatus(taxi.ID, flow.ExecutionResolved)
	require.Len(t, ledgerOf(taxi), 1)
	require.Empty(t, managerTasks())
	require.NotContains(t, e.jobs(taxi.ID), "approve")

	// Rejected: ends REJECTED, nothing booked.
	hotel := claim("Hotel", 1200)
	require.Equal(t, flow.ExecutionStarted, hotel.Status)
	tasks = managerTasks()
	require.Len(t, tasks, 1)
	e.mustSubmit(tasks[0].ID, manager, apprSub("decision", map[string]any{"comment": "too expensive"}, "reject"))
	e.waitStatus(hotel.ID, flow.ExecutionRejected)
	require.Empty(t, ledgerOf(hotel))
	require.NotContains(t, e.jobs(hotel.ID), "book")
	require.Equal(t, flow.JobRejected, e.job(hotel.ID, "approve").Status)
	require.Len(t, e.records("ledger", nil), 2)
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

// A sync workflow cannot contain a manual node (REF B.8/G: it would hang).
func TestApprovalSyncWorkflowRejected(t *testing.T) {
	t.Parallel()
	e := apprNew(t)
	for name, nodes := range map[string][]flow.Node{
		"top level": {apprManual(apprIDs(2), 0, apprStdForms())},
		"in a branch": {{Key: "c", Type: "condition", Config: map[string]any{"engine": "expr", "expression": "true"},
			Branches: map[int][]flow.Node{1: {apprManual(apprIDs(2), 0, apprStdForms())}}}},
	} {
		_, err := e.eng.SaveWorkflow(e.ctx, flow.Workflow{Key: "sync-" + name, Sync: true, Enabled: true,
			Config: flow.TriggerConfig{Collection: "posts"}, Nodes: nodes})
		require.ErrorIs(t, err, flow.ErrInvalidWorkflow, name)
		var ve *flow.ValidationError
		require.ErrorAs(t, err, &ve, name)
		require.Equal(t, "m", ve.Node, name)
		_, err = e.eng.Workflow(e.ctx, "sync-"+name)
		require.ErrorIs(t, err, flow.ErrNotFound, "nothing is saved")
	}
	// The same nodes are fine in an async workflow.
	e.save("async", apprManual(apprIDs(2), 0, apprStdForms()))
}

// Bad manual configs fail at save.
func TestApprovalInvalidConfigs(t *testing.T) {
	t.Parallel()
	e := apprNew(t)
	bad := map[string]map[string]any{
		"mode 2":             {"assignees": []any{2}, "mode": 2},
		"unknown form type":  {"assignees": []any{2}, "forms": map[string]any{"f1": map[string]any{"type": "delete"}}},
		"create without col": {"assignees": []any{2}, "forms": map[string]any{"f1": map[string]any{"type": "create"}}},
		"undeclared col":     {"assignees": []any{2}, "forms": map[string]any{"f1": map[string]any{"type": "create", "collection": "nope"}}},
		"update w/o filter":  {"assignees": []any{2}, "forms": map[string]any{"f1": map[string]any{"type": "update", "collection": "posts"}}},
		"action w/o status":  {"assignees": []any{2}, "forms": map[string]any{"f1": apprCustom(map[string]any{"key": "x"})}},
		"action status 2":    {"assignees": []any{2}, "forms": map[string]any{"f1": apprCustom(map[string]any{"key": "x", "status": 2})}},
		"duplicate action":   {"assignees": []any{2}, "forms": map[string]any{"f1": apprCustom(apprResolve(), apprResolve())}},
		"action without key": {"assignees": []any{2}, "forms": map[string]any{"f1": apprCustom(map[string]any{"status": 1})}},
		"unknown key":        {"assignees": []any{2}, "approvers": []any{2}},
		"bad assignee field": {"assignees": []any{"{{$context.data.nope}}"}},
	}
	for name, cfg := range bad {
		_, err := e.eng.SaveWorkflow(e.ctx, flow.Workflow{Key: "bad", Enabled: true, Config: flow.TriggerConfig{Collection: "posts"},
			Nodes: []flow.Node{{Key: "m", Type: "manual", Config: cfg}}})
		require.ErrorIs(t, err, flow.ErrInvalidWorkflow, name)
	}
}

// The engine must not keep the caller's submission maps: a host that reuses or
// changes its submission after SubmitTask returned must not change the stored
// task and job results (a durable store would have serialised them).
func TestApprovalSubmissionNotAliased(t *testing.T) {
	t.Parallel()
	parent := apprNew(t)
	parent.save("w", apprManual(apprIDs(2), 0, apprStdForms()))
	for _, action := range []string{"save", "resolve"} {
		t.Run(action, func(t *testing.T) {
			e := *parent
			e.t = t
			x := e.trigger("w", flow.Record{"title": "t-" + action})
			task := e.taskOf(x.ID, apprUserA)
			nested := map[string]any{"b": 1}
			form := map[string]any{"a": 1, "nested": nested}
			sub := apprSub("f1", form, action)
			e.mustSubmit(task.ID, apprUserA, sub)
			want := fmt.Sprintf(`{"f1":{"a":1,"nested":{"b":1}},"_":%q}`, action)
			// The host reuses its maps for the next request.
			form["a"] = 99
			form["extra"] = true
			nested["b"] = 2
			sub["_"] = "changed"
			require.JSONEq(t, want, apprJSON(t, e.task(task.ID).Result), "stored task result")
			require.JSONEq(t, want, apprJSON(t, e.job(x.ID, "m").Result), "stored job result")
		})
	}
}

// After SubmitTask returned, WaitIdle must not return before the resumed
// execution ran (tests and batch jobs rely on it where the reference sleeps).
// The store holds the worker pool's claim that started before the submission
// committed until WaitIdle was called, then delays the pool's next claim (the
// one that picks the resumed execution up) so that an early return shows.
func TestApprovalWaitIdleAfterSubmit(t *testing.T) {
	t.Parallel()
	hs := &apprHoldStore{RecordsStore: memory.New(), entered: make(chan struct{}), release: make(chan struct{}), gate: make(chan struct{})}
	e := apprNew(t, func(c *actiontrigger.Config) { c.Store = hs })
	t.Cleanup(hs.unhold) // registered after apprNew's: runs before the engine stops
	e.save("w", apprManual(apprIDs(2), 0, apprStdForms()), apprAfter())
	x := e.trigger("w", flow.Record{"title": "t"})

	hs.hold.Store(true)
	go func() { _ = e.eng.WaitIdle(e.ctx) }() // wakes the pool, whose next empty claim is held
	select {
	case <-hs.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the pool never claimed")
	}
	e.mustSubmit(e.taskOf(x.ID, apprUserA).ID, apprUserA, apprSub("f1", map[string]any{}, "resolve"))
	time.AfterFunc(100*time.Millisecond, hs.unhold) // once WaitIdle below waits
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, e.eng.WaitIdle(ctx))
	require.Equal(t, flow.ExecutionResolved, e.exec(x.ID).Status, "WaitIdle returned before the submitted execution resumed")
}

// apprHoldStore holds one empty claim of the worker pool (once hold is set)
// until unhold; the claims after it wait a further 300ms.
type apprHoldStore struct {
	storagetest.RecordsStore
	hold            atomic.Bool
	gated           atomic.Bool
	entered         chan struct{}
	release, gate   chan struct{}
	onceRel, onceGt sync.Once
}

func (s *apprHoldStore) unhold() {
	s.onceRel.Do(func() {
		s.gated.Store(true)
		time.AfterFunc(300*time.Millisecond, s.ungate)
		close(s.release)
	})
}

func (s *apprHoldStore) ungate() { s.onceGt.Do(func() { close(s.gate) }) }

func (s *apprHoldStore) ClaimExecutions(ctx context.Context, p storage.ClaimParams) ([]*flow.Execution, error) {
	if s.gated.Load() {
		<-s.gate
	}
	got, err := s.RecordsStore.ClaimExecutions(ctx, p)
	if len(got) == 0 && s.hold.CompareAndSwap(true, false) {
		close(s.entered)
		<-s.release
	}
	return got, err
}

// ---------------------------------------------------------------------------
// Benchmark
// ---------------------------------------------------------------------------

// BenchmarkSubmitTask: per op, one execution paused at a manual node (single
// assignee) is submitted and resumed to RESOLVED on the memory store. The
// paused executions are prepared before the timer starts.
func BenchmarkSubmitTask(b *testing.B) {
	ctx := context.Background()
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{Collections: storagetest.Collections(), Logger: apprQuiet})
	if err != nil {
		b.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer eng.Stop(ctx)
	if _, err := eng.SaveWorkflow(ctx, flow.Workflow{Key: "w", Enabled: true, Config: flow.TriggerConfig{Collection: "posts"},
		Nodes: []flow.Node{apprManual(apprIDs(2), 0, apprStdForms())}}); err != nil {
		b.Fatal(err)
	}
	action := actiontrigger.Action{Collection: "posts", Name: actiontrigger.ActionCreate, TriggerWorkflows: "w"}
	const batch = 1000
	for done := 0; done < b.N; done += batch {
		n := min(batch, b.N-done)
		recs := make([]map[string]any, n)
		for i := range recs {
			recs[i] = map[string]any{"id": done + i + 1, "title": "t"}
		}
		if _, err := eng.AfterAction(ctx, action, recs, apprUserA); err != nil {
			b.Fatal(err)
		}
	}
	var tasks []*flow.Task
	for tries := 0; len(tasks) < b.N; tries++ {
		if tries > 1000 {
			b.Fatalf("%d paused executions, want %d", len(tasks), b.N)
		}
		if err := eng.WaitIdle(ctx); err != nil {
			b.Fatal(err)
		}
		tasks, err = eng.Tasks(ctx, apprUserA, actiontrigger.TaskFilter{Statuses: []flow.TaskStatus{flow.TaskPending}})
		if err != nil {
			b.Fatal(err)
		}
	}
	if len(tasks) != b.N {
		b.Fatalf("%d paused executions, want %d", len(tasks), b.N)
	}
	sub := apprSub("f1", map[string]any{"a": 1}, "resolve")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		task := tasks[i]
		if _, err := eng.SubmitTask(ctx, task.ID, apprUserA, sub); err != nil {
			b.Fatal(err)
		}
		for tries := 0; ; tries++ {
			if err := eng.WaitIdle(ctx); err != nil {
				b.Fatal(err)
			}
			x, err := eng.Execution(ctx, task.ExecutionID)
			if err != nil {
				b.Fatal(err)
			}
			if x.Status == flow.ExecutionResolved {
				break
			}
			if tries > 1000 {
				b.Fatalf("execution %s is %s after its submission", x.ID, x.Status)
			}
		}
	}
}
