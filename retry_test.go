package actiontrigger_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
	"github.com/actiontrigger/actiontrigger/storage"
)

// flaky is a node type that fails a scripted number of times per execution,
// then resolves with the attempt it saw and its idempotency key.
type flaky struct {
	mu    sync.Mutex
	fails map[string]int // execution id -> failures so far
	// failFirst is how many runs of each execution fail.
	failFirst int
	// errFor, if set, makes the error of failing run n (1-based).
	errFor func(n int) error
	keys   []string
}

func (f *flaky) Compile(*nodes.CompileContext, *flow.Node) (any, error) { return nil, nil }

func (f *flaky) Run(_ context.Context, r *nodes.RunContext, _ *flow.Job) (nodes.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys = append(f.keys, r.IdempotencyKey())
	n := f.fails[r.Execution.ID]
	if n < f.failFirst {
		f.fails[r.Execution.ID] = n + 1
		if f.errFor != nil {
			return nodes.Result{}, f.errFor(n + 1)
		}
		return nodes.Result{}, fmt.Errorf("gateway down (run %d)", n+1)
	}
	return nodes.Resolved(map[string]any{"attempt": r.Attempt()}), nil
}

func withFlaky(f *flaky) engineOpt {
	if f.fails == nil {
		f.fails = map[string]int{}
	}
	return withNodes(func(r *nodes.Registry) { r.MustRegister("flaky", f) })
}

func fastRetry(max int) *flow.RetryPolicy {
	return &flow.RetryPolicy{MaxAttempts: max, InitialInterval: 1, MaxInterval: 5}
}

func retryWF(key string, p *flow.RetryPolicy) flow.Workflow {
	w := asyncWF(key, "posts",
		n("before", "echo", nil),
		n("f", "flaky", nil),
	)
	w.Options.Retry = p
	return w
}

func waitEnded(t *testing.T, eng *actiontrigger.Engine, id string) *flow.Execution {
	t.Helper()
	var x *flow.Execution
	eventually(t, 10*time.Second, func() bool {
		x = execution(t, eng, id)
		return x.Status.Ended()
	}, "execution %s did not end", id)
	return x
}

func TestRetry_NodeFailsTwiceThenSucceeds(t *testing.T) {
	t.Parallel()
	f := &flaky{failFirst: 2}
	eng := newEngine(t, started(), withFlaky(f))
	save(t, eng, retryWF("w", fastRetry(3)))
	res := after(t, eng, createAction("posts", "w"), flow.Record{"id": 1}, memberA)
	x := waitEnded(t, eng, res.Executions[0].ID)
	require.Equal(t, flow.ExecutionResolved, x.Status)
	js := jobsOf(t, eng, x.ID)
	require.Len(t, js, 2, "one job per node: the retried node keeps its job")
	j := js[1]
	require.Equal(t, flow.JobResolved, j.Status)
	require.Equal(t, map[string]any{"attempt": 3.0}, asJSON(t, j.Result))
	require.Len(t, j.Attempts, 2)
	for i, a := range j.Attempts {
		require.Equal(t, i+1, a.N)
		require.Equal(t, fmt.Sprintf("gateway down (run %d)", i+1), a.Error)
		require.False(t, a.At.IsZero())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Equal(t, []string{x.ID + "/f", x.ID + "/f", x.ID + "/f"}, f.keys, "one idempotency key across attempts")
}

func TestRetry_AttemptsRunOut(t *testing.T) {
	t.Parallel()
	f := &flaky{failFirst: 100}
	eng := newEngine(t, started(), withFlaky(f))
	save(t, eng, retryWF("w", fastRetry(3)))
	res := after(t, eng, createAction("posts", "w"), flow.Record{"id": 1}, memberA)
	x := waitEnded(t, eng, res.Executions[0].ID)
	require.Equal(t, flow.ExecutionError, x.Status)
	js := jobsOf(t, eng, x.ID)
	require.Len(t, js, 2)
	require.Equal(t, flow.JobError, js[1].Status)
	require.Equal(t, map[string]any{"message": "gateway down (run 3)"}, asJSON(t, js[1].Result), "the last error")
	require.Len(t, js[1].Attempts, 3)
	require.Equal(t, 1, x.Attempt, "three runs, but waiting out a backoff is not a claim: only the last run's claim counts")
}

func TestRetry_PermanentErrorIsNotRetried(t *testing.T) {
	t.Parallel()
	f := &flaky{failFirst: 100, errFor: func(int) error { return nodes.Permanent(errors.New("card declined")) }}
	eng := newEngine(t, started(), withFlaky(f))
	save(t, eng, retryWF("w", fastRetry(5)))
	res := after(t, eng, createAction("posts", "w"), flow.Record{"id": 1}, memberA)
	x := waitEnded(t, eng, res.Executions[0].ID)
	require.Equal(t, flow.ExecutionError, x.Status)
	js := jobsOf(t, eng, x.ID)
	require.Len(t, js[1].Attempts, 1)
	require.Equal(t, "card declined", js[1].Attempts[0].Error)
}

func TestRetry_NodePolicyOverridesWorkflow(t *testing.T) {
	t.Parallel()
	f := &flaky{failFirst: 100}
	eng := newEngine(t, started(), withFlaky(f))
	w := retryWF("w", fastRetry(5))
	w.Nodes[1].Retry = &flow.RetryPolicy{MaxAttempts: 1}
	save(t, eng, w)
	res := after(t, eng, createAction("posts", "w"), flow.Record{"id": 1}, memberA)
	x := waitEnded(t, eng, res.Executions[0].ID)
	require.Equal(t, flow.ExecutionError, x.Status)
	require.Len(t, jobsOf(t, eng, x.ID)[1].Attempts, 1)
}

func TestRetry_SnoozeDoesNotUseAnAttempt(t *testing.T) {
	t.Parallel()
	f := &flaky{failFirst: 3, errFor: func(int) error { return nodes.Snooze(time.Millisecond) }}
	eng := newEngine(t, started(), withFlaky(f))
	save(t, eng, retryWF("w", fastRetry(1)))
	res := after(t, eng, createAction("posts", "w"), flow.Record{"id": 1}, memberA)
	x := waitEnded(t, eng, res.Executions[0].ID)
	require.Equal(t, flow.ExecutionResolved, x.Status)
	j := jobsOf(t, eng, x.ID)[1]
	require.Equal(t, 3, j.Snoozes)
	require.Empty(t, j.Attempts)
	require.Equal(t, map[string]any{"attempt": 1.0}, asJSON(t, j.Result))

	// Past the cap, a snooze is a failed attempt.
	f2 := &flaky{failFirst: 100, errFor: func(int) error { return nodes.Snooze(time.Millisecond) }}
	eng2 := newEngine(t, started(), withFlaky(f2))
	save(t, eng2, retryWF("w", &flow.RetryPolicy{MaxAttempts: 1, MaxSnoozes: 2}))
	res = after(t, eng2, createAction("posts", "w"), flow.Record{"id": 1}, memberA)
	x = waitEnded(t, eng2, res.Executions[0].ID)
	require.Equal(t, flow.ExecutionError, x.Status)
	j = jobsOf(t, eng2, x.ID)[1]
	require.Equal(t, 2, j.Snoozes)
	require.Contains(t, j.Attempts[0].Error, "more than 2 times")
}

func TestRetry_PolicyValidatedAtSave(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, withFlaky(&flaky{}))
	for _, p := range []*flow.RetryPolicy{
		{MaxAttempts: 0}, {MaxAttempts: 3, Multiplier: 0.5}, {MaxAttempts: 3, Jitter: 2},
		{MaxAttempts: 3, InitialInterval: 1000, MaxInterval: 10}, {MaxAttempts: 3, InitialInterval: -1},
	} {
		_, err := eng.SaveWorkflow(testCtx(t), retryWF("w", p))
		require.ErrorIs(t, err, flow.ErrInvalidWorkflow, "%+v", p)
		require.ErrorContains(t, err, "options.retry")
	}
	w := retryWF("n", nil)
	w.Nodes[1].Retry = &flow.RetryPolicy{MaxAttempts: -1}
	_, err := eng.SaveWorkflow(testCtx(t), w)
	require.ErrorIs(t, err, flow.ErrInvalidWorkflow)
	require.ErrorContains(t, err, `node "f"`)

	// A sync workflow fails at once: a policy on it is refused.
	sw := syncWF("s", "posts", n("f", "flaky", nil))
	sw.Options.Retry = fastRetry(3)
	_, err = eng.SaveWorkflow(testCtx(t), sw)
	require.ErrorIs(t, err, flow.ErrInvalidWorkflow)
	require.ErrorContains(t, err, "sync")
}

func TestEngineRetry_FromTheFailedNode(t *testing.T) {
	t.Parallel()
	f := &flaky{failFirst: 1}
	eng := newEngine(t, started(), withFlaky(f))
	save(t, eng, retryWF("w", nil)) // no policy: fails at once
	res := after(t, eng, createAction("posts", "w"), flow.Record{"id": 1}, memberA)
	x := waitEnded(t, eng, res.Executions[0].ID)
	require.Equal(t, flow.ExecutionError, x.Status)
	before := jobsOf(t, eng, x.ID)

	_, err := eng.Retry(testCtx(t), x.ID)
	require.NoError(t, err)
	x = waitEnded(t, eng, x.ID)
	require.Equal(t, flow.ExecutionResolved, x.Status)
	js := jobsOf(t, eng, x.ID)
	require.Len(t, js, 2)
	require.Equal(t, before[0].ID, js[0].ID, "the jobs before the failed node are kept")
	require.Equal(t, before[0].UpdatedAt, js[0].UpdatedAt, "and not run again")
	require.Equal(t, before[1].ID, js[1].ID, "the failed node runs again on its job")
	require.Equal(t, flow.JobResolved, js[1].Status)
	require.Len(t, js[1].Attempts, 1)
	require.True(t, js[1].Attempts[0].Retried)
	require.Equal(t, map[string]any{"attempt": 2.0}, asJSON(t, js[1].Result))

	// Ended by a decision, or not ended: refused.
	_, err = eng.Retry(testCtx(t), x.ID)
	require.ErrorIs(t, err, actiontrigger.ErrNotRetryable)
	_, err = eng.Retry(testCtx(t), "nope")
	require.ErrorIs(t, err, flow.ErrNotFound)
}

func TestEngineRetry_RefusesDecisions(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	save(t, eng, asyncWF("w", "posts", n("c", "condition", map[string]any{"engine": "expr", "expression": "false", "rejectOnFalse": true})))
	res := after(t, eng, createAction("posts", "w"), flow.Record{"id": 1}, memberA)
	x := waitEnded(t, eng, res.Executions[0].ID)
	require.Equal(t, flow.ExecutionFailed, x.Status)
	_, err := eng.Retry(testCtx(t), x.ID)
	require.ErrorIs(t, err, actiontrigger.ErrNotRetryable)
	require.ErrorContains(t, err, "FAILED")
}

func TestRetryExecutions_ByWorkflow(t *testing.T) {
	t.Parallel()
	f := &flaky{failFirst: 1}
	eng := newEngine(t, started(), withFlaky(f))
	save(t, eng, retryWF("w", nil))
	var ids []string
	for i := 1; i <= 5; i++ {
		res := after(t, eng, createAction("posts", "w"), flow.Record{"id": i}, memberA)
		ids = append(ids, res.Executions[0].ID)
	}
	for _, id := range ids {
		require.Equal(t, flow.ExecutionError, waitEnded(t, eng, id).Status)
	}
	_, err := eng.RetryExecutions(testCtx(t), actiontrigger.RetryFilter{})
	require.ErrorIs(t, err, actiontrigger.ErrNotRetryable)
	n, err := eng.RetryExecutions(testCtx(t), actiontrigger.RetryFilter{WorkflowKey: "w"})
	require.NoError(t, err)
	require.Equal(t, 5, n)
	for _, id := range ids {
		require.Equal(t, flow.ExecutionResolved, waitEnded(t, eng, id).Status)
	}
	n, err = eng.RetryExecutions(testCtx(t), actiontrigger.RetryFilter{WorkflowKey: "w"})
	require.NoError(t, err)
	require.Zero(t, n)
}

// Each backoff timer this process arms wakes its workers on time, without the
// fallback poll: an earlier timer armed later must not drop a later one
// (the pool kept only the earliest alarm, so the slow execution below
// waited for a poll, here an hour away).
func TestRetry_EveryBackoffTimerFiresWithoutPolling(t *testing.T) {
	t.Parallel()
	f := &flaky{failFirst: 1}
	eng := newEngine(t, started(), withFlaky(f), withConfig(func(c *actiontrigger.Config) { c.PollInterval = time.Hour }))
	save(t, eng, retryWF("slow", &flow.RetryPolicy{MaxAttempts: 2, InitialInterval: 300, MaxInterval: 300}))
	save(t, eng, retryWF("fast", &flow.RetryPolicy{MaxAttempts: 2, InitialInterval: 10, MaxInterval: 10}))
	slow := after(t, eng, createAction("posts", "slow"), flow.Record{"id": 1}, memberA).Executions[0].ID
	eventually(t, 10*time.Second, func() bool {
		return !execution(t, eng, slow).RunAfter.IsZero()
	}, "the slow execution's first attempt did not fail")
	fast := after(t, eng, createAction("posts", "fast"), flow.Record{"id": 2}, memberA).Executions[0].ID
	require.Equal(t, flow.ExecutionResolved, waitEnded(t, eng, fast).Status)
	x := waitEnded(t, eng, slow)
	require.Equal(t, flow.ExecutionResolved, x.Status)
	require.Len(t, jobsOf(t, eng, slow)[1].Attempts, 1)
}

// A run that retried a node, went on past it and was cut off (its process
// died) before its end commits leaves the execution as claimed: STARTED,
// ResumeJobID still naming the retried job, the jobs after it committed
// (each node of a non-atomic run commits on its own). Its recovery goes on
// after the last committed job; resuming the named job again ran the nodes
// after it a second time.
func TestRetry_RecoveryAfterARerunWentOnDoesNotRunNodesTwice(t *testing.T) {
	t.Parallel()
	st := testStore(t)
	f := &flaky{failFirst: 1}
	eng := newEngine(t, started(), withFlaky(f), withConfig(func(c *actiontrigger.Config) { c.Store = st }))
	w := retryWF("w", fastRetry(3))
	w.Nodes = append(w.Nodes, n("after", "echo", nil))
	require.False(t, save(t, eng, w).Atomic, "the flaky node is not atomic: each node commits on its own")
	res := after(t, eng, createAction("posts", "w"), flow.Record{"id": 1}, memberA)
	x := waitEnded(t, eng, res.Executions[0].ID)
	require.Equal(t, flow.ExecutionResolved, x.Status)
	js := jobsOf(t, eng, x.ID)
	require.Len(t, js, 3)
	require.Len(t, js[1].Attempts, 1)

	// Rewind it to what a crash before the run's end leaves: as claimed to
	// rerun the flaky job, under a lease of a dead process.
	ctx := testCtx(t)
	u := x.Clone()
	u.Status, u.EndedAt = flow.ExecutionStarted, time.Time{}
	u.Runnable, u.ResumeJobID, u.RunAfter = true, js[1].ID, time.Now().Add(-time.Second)
	u.LeaseOwner, u.LeaseUntil, u.Attempt = "dead-process", time.Now().Add(-time.Millisecond), 1
	require.NoError(t, st.UpdateExecution(ctx, u, storage.ExecutionExpect{Status: flow.ExecutionResolved}))

	eventually(t, 10*time.Second, func() bool {
		return execution(t, eng, x.ID).Status.Ended()
	}, "the recovered execution did not end")
	x = execution(t, eng, x.ID)
	require.Equal(t, flow.ExecutionResolved, x.Status)
	require.False(t, x.Runnable)
	got := jobsOf(t, eng, x.ID)
	var keys []string
	for _, j := range got {
		keys = append(keys, j.NodeKey)
	}
	require.Equal(t, []string{"before", "f", "after"}, keys, "no node runs twice")
	require.Equal(t, js[2].UpdatedAt, got[2].UpdatedAt, "the last job is kept as committed")
}

// After Engine.Retry the node's retry policy counts its attempts anew, on
// every store: the SQL stores dropped Attempt.Retried, so the attempts of
// the first round used up the policy of the second.
func TestEngineRetry_PolicyCountsAnew(t *testing.T) {
	t.Parallel()
	f := &flaky{failFirst: 3}
	eng := newEngine(t, started(), withFlaky(f))
	save(t, eng, retryWF("w", fastRetry(2)))
	res := after(t, eng, createAction("posts", "w"), flow.Record{"id": 1}, memberA)
	x := waitEnded(t, eng, res.Executions[0].ID)
	require.Equal(t, flow.ExecutionError, x.Status)
	require.Len(t, jobsOf(t, eng, x.ID)[1].Attempts, 2)

	_, err := eng.Retry(testCtx(t), x.ID)
	require.NoError(t, err)
	x = waitEnded(t, eng, x.ID)
	require.Equal(t, flow.ExecutionResolved, x.Status, "run 3 fails, and the policy allows a second attempt in this round")
	j := jobsOf(t, eng, x.ID)[1]
	require.Equal(t, map[string]any{"attempt": 4.0}, asJSON(t, j.Result))
	require.Len(t, j.Attempts, 3)
	require.Equal(t, []bool{false, true, false}, []bool{j.Attempts[0].Retried, j.Attempts[1].Retried, j.Attempts[2].Retried})
}
