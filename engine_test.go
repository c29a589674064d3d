package actiontrigger_test

// The sync outcome table (SPEC section 2) and the engine, versioning and end
// node scenarios of the reference (nocobase-behavior.md F.8, cases 96-116).
//
// Not ported: 113 ("deferred" events) and the autoRevision flag of 116; this
// library implements neither.

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
	"github.com/actiontrigger/actiontrigger/storage/memory"
)

// ---- SPEC section 2: sync outcomes ----

// A sync workflow resolved through an end node stops the later workflows of
// the action, sync and async (even async ones named before it), with success.
func TestSync_EndResolvedStopsLaterSyncAndAsync(t *testing.T) {
	t.Parallel()
	eng := newEngine(t) // not started: anything queued would stay in the store
	save(t, eng, asyncWF("early", "posts"))
	save(t, eng, syncWF("stop", "posts",
		n("say", "response-message", map[string]any{"message": "saved {{$context.data.title}}"}),
		n("end", "end", map[string]any{"endStatus": 1}),
		n("never", "echo", nil)))
	save(t, eng, recorderWF("later", "posts"))
	save(t, eng, asyncWF("laterAsync", "posts"))
	save(t, eng, globalWF("glob", "posts", true, []string{"create"}))
	save(t, eng, globalWF("globAsync", "posts", false, []string{"create"}))

	res := after(t, eng, createAction("posts", "early,stop,later,laterAsync"), record(t, eng, "posts", flow.Record{"title": "t1"}), memberA)
	require.Equal(t, []string{"stop"}, keysOf(res.Executions))
	require.Equal(t, flow.ExecutionResolved, res.Executions[0].Status)
	require.Equal(t, []nodes.Message{{Message: "saved t1"}}, res.Messages)
	require.Equal(t, []string{"stop"}, keysOf(allExecs(t, eng)), "no other workflow ran or was queued")
	js := jobsOf(t, eng, res.Executions[0].ID)
	require.Len(t, js, 2, "nothing runs after the end node")
	require.True(t, js[1].End)
}

// A sync workflow resolved without an end node lets the next ones run, and
// the messages of all of them come back.
func TestSync_ResolvedContinues(t *testing.T) {
	t.Parallel()
	eng := newEngine(t)
	save(t, eng, syncWF("s1", "posts", n("m", "response-message", map[string]any{"message": "one"})))
	save(t, eng, syncWF("s2", "posts", n("m", "response-message", map[string]any{"message": "two {{$context.user.nickname}}"})))
	save(t, eng, asyncWF("a", "posts"))
	res := after(t, eng, createAction("posts", "s1,a,s2"), record(t, eng, "posts", flow.Record{"title": "t1"}), memberA)
	require.Equal(t, []string{"s1", "s2", "a"}, keysOf(res.Executions))
	require.Equal(t, []flow.ExecutionStatus{flow.ExecutionResolved, flow.ExecutionResolved, flow.ExecutionQueueing}, statusesOf(res.Executions))
	require.Equal(t, []nodes.Message{{Message: "one"}, {Message: "two a"}}, res.Messages)
}

// endStatus -1: *SyncError kind "rejected" with the response messages of the
// action so far; nothing after it runs and nothing async is queued.
func TestSync_EndRejectedWithMessages(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t)
	save(t, eng, asyncWF("early", "posts"))
	save(t, eng, syncWF("first", "posts", n("m", "response-message", map[string]any{"message": "checked"})))
	wf := syncWF("limit", "posts", flow.Node{
		Key: "big", Type: "condition", Config: map[string]any{"engine": "expr", "expression": "$context.data.score > 500"},
		Branches: map[int][]flow.Node{1: {
			n("say", "response-message", map[string]any{"message": "{{$context.data.title}}: over the limit"}),
			n("stop", "end", map[string]any{"endStatus": -1}),
		}},
	})
	save(t, eng, wf)
	save(t, eng, recorderWF("later", "posts"))
	save(t, eng, globalWF("globAsync", "posts", false, []string{"create"}))

	res, err := eng.AfterAction(ctx, createAction("posts", "early,first,limit,later"), record(t, eng, "posts", flow.Record{"title": "Flight", "score": 900}), memberA)
	require.ErrorIs(t, err, actiontrigger.ErrSync)
	var se *actiontrigger.SyncError
	require.ErrorAs(t, err, &se)
	require.Equal(t, actiontrigger.SyncRejected, se.Kind)
	require.Equal(t, "limit", se.Workflow)
	require.Equal(t, flow.ExecutionFailed, se.Execution.Status)
	require.Equal(t, []nodes.Message{{Message: "checked"}, {Message: "Flight: over the limit"}}, se.Messages)
	require.Contains(t, err.Error(), "Flight: over the limit")
	if res != nil {
		require.NotContains(t, keysOf(res.Executions), "later")
	}
	require.ElementsMatch(t, []string{"first", "limit"}, keysOf(allExecs(t, eng)), "later and the async ones never ran nor were queued")

	// Under the limit the same action passes and everything runs.
	res = after(t, eng, createAction("posts", "early,first,limit,later"), record(t, eng, "posts", flow.Record{"title": "Taxi", "score": 40}), memberA)
	require.Equal(t, []string{"first", "limit", "later", "early", "globAsync"}, keysOf(res.Executions))
}

// A node error elsewhere than an end node: kind "failed".
func TestSync_NodeErrorFailed(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t)
	save(t, eng, syncWF("w", "posts", n("m", "response-message", map[string]any{"message": "hi"}), n("boom", "error", nil), n("never", "echo", nil)))
	save(t, eng, asyncWF("a", "posts"))
	_, err := eng.AfterAction(ctx, createAction("posts", "w,a"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	var se *actiontrigger.SyncError
	require.ErrorAs(t, err, &se)
	require.Equal(t, actiontrigger.SyncFailed, se.Kind)
	require.Equal(t, flow.ExecutionError, se.Execution.Status)
	require.Equal(t, []string{"w"}, keysOf(allExecs(t, eng)))
	js := jobsOf(t, eng, se.Execution.ID)
	require.Equal(t, []flow.JobStatus{flow.JobResolved, flow.JobError}, jobStatuses(js))
	require.Equal(t, map[string]any{"message": "definite error"}, js[1].Result)
}

// A condition with rejectOnFalse that is false: kind "failed" (not rejected).
func TestSync_RejectOnFalseFailed(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t)
	save(t, eng, syncWF("w", "posts", n("c", "condition", map[string]any{"engine": "expr", "expression": "$context.data.published == true", "rejectOnFalse": true})))
	_, err := eng.AfterAction(ctx, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t", "published": false}), memberA)
	var se *actiontrigger.SyncError
	require.ErrorAs(t, err, &se)
	require.Equal(t, actiontrigger.SyncFailed, se.Kind)
	require.Equal(t, flow.ExecutionFailed, se.Execution.Status)

	res := after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t", "published": true}), memberA)
	require.Equal(t, flow.ExecutionResolved, res.Executions[0].Status)
}

// Custom job statuses in a sync workflow: above 0 continues, below 0 fails.
func TestSync_CustomStatuses(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t)
	save(t, eng, syncWF("ok", "posts", n("s", "customizedSuccess", nil)))
	save(t, eng, syncWF("bad", "posts", n("s", "customizedError", nil)))
	res := after(t, eng, createAction("posts", "ok"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	require.Equal(t, flow.ExecutionResolved, res.Executions[0].Status)
	_, err := eng.AfterAction(ctx, createAction("posts", "ok,bad"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	var se *actiontrigger.SyncError
	require.ErrorAs(t, err, &se)
	require.Equal(t, actiontrigger.SyncFailed, se.Kind)
	require.Equal(t, "bad", se.Workflow)
	require.Equal(t, flow.ExecutionFailed, se.Execution.Status)
}

// A sync workflow that runs past its timeout is aborted: kind "failed".
func TestSync_TimeoutFailed(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, withSleepNode())
	w := syncWF("w", "posts", n("slow", "sleep", map[string]any{"ms": 150}), n("never", "echo", nil))
	w.Options.Timeout = 50
	save(t, eng, w)
	_, err := eng.AfterAction(ctx, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	var se *actiontrigger.SyncError
	require.ErrorAs(t, err, &se)
	require.Equal(t, actiontrigger.SyncFailed, se.Kind)
	require.Equal(t, flow.ExecutionAborted, se.Execution.Status)
	require.Equal(t, flow.ReasonTimeout, se.Execution.Reason)
	require.Len(t, jobsOf(t, eng, se.Execution.ID), 1, "the node after the deadline did not run")
}

// "pending": a sync workflow cannot contain a node that can pause; SaveWorkflow
// rejects it, so the pending outcome cannot arise from AfterAction.
func TestSync_PausingNodeRejectedAtSave(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t)
	for _, typ := range []string{"prompt", "pending", "prompt->error", "manual"} {
		w := syncWF("p-"+typ, "posts", n("first", "echo", nil), flow.Node{
			Key: "c", Type: "condition", Config: map[string]any{"engine": "expr", "expression": "true"},
			Branches: map[int][]flow.Node{1: {n("wait", typ, nil)}},
		})
		_, err := eng.SaveWorkflow(ctx, w)
		require.ErrorIs(t, err, flow.ErrInvalidWorkflow, typ)
		var ve *flow.ValidationError
		require.ErrorAs(t, err, &ve, typ)
		require.Equal(t, "wait", ve.Node, typ)
		require.Equal(t, "type", ve.Field, typ)
		require.Equal(t, "p-"+typ, ve.Workflow)
		_, err = eng.Workflow(ctx, "p-"+typ)
		require.ErrorIs(t, err, flow.ErrNotFound, "nothing stored for %s", typ)

		// The same document is fine as an async workflow.
		w.Sync = false
		save(t, eng, w)
		// And an async workflow cannot be switched to sync.
		w.Sync = true
		_, err = eng.SaveWorkflow(ctx, w)
		require.ErrorIs(t, err, flow.ErrInvalidWorkflow, typ)
		got, err := eng.Workflow(ctx, "p-"+typ)
		require.NoError(t, err)
		require.False(t, got.Sync)
	}
}

// ---- F.8 engine ----

// F.8 case 96: an empty workflow resolves at once with the trigger data.
func TestEngine_F8_096_EmptyWorkflowResolves(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	save(t, eng, asyncWF("w", "posts"))
	p := record(t, eng, "posts", flow.Record{"title": "t1"})
	after(t, eng, createAction("posts", "w"), p, memberA)
	waitIdle(t, eng)
	xs := execsOf(t, eng, "w")
	require.Len(t, xs, 1)
	require.Equal(t, flow.ExecutionResolved, xs[0].Status)
	require.Equal(t, "t1", dataOf(t, xs[0])["title"])
	require.Empty(t, jobsOf(t, eng, xs[0].ID))
	require.False(t, xs[0].StartedAt.IsZero())
	require.False(t, xs[0].EndedAt.IsZero())
}

// F.8 case 97: echoVariable {{$context}} resolves with the whole context.
func TestEngine_F8_097_EchoVariableContext(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	save(t, eng, asyncWF("w", "posts", n("e", "echoVariable", map[string]any{"variable": "{{$context}}"})))
	p := record(t, eng, "posts", flow.Record{"title": "t1"})
	after(t, eng, createAction("posts", "w"), p, memberA)
	waitIdle(t, eng)
	xs := execsOf(t, eng, "w")
	require.Len(t, xs, 1)
	js := jobsOf(t, eng, xs[0].ID)
	require.Len(t, js, 1)
	require.Equal(t, flow.JobResolved, js[0].Status)
	res, ok := js[0].Result.(map[string]any)
	require.True(t, ok, "%T", js[0].Result)
	d, ok := res["data"].(map[string]any)
	require.True(t, ok, "%T", res["data"])
	require.Equal(t, "t1", d["title"])
	require.EqualValues(t, p["id"], d["id"])
	require.Equal(t, "member", res["roleName"])
}

// F.8 case 98: echo passes on the previous job's result.
func TestEngine_F8_098_TwoNodes(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	save(t, eng, asyncWF("w", "posts", n("e1", "echoVariable", map[string]any{"variable": "{{$context.data.title}}!"}), n("e2", "echo", nil)))
	after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t1"}), memberA)
	waitIdle(t, eng)
	xs := execsOf(t, eng, "w")
	require.Len(t, xs, 1)
	require.Equal(t, flow.ExecutionResolved, xs[0].Status)
	js := jobsOf(t, eng, xs[0].ID)
	require.Len(t, js, 2)
	require.Equal(t, []any{"t1!", "t1!"}, jobResults(js))
	require.Equal(t, js[0].ID, js[1].UpstreamID)
	require.Equal(t, []int{1, 2}, []int{js[0].Seq, js[1].Seq})
}

// F.8 case 99: a node error ends the execution ERROR with the message.
func TestEngine_F8_099_ErrorNode(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	save(t, eng, asyncWF("w", "posts", n("boom", "error", nil), n("never", "echo", nil)))
	after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t1"}), memberA)
	waitIdle(t, eng)
	xs := execsOf(t, eng, "w")
	require.Len(t, xs, 1)
	require.Equal(t, flow.ExecutionError, xs[0].Status)
	js := jobsOf(t, eng, xs[0].ID)
	require.Len(t, js, 1)
	require.Equal(t, flow.JobError, js[0].Status)
	require.Equal(t, "definite error", js[0].Result.(map[string]any)["message"])
}

// F.8 case 100: custom job statuses map to the execution status by sign.
func TestEngine_F8_100_CustomStatus(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	save(t, eng, asyncWF("ok", "posts", n("s", "customizedSuccess", nil)))
	save(t, eng, asyncWF("bad", "posts", n("s", "customizedError", nil)))
	after(t, eng, createAction("posts", "ok,bad"), record(t, eng, "posts", flow.Record{"title": "t1"}), memberA)
	waitIdle(t, eng)
	ok := execsOf(t, eng, "ok")
	require.Len(t, ok, 1)
	require.Equal(t, flow.ExecutionResolved, ok[0].Status)
	require.Equal(t, flow.JobStatus(100), jobsOf(t, eng, ok[0].ID)[0].Status)
	bad := execsOf(t, eng, "bad")
	require.Len(t, bad, 1)
	require.Equal(t, flow.ExecutionFailed, bad[0].Status)
	require.Equal(t, flow.JobStatus(-100), jobsOf(t, eng, bad[0].ID)[0].Status)
}

// F.8 case 101: prompt pauses; resumed with RESOLVED/123 the flow continues.
func TestEngine_F8_101_PromptResume(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started())
	save(t, eng, asyncWF("w", "posts", n("p", "prompt", nil), n("e", "echo", nil)))
	after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t1"}), memberA)
	waitIdle(t, eng)
	xs := execsOf(t, eng, "w")
	require.Len(t, xs, 1)
	require.Equal(t, flow.ExecutionStarted, xs[0].Status)
	pj := pendingJob(t, eng, xs[0].ID)
	require.Nil(t, pj.Result)

	require.NoError(t, eng.Resume(ctx, pj.ID, flow.JobResolved, 123))
	waitIdle(t, eng)
	x := execution(t, eng, xs[0].ID)
	require.Equal(t, flow.ExecutionResolved, x.Status)
	js := jobsOf(t, eng, x.ID)
	require.Len(t, js, 2)
	require.Equal(t, asJSON(t, []any{123, 123}), asJSON(t, jobResults(js)))
	require.Equal(t, pj.ID, js[0].ID, "the resumed job is updated in place")
}

// F.8 case 102: prompt->error fails on resume: execution ERROR, one job ERROR.
func TestEngine_F8_102_PromptErrorResume(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started())
	save(t, eng, asyncWF("w", "posts", n("p", "prompt->error", nil), n("e", "echo", nil)))
	after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t1"}), memberA)
	waitIdle(t, eng)
	xs := execsOf(t, eng, "w")
	require.Len(t, xs, 1)
	pj := pendingJob(t, eng, xs[0].ID)
	require.NoError(t, eng.Resume(ctx, pj.ID, flow.JobResolved, nil))
	waitIdle(t, eng)
	require.Equal(t, flow.ExecutionError, execution(t, eng, xs[0].ID).Status)
	js := jobsOf(t, eng, xs[0].ID)
	require.Len(t, js, 1)
	require.Equal(t, flow.JobError, js[0].Status)
	require.Equal(t, "input failed", js[0].Result.(map[string]any)["message"])
}

// F.8 case 103: a paused execution past options.timeout is aborted with
// reason "timeout" and its pending job ABORTED.
func TestEngine_F8_103_TimeoutAbortsPaused(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	w := asyncWF("w", "posts", n("p", "pending", nil))
	w.Options.Timeout = 300
	save(t, eng, w)
	after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t1"}), memberA)
	waitIdle(t, eng)
	xs := execsOf(t, eng, "w")
	require.Len(t, xs, 1)
	x := xs[0]
	if x.Status == flow.ExecutionStarted {
		require.False(t, x.StartedAt.IsZero())
		require.Equal(t, 300*time.Millisecond, x.ExpiresAt.Sub(x.StartedAt))
	}
	eventually(t, 5*time.Second, func() bool {
		return execution(t, eng, x.ID).Status == flow.ExecutionAborted
	}, "execution %s never aborted", x.ID)
	x = execution(t, eng, x.ID)
	require.Equal(t, flow.ReasonTimeout, x.Reason)
	require.False(t, x.EndedAt.IsZero())
	js := jobsOf(t, eng, x.ID)
	require.Len(t, js, 1)
	require.Equal(t, flow.JobAborted, js[0].Status)
	// A resume after the abort is refused.
	require.ErrorIs(t, eng.Resume(context.Background(), js[0].ID, flow.JobResolved, 1), actiontrigger.ErrExecutionEnded)
}

// Timeout checked before each node of a running async execution.
func TestEngine_TimeoutBeforeNextNode(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started(), withSleepNode())
	w := asyncWF("w", "posts", n("slow", "sleep", map[string]any{"ms": 150}), n("never", "echo", nil))
	w.Options.Timeout = 50
	save(t, eng, w)
	after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t1"}), memberA)
	waitIdle(t, eng)
	xs := execsOf(t, eng, "w")
	require.Len(t, xs, 1)
	require.Equal(t, flow.ExecutionAborted, xs[0].Status)
	require.Equal(t, flow.ReasonTimeout, xs[0].Reason)
	require.Len(t, jobsOf(t, eng, xs[0].ID), 1)
}

// F.8 case 104: end nodes end the whole execution, even from a branch; their
// endStatus is validated at save.
func TestEngine_F8_104_EndNode(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started())
	save(t, eng, asyncWF("ok", "posts", n("end", "end", map[string]any{"endStatus": 1}), n("e", "echo", nil)))
	save(t, eng, asyncWF("fail", "posts", n("end", "end", map[string]any{"endStatus": -1}), n("e", "echo", nil)))
	save(t, eng, asyncWF("branch", "posts", flow.Node{
		Key: "c", Type: "condition", Config: map[string]any{"engine": "expr", "expression": "true"},
		Branches: map[int][]flow.Node{1: {n("end", "end", map[string]any{"endStatus": -1}), n("b", "echo", nil)}},
	}, n("after", "echo", nil)))
	after(t, eng, createAction("posts", "ok,fail,branch"), record(t, eng, "posts", flow.Record{"title": "t1"}), memberA)
	waitIdle(t, eng)

	x := execsOf(t, eng, "ok")[0]
	require.Equal(t, flow.ExecutionResolved, x.Status)
	js := jobsOf(t, eng, x.ID)
	require.Len(t, js, 1)
	require.Equal(t, flow.JobResolved, js[0].Status)

	x = execsOf(t, eng, "fail")[0]
	require.Equal(t, flow.ExecutionFailed, x.Status)
	js = jobsOf(t, eng, x.ID)
	require.Len(t, js, 1)
	require.Equal(t, flow.JobFailed, js[0].Status)

	x = execsOf(t, eng, "branch")[0]
	require.Equal(t, flow.ExecutionFailed, x.Status)
	require.Len(t, jobsOf(t, eng, x.ID), 2, "neither the rest of the branch nor the downstream ran")

	for i, cfg := range []map[string]any{{"endStatus": 1}, {"endStatus": -1}, nil, {}} {
		_, err := eng.SaveWorkflow(ctx, asyncWF("valid", "posts", n("end", "end", cfg)))
		require.NoError(t, err, "case %d", i)
	}
	for _, st := range []any{0, 2, -2, 100} {
		_, err := eng.SaveWorkflow(ctx, asyncWF("invalid", "posts", n("end", "end", map[string]any{"endStatus": st})))
		require.ErrorIs(t, err, flow.ErrInvalidWorkflow, "endStatus %v", st)
		var ve *flow.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "end", ve.Node)
		require.Equal(t, "config.endStatus", ve.Field)
	}
	_, err := eng.Workflow(ctx, "invalid")
	require.ErrorIs(t, err, flow.ErrNotFound)
}

// F.8 case 105: a new workflow is current, enabled or not, with counters at 0.
func TestEngine_F8_105_CreatedIsCurrent(t *testing.T) {
	t.Parallel()
	eng := newEngine(t)
	on := save(t, eng, asyncWF("on", "posts"))
	require.True(t, on.Current)
	require.True(t, on.Enabled)
	require.Equal(t, 1, on.Version)
	require.NotEmpty(t, on.ID)
	require.Zero(t, on.Executed)
	require.Zero(t, on.AllExecuted)
	require.Equal(t, flow.TriggerType, on.Type)
	require.Equal(t, "on", on.Title, "title defaults to the key")

	off := asyncWF("off", "posts")
	off.Enabled = false
	got := save(t, eng, off)
	require.True(t, got.Current)
	require.False(t, got.Enabled)

	gen := asyncWF("", "posts")
	got = save(t, eng, gen)
	require.NotEmpty(t, got.Key, "a key is generated")
}

// F.8 case 106: executions are created only while the workflow is enabled.
func TestEngine_F8_106_Toggle(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, lenient())
	save(t, eng, syncWF("w", "posts"))
	fire := func() {
		after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	}
	fire()
	require.Len(t, execsOf(t, eng, "w"), 1)
	require.NoError(t, eng.Disable(ctx, "w"))
	fire()
	require.Len(t, execsOf(t, eng, "w"), 1)
	require.NoError(t, eng.Disable(ctx, "w"))
	fire()
	require.Len(t, execsOf(t, eng, "w"), 1)
	require.NoError(t, eng.Enable(ctx, "w"))
	fire()
	require.Len(t, execsOf(t, eng, "w"), 2)
	require.NoError(t, eng.Enable(ctx, "w"))
	got, err := eng.Workflow(ctx, "w")
	require.NoError(t, err)
	require.True(t, got.Enabled)
	require.EqualValues(t, 2, got.Executed)

	// Toggling through SaveWorkflow (enabled is not frozen) works the same.
	got.Enabled = false
	_, err = eng.SaveWorkflow(ctx, *got)
	require.NoError(t, err)
	fire()
	require.Len(t, execsOf(t, eng, "w"), 2)
}

// F.8 case 107: changing the collection of an unexecuted workflow moves it.
func TestEngine_F8_107_ConfigUpdateToAnotherCollection(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t)
	w := save(t, eng, syncWF("w", "posts"))
	w.Config.Collection = "comments"
	moved, err := eng.SaveWorkflow(ctx, *w)
	require.NoError(t, err)
	require.Equal(t, w.ID, moved.ID, "same version")
	require.Equal(t, "comments", moved.Config.Collection)

	_, err = eng.AfterAction(ctx, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	require.ErrorIs(t, err, actiontrigger.ErrBinding)
	require.Empty(t, execsOf(t, eng, "w"))
	res := after(t, eng, createAction("comments", "w"), record(t, eng, "comments", flow.Record{"content": "c"}), memberA)
	require.Len(t, res.Executions, 1)

	// The same for a global workflow.
	g := save(t, eng, globalWF("g", "posts", true, []string{"create"}))
	g.Config.Collection = "tags"
	_, err = eng.SaveWorkflow(ctx, *g)
	require.NoError(t, err)
	res = after(t, eng, createAction("posts", ""), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	require.Empty(t, res.Executions)
	res = after(t, eng, createAction("tags", ""), record(t, eng, "tags", flow.Record{"name": "x"}), memberA)
	require.Equal(t, []string{"g"}, keysOf(res.Executions))
}

// F.8 case 108: a deleted workflow no longer triggers; its executions remain.
func TestEngine_F8_108_DeletedNoLongerTriggers(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t)
	save(t, eng, syncWF("w", "posts"))
	save(t, eng, globalWF("g", "posts", true, []string{"create"}))
	res := after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	require.Equal(t, []string{"w", "g"}, keysOf(res.Executions))

	_, err := eng.Revise(ctx, "w") // a second version, deleted too
	require.NoError(t, err)
	require.NoError(t, eng.DeleteWorkflow(ctx, "w"))
	require.NoError(t, eng.DeleteWorkflow(ctx, "g"))
	vs, err := eng.Workflows(ctx, storageFilterKey("w"))
	require.NoError(t, err)
	require.Empty(t, vs, "every version is deleted")

	_, err = eng.AfterAction(ctx, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	require.ErrorIs(t, err, actiontrigger.ErrBinding)
	res = after(t, eng, createAction("posts", ""), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	require.Empty(t, res.Executions)
	require.Len(t, execsOf(t, eng, "w"), 1, "executions are kept")
	require.Len(t, execsOf(t, eng, "g"), 1)
	require.ErrorIs(t, eng.DeleteWorkflow(ctx, "w"), flow.ErrNotFound)
}

// F.8 case 109: a sync run returns a RESOLVED execution that is already
// stored, with its jobs. (The reference's "history survives the caller's
// transaction rollback" differs here: AfterAction inside storage.WithTx writes
// through the host's transaction on purpose; see SPEC section 2.)
func TestEngine_F8_109_SyncExecutionPersisted(t *testing.T) {
	t.Parallel()
	eng := newEngine(t)
	save(t, eng, syncWF("w", "posts", n("e", "echoVariable", map[string]any{"variable": "{{$context.data.title}}"})))
	res := after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t1"}), memberA)
	require.Len(t, res.Executions, 1)
	x := res.Executions[0]
	require.Equal(t, flow.ExecutionResolved, x.Status)
	stored := execution(t, eng, x.ID)
	require.Equal(t, flow.ExecutionResolved, stored.Status)
	require.True(t, stored.Sync)
	js := jobsOf(t, eng, x.ID)
	require.Len(t, js, 1)
	require.Equal(t, "t1", js[0].Result)
	require.ErrorIs(t, eng.WaitIdle(context.Background()), actiontrigger.ErrNotStarted, "sync runs need no workers")
}

// F.8 case 110: three workflows on one event, and three events on one workflow.
func TestEngine_F8_110_ManyWorkflowsManyEvents(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	for _, k := range []string{"w1", "w2", "w3"} {
		save(t, eng, asyncWF(k, "posts", n("e", "echo", nil)))
	}
	after(t, eng, createAction("posts", "w1,w2,w3"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	for i := 0; i < 3; i++ {
		after(t, eng, createAction("posts", "w1"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	}
	waitIdle(t, eng)
	require.Len(t, execsOf(t, eng, "w1"), 4)
	for _, k := range []string{"w2", "w3"} {
		xs := execsOf(t, eng, k)
		require.Len(t, xs, 1)
		require.Equal(t, flow.ExecutionResolved, xs[0].Status)
	}
	for _, x := range allExecs(t, eng) {
		require.Equal(t, flow.ExecutionResolved, x.Status)
	}
	w1, err := eng.Workflow(context.Background(), "w1")
	require.NoError(t, err)
	require.EqualValues(t, 4, w1.Executed)
	require.EqualValues(t, 4, w1.AllExecuted)
}

// F.8 case 111: an event key already used by a workflow version starts nothing.
func TestEngine_F8_111_DuplicateEventKey(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t) // not started: the queued executions stay visible
	save(t, eng, asyncWF("a", "posts"))
	save(t, eng, syncWF("s", "posts"))
	act := createAction("posts", "a,s")
	act.EventKey = "evt-1"
	p := record(t, eng, "posts", flow.Record{"title": "t"})
	res := after(t, eng, act, p, memberA)
	require.Len(t, res.Executions, 2)
	require.Empty(t, res.Skipped)

	res = after(t, eng, act, p, memberA)
	require.Empty(t, res.Executions)
	require.ElementsMatch(t, []actiontrigger.Skip{
		{Workflow: "a", Reason: "event evt-1 already handled"},
		{Workflow: "s", Reason: "event evt-1 already handled"},
	}, res.Skipped)
	require.Len(t, execsOf(t, eng, "a"), 1)
	require.Len(t, execsOf(t, eng, "s"), 1)
	require.Equal(t, "evt-1", execsOf(t, eng, "a")[0].EventKey)

	// A bulk action keys each record.
	bulk := createAction("posts", "a")
	bulk.EventKey = "bulk"
	recs := []map[string]any{{"id": 1}, {"id": 2}}
	res = after(t, eng, bulk, recs, memberA)
	require.Len(t, res.Executions, 2)
	require.ElementsMatch(t, []string{"bulk/0", "bulk/1"}, []string{res.Executions[0].EventKey, res.Executions[1].EventKey})
	res = after(t, eng, bulk, recs, memberA)
	require.Empty(t, res.Executions)
	require.Len(t, res.Skipped, 2)
	require.Len(t, execsOf(t, eng, "a"), 3)

	// The key is scoped to the version: an enabled revision runs again.
	rev, err := eng.Revise(ctx, "a")
	require.NoError(t, err)
	require.NoError(t, eng.EnableVersion(ctx, rev.ID))
	res = after(t, eng, act, p, memberA)
	require.Equal(t, []string{"a"}, keysOf(res.Executions))
	require.Equal(t, []actiontrigger.Skip{{Workflow: "s", Reason: "event evt-1 already handled"}}, res.Skipped)
}

// F.8 case 112: deleteExecutionOnStatus deletes executions that end with a
// listed status. The reference also accepts [STARTED]; here the list may only
// hold final statuses, so [STARTED] is refused at save.
func TestEngine_F8_112_DeleteExecutionOnStatus(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started())
	opt := func(w flow.Workflow, sts ...flow.ExecutionStatus) flow.Workflow {
		w.Options.DeleteExecutionOnStatus = sts
		return w
	}
	save(t, eng, asyncWF("none", "posts"))
	save(t, eng, opt(asyncWF("resolved", "posts"), flow.ExecutionResolved))
	save(t, eng, opt(asyncWF("errored", "posts", n("boom", "error", nil)), flow.ExecutionError))
	save(t, eng, opt(asyncWF("keptError", "posts", n("boom", "error", nil)), flow.ExecutionResolved))
	save(t, eng, opt(syncWF("syncResolved", "posts"), flow.ExecutionResolved))
	save(t, eng, opt(asyncWF("aborted", "posts", n("p", "pending", nil)), flow.ExecutionAborted))

	_, err := eng.SaveWorkflow(ctx, opt(asyncWF("started", "posts", n("p", "pending", nil)), flow.ExecutionStarted))
	var ve *flow.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "options.deleteExecutionOnStatus", ve.Field)
	_, err = eng.SaveWorkflow(ctx, opt(asyncWF("queueing", "posts"), flow.ExecutionQueueing))
	require.ErrorIs(t, err, flow.ErrInvalidWorkflow)

	res := after(t, eng, createAction("posts", "none,resolved,errored,keptError,syncResolved,aborted"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	require.Len(t, res.Executions, 6)
	require.Equal(t, "syncResolved", res.Executions[0].Key)
	require.Equal(t, flow.ExecutionResolved, res.Executions[0].Status, "a deleted sync execution is still reported")
	waitIdle(t, eng)

	require.Len(t, execsOf(t, eng, "none"), 1)
	require.Empty(t, execsOf(t, eng, "resolved"))
	require.Empty(t, execsOf(t, eng, "errored"))
	kept := execsOf(t, eng, "keptError")
	require.Len(t, kept, 1)
	require.Equal(t, flow.ExecutionError, kept[0].Status)
	require.Empty(t, execsOf(t, eng, "syncResolved"))
	_, err = eng.Execution(ctx, res.Executions[0].ID)
	require.ErrorIs(t, err, flow.ErrNotFound)

	ab := execsOf(t, eng, "aborted")
	require.Len(t, ab, 1)
	require.Equal(t, flow.ExecutionStarted, ab[0].Status, "paused executions are kept")
	require.NoError(t, eng.CancelExecution(ctx, ab[0].ID))
	require.Empty(t, execsOf(t, eng, "aborted"), "deleted once aborted")
}

// Counters: every execution counts in Executed and AllExecuted, including the
// ones deleteExecutionOnStatus removes (REF A.7.8: every created execution
// increments both), so a version that ran is frozen.
func TestEngine_F8_112_DeletedExecutionsStillCount(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started())
	a := asyncWF("a", "posts")
	a.Options.DeleteExecutionOnStatus = []flow.ExecutionStatus{flow.ExecutionResolved}
	save(t, eng, a)
	s := syncWF("s", "posts")
	s.Options.DeleteExecutionOnStatus = []flow.ExecutionStatus{flow.ExecutionResolved}
	save(t, eng, s)
	after(t, eng, createAction("posts", "a,s"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	waitIdle(t, eng)
	require.Empty(t, allExecs(t, eng))
	for _, k := range []string{"a", "s"} {
		w, err := eng.Workflow(ctx, k)
		require.NoError(t, err)
		require.EqualValues(t, 1, w.Executed, "%s: a deleted execution still counts", k)
		require.EqualValues(t, 1, w.AllExecuted, k)
		require.True(t, w.Frozen(), "%s ran, so it is frozen", k)
	}
}

// F.8 case 114: a revision copies the current version; enabling it disables
// the original; counters are per version and per key; node keys are kept so
// $jobsMapByNodeKey keeps working; a paused execution of the old version
// resumes on the old version.
func TestEngine_F8_114_Revision(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started())
	w1 := save(t, eng, asyncWF("w", "posts",
		n("n1", "echoVariable", map[string]any{"variable": "{{$context.data.read}}"}),
		n("calc", "condition", map[string]any{"engine": "expr", "expression": "$jobsMapByNodeKey.n1 + $jobsMapByNodeKey.n1 == 2", "rejectOnFalse": true}),
		n("wait", "prompt", nil),
	))
	after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t1", "read": 1}), memberA)
	waitIdle(t, eng)
	old := execsOfVersion(t, eng, w1.ID)
	require.Len(t, old, 1)
	require.Equal(t, flow.ExecutionStarted, old[0].Status, "paused at the prompt")

	w2, err := eng.Revise(ctx, "w")
	require.NoError(t, err)
	require.Equal(t, "w", w2.Key)
	require.NotEqual(t, w1.ID, w2.ID)
	require.Equal(t, 2, w2.Version)
	require.False(t, w2.Current)
	require.False(t, w2.Enabled)
	require.Zero(t, w2.Executed)
	require.EqualValues(t, 1, w2.AllExecuted, "the key's counter is shared")
	require.Equal(t, w1.Config, w2.Config)
	require.Equal(t, w1.Nodes, w2.Nodes, "same nodes and node keys")

	require.NoError(t, eng.EnableVersion(ctx, w2.ID))
	v1, err := eng.WorkflowVersion(ctx, w1.ID)
	require.NoError(t, err)
	require.False(t, v1.Enabled)
	require.False(t, v1.Current)
	cur, err := eng.Workflow(ctx, "w")
	require.NoError(t, err)
	require.Equal(t, w2.ID, cur.ID)
	require.True(t, cur.Enabled)

	after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t2", "read": 1}), memberA)
	waitIdle(t, eng)
	nx := execsOfVersion(t, eng, w2.ID)
	require.Len(t, nx, 1)
	require.Equal(t, "w", nx[0].Key)
	js := jobsOf(t, eng, nx[0].ID)
	require.Len(t, js, 3)
	require.Equal(t, true, js[1].Result, "read + read = 2 on the revision")

	// The old version's paused execution resumes on the old version.
	pj := pendingJob(t, eng, old[0].ID)
	require.NoError(t, eng.Resume(ctx, pj.ID, flow.JobResolved, "ok"))
	waitIdle(t, eng)
	ox := execution(t, eng, old[0].ID)
	require.Equal(t, flow.ExecutionResolved, ox.Status)
	require.Equal(t, w1.ID, ox.WorkflowID)

	v1, err = eng.WorkflowVersion(ctx, w1.ID)
	require.NoError(t, err)
	v2, err := eng.WorkflowVersion(ctx, w2.ID)
	require.NoError(t, err)
	require.EqualValues(t, 1, v1.Executed)
	require.EqualValues(t, 1, v2.Executed)
	require.EqualValues(t, 2, v1.AllExecuted)
	require.EqualValues(t, 2, v2.AllExecuted)
	require.ElementsMatch(t, []string{"w", "w"}, keysOf(execsOf(t, eng, "w")))
}

// F.8 case 115: an executed version is frozen: config, nodes, sync and type
// cannot change (flow.ErrFrozen, not a validation error); enabled, title,
// description and options can. An unexecuted version can change anything.
func TestEngine_F8_115_FrozenAfterExecution(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t)
	w := save(t, eng, syncWF("w", "posts", n("e", "echo", nil)))
	w.Config.Appends = []string{"category"}
	_, err := eng.SaveWorkflow(ctx, *w)
	require.NoError(t, err, "not executed yet: config can change")

	after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	frozen, err := eng.Workflow(ctx, "w")
	require.NoError(t, err)
	require.True(t, frozen.Frozen())

	edits := map[string]func(*flow.Workflow){
		"config":     func(x *flow.Workflow) { x.Config.Appends = nil },
		"collection": func(x *flow.Workflow) { x.Config.Collection = "comments" },
		"nodes":      func(x *flow.Workflow) { x.Nodes = append(x.Nodes, n("e2", "echo", nil)) },
		"node config": func(x *flow.Workflow) {
			x.Nodes = []flow.Node{n("e", "echoVariable", map[string]any{"variable": "x"})}
		},
		"sync": func(x *flow.Workflow) { x.Sync = false },
	}
	for name, edit := range edits {
		x := *frozen.Clone()
		edit(&x)
		_, err := eng.SaveWorkflow(ctx, x)
		require.ErrorIs(t, err, flow.ErrFrozen, name)
		require.NotErrorIs(t, err, flow.ErrInvalidWorkflow, name)
		// Also without the version id: the save goes to the current version.
		x.ID = ""
		_, err = eng.SaveWorkflow(ctx, x)
		require.ErrorIs(t, err, flow.ErrFrozen, name)
	}
	got, err := eng.Workflow(ctx, "w")
	require.NoError(t, err)
	require.Equal(t, frozen.Config, got.Config, "nothing changed")
	require.Equal(t, frozen.Nodes, got.Nodes)

	x := *frozen.Clone()
	x.Title, x.Description = "renamed", "about"
	x.Options = flow.Options{Timeout: 1000, StackLimit: 2}
	x.Enabled = false
	got, err = eng.SaveWorkflow(ctx, x)
	require.NoError(t, err)
	require.Equal(t, "renamed", got.Title)
	require.Equal(t, int64(1000), got.Options.Timeout)
	require.False(t, got.Enabled)
	require.EqualValues(t, 1, got.Executed, "the store keeps its counters")
}

// F.8 case 116: Execute runs the current version once, synchronously, even
// when it is disabled or async. (autoRevision is not implemented.)
func TestEngine_F8_116_Execute(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t) // not started: Execute needs no workers
	w := asyncWF("w", "posts", n("e", "echoVariable", map[string]any{"variable": "{{$context.data.title}} by {{$context.user.nickname}} as {{$context.roleName}}"}))
	w.Enabled = false
	save(t, eng, w)
	p := record(t, eng, "posts", flow.Record{"title": "t1"})
	x, err := eng.Execute(ctx, "w", p, memberA)
	require.NoError(t, err)
	require.Equal(t, flow.ExecutionResolved, x.Status)
	require.True(t, x.Manually)
	require.True(t, x.Sync)
	js := jobsOf(t, eng, x.ID)
	require.Len(t, js, 1)
	require.Equal(t, "t1 by a as member", js[0].Result)
	got, err := eng.Workflow(ctx, "w")
	require.NoError(t, err)
	require.EqualValues(t, 1, got.Executed)
	require.False(t, got.Enabled, "Execute does not enable")
	vs, err := eng.Workflows(ctx, storageFilterKey("w"))
	require.NoError(t, err)
	require.Len(t, vs, 1, "no revision is created")

	// An async workflow with a pausing node pauses; Execute returns the paused
	// execution (no SyncError).
	save(t, eng, asyncWF("p", "posts", n("wait", "prompt", nil)))
	px, err := eng.Execute(ctx, "p", p, memberA)
	require.NoError(t, err)
	require.Equal(t, flow.ExecutionStarted, px.Status)
}

// Resume and CancelExecution: one resume wins, ended executions refuse both.
func TestEngine_ResumeAndCancel(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t)
	save(t, eng, asyncWF("w", "posts", n("p", "prompt", nil), n("e", "echo", nil)))
	p := record(t, eng, "posts", flow.Record{"title": "t1"})

	x, err := eng.Execute(ctx, "w", p, memberA)
	require.NoError(t, err)
	require.Equal(t, flow.ExecutionStarted, x.Status)
	pj := pendingJob(t, eng, x.ID)
	require.NoError(t, eng.Resume(ctx, pj.ID, flow.JobResolved, 7))
	require.ErrorIs(t, eng.Resume(ctx, pj.ID, flow.JobResolved, 8), flow.ErrConflict, "only one resume of a job wins")
	require.NoError(t, eng.Start(ctx))
	t.Cleanup(func() { _ = eng.Stop(context.Background()) })
	waitIdle(t, eng)
	x = execution(t, eng, x.ID)
	require.Equal(t, flow.ExecutionResolved, x.Status)
	require.Equal(t, asJSON(t, []any{7, 7}), asJSON(t, jobResults(jobsOf(t, eng, x.ID))))
	require.ErrorIs(t, eng.CancelExecution(ctx, x.ID), actiontrigger.ErrExecutionEnded)

	y, err := eng.Execute(ctx, "w", p, memberA)
	require.NoError(t, err)
	require.NoError(t, eng.CancelExecution(ctx, y.ID))
	y = execution(t, eng, y.ID)
	require.Equal(t, flow.ExecutionAborted, y.Status)
	require.Equal(t, flow.ReasonManualCancel, y.Reason)
	js := jobsOf(t, eng, y.ID)
	require.Equal(t, []flow.JobStatus{flow.JobAborted}, jobStatuses(js))
	require.ErrorIs(t, eng.CancelExecution(ctx, y.ID), actiontrigger.ErrExecutionEnded)
	require.ErrorIs(t, eng.Resume(ctx, js[0].ID, flow.JobResolved, 1), actiontrigger.ErrExecutionEnded)

	// A queued execution can be canceled before a worker starts it.
	require.NoError(t, eng.Stop(ctx))
	res := after(t, eng, createAction("posts", "w"), p, memberA)
	q := res.Executions[0]
	require.Equal(t, flow.ExecutionQueueing, q.Status)
	require.NoError(t, eng.CancelExecution(ctx, q.ID))
	require.NoError(t, eng.Start(ctx))
	waitIdle(t, eng)
	q = execution(t, eng, q.ID)
	require.Equal(t, flow.ExecutionAborted, q.Status)
	require.Empty(t, jobsOf(t, eng, q.ID), "a canceled queued execution never runs")
}

// Workers run async executions in parallel.
func TestEngine_AsyncRunsInParallel(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started(), withSleepNode())
	save(t, eng, asyncWF("w", "posts", n("s", "sleep", map[string]any{"ms": 200})))
	recs := []map[string]any{}
	for i := 1; i <= 4; i++ {
		recs = append(recs, map[string]any{"id": i})
	}
	begin := time.Now()
	after(t, eng, createAction("posts", "w"), recs, memberA)
	waitIdle(t, eng)
	require.Less(t, time.Since(begin), 700*time.Millisecond, "4 x 200ms on 4 workers")
	xs := execsOf(t, eng, "w")
	require.Len(t, xs, 4)
	for _, x := range xs {
		require.Equal(t, flow.ExecutionResolved, x.Status)
	}
}

// Deleting a workflow aborts its paused executions (and their pending jobs), so
// nothing waits forever on a workflow that no longer exists; finished ones stay.
func TestEngine_DeleteWorkflowAbortsPausedExecutions(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started())
	save(t, eng, asyncWF("w", "posts", n("p", "prompt", nil)))
	save(t, eng, asyncWF("done", "posts", n("e", "echo", nil)))
	res := after(t, eng, createAction("posts", "w,done"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	waitIdle(t, eng)
	paused, finished := res.Executions[0].ID, res.Executions[1].ID
	require.Equal(t, flow.ExecutionStarted, execution(t, eng, paused).Status)
	job := pendingJob(t, eng, paused)

	require.NoError(t, eng.DeleteWorkflow(ctx, "w"))
	x := execution(t, eng, paused)
	require.Equal(t, flow.ExecutionAborted, x.Status)
	require.Equal(t, flow.ReasonWorkflowDeleted, x.Reason)
	require.Equal(t, flow.JobAborted, jobsOf(t, eng, paused)[0].Status)
	require.ErrorIs(t, eng.Resume(ctx, job.ID, flow.JobResolved, nil), actiontrigger.ErrExecutionEnded)

	require.NoError(t, eng.DeleteWorkflow(ctx, "done"))
	require.Equal(t, flow.ExecutionResolved, execution(t, eng, finished).Status, "finished executions are kept as they were")
	require.ErrorIs(t, eng.DeleteWorkflow(ctx, "w"), flow.ErrNotFound)
}

// DeleteVersion removes one old or draft version and nothing else; it refuses
// the current version and a version with a paused execution.
func TestEngine_DeleteVersion(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started())
	v1 := save(t, eng, asyncWF("w", "posts", n("p", "prompt", nil)))
	res := after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	waitIdle(t, eng)
	paused := res.Executions[0].ID

	draft, err := eng.Revise(ctx, "w")
	require.NoError(t, err)
	require.ErrorIs(t, eng.DeleteVersion(ctx, v1.ID), flow.ErrConflict, "the current version goes with its key")
	require.NoError(t, eng.DeleteVersion(ctx, draft.ID))
	_, err = eng.Store().GetWorkflow(ctx, draft.ID)
	require.ErrorIs(t, err, flow.ErrNotFound)
	require.ErrorIs(t, eng.DeleteVersion(ctx, draft.ID), flow.ErrNotFound)

	v2, err := eng.Revise(ctx, "w")
	require.NoError(t, err)
	require.NoError(t, eng.EnableVersion(ctx, v2.ID))
	require.ErrorIs(t, eng.DeleteVersion(ctx, v1.ID), flow.ErrConflict, "v1 still has a paused execution")
	require.NoError(t, eng.CancelExecution(ctx, paused))
	require.NoError(t, eng.DeleteVersion(ctx, v1.ID))
	require.Equal(t, flow.ExecutionAborted, execution(t, eng, paused).Status, "its finished executions are kept")

	// The key keeps triggering through v2.
	res = after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t2"}), memberA)
	require.Equal(t, v2.ID, res.Executions[0].WorkflowID)
}

// Engines sharing one store see each other's workflow changes: explicitly
// through Refresh, and periodically with Config.RefreshInterval.
func TestEngine_RefreshSeesOtherProcesses(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	shared := memory.New()
	a := newEngine(t, withConfig(func(c *actiontrigger.Config) { c.Store = shared; c.RefreshInterval = 20 * time.Millisecond }), started())
	b := newEngine(t, withConfig(func(c *actiontrigger.Config) { c.Store = shared }))

	save(t, b, syncWF("w", "posts", n("e", "echo", nil)))
	eventually(t, 5*time.Second, func() bool {
		res, err := a.AfterAction(ctx, createAction("posts", "w"), flow.Record{"id": 1, "title": "t"}, memberA)
		return err == nil && len(res.Executions) == 1
	}, "engine a never saw the workflow engine b saved")

	require.NoError(t, b.Disable(ctx, "w"))
	require.NoError(t, a.Refresh(ctx))
	_, err := a.AfterAction(ctx, createAction("posts", "w"), flow.Record{"id": 1, "title": "t"}, memberA)
	require.ErrorIs(t, err, actiontrigger.ErrBinding, "a disabled workflow no longer runs after Refresh")
}
