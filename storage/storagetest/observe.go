package storagetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// traceparent is a W3C trace context, as package otelobserve stores it.
const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// testTrace checks that Execution.Trace is kept as written by every write and
// read of an execution: insert, get, list, claim, update, batch update.
func testTrace(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Parallel()
	s, ctx := newStore(t), t.Context()
	w := seedWorkflow(t, s)
	traced := newExecution(w, 1)
	traced.Trace = traceparent
	plain := newExecution(w, 2)
	mustInsertExecution(t, s, traced)
	mustInsertExecution(t, s, plain)

	got, err := s.GetExecution(ctx, traced.ID)
	require.NoError(t, err)
	require.Equal(t, traceparent, got.Trace)
	requireExecution(t, traced, got)
	got, err = s.GetExecution(ctx, plain.ID)
	require.NoError(t, err)
	require.Empty(t, got.Trace)

	list, err := s.ListExecutions(ctx, storage.ExecutionFilter{WorkflowID: w.ID})
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, traceparent, list[0].Trace)
	require.Empty(t, list[1].Trace)

	claimed := claim(t, s, "A", 10, at(100), time.Hour)
	require.Len(t, claimed, 2)
	require.Equal(t, traceparent, claimed[0].Trace, "a claim returns the trace the worker's run joins")
	require.Empty(t, claimed[1].Trace)

	// An update replaces every field, the trace too.
	u := claimed[1].Clone()
	u.Trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	require.NoError(t, s.UpdateExecution(ctx, u, storage.ExecutionExpect{Status: flow.ExecutionQueueing, LeaseOwner: "A"}))
	got, err = s.GetExecution(ctx, u.ID)
	require.NoError(t, err)
	requireExecution(t, u, got)

	bu, ok := s.(storage.BatchUpdater)
	if !ok {
		return
	}
	// Kept (same document, same trace), and cleared.
	keep, cleared := claimed[0].Clone(), got.Clone()
	keep.Status, keep.StartedAt = flow.ExecutionStarted, at(200)
	cleared.Status, cleared.StartedAt, cleared.Trace = flow.ExecutionStarted, at(201), ""
	errs, err := bu.UpdateExecutions(ctx, []storage.ExecutionUpdate{
		{Execution: keep, Expect: storage.ExecutionExpect{Status: flow.ExecutionQueueing, LeaseOwner: "A"}, Prev: claimed[0]},
		{Execution: cleared, Expect: storage.ExecutionExpect{Status: flow.ExecutionQueueing, LeaseOwner: "A"}, Prev: got},
	})
	require.NoError(t, err)
	require.Equal(t, []error{nil, nil}, errs)
	for _, want := range []*flow.Execution{keep, cleared} {
		got, err := s.GetExecution(ctx, want.ID)
		require.NoError(t, err)
		requireExecution(t, want, got)
	}
}

// testQueueStats checks storage.QueueStats, for stores that implement it.
func testQueueStats(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Parallel()
	s, ctx := newStore(t), t.Context()
	qs, ok := s.(storage.QueueStats)
	if !ok {
		t.Skip("the store does not implement storage.QueueStats")
	}
	stats := func(now time.Time) storage.QueueStat {
		t.Helper()
		st, err := qs.QueueStats(ctx, now)
		require.NoError(t, err)
		st.Oldest = normTime(st.Oldest)
		return st
	}
	require.Equal(t, storage.QueueStat{}, stats(at(100)), "an empty store")

	w := seedWorkflow(t, s)
	now := at(100)
	// Claimed first, so that a claim of one takes it: leased until now+1h.
	leased := newExecution(w, 0)
	mustInsertExecution(t, s, leased)
	require.Len(t, claim(t, s, "A", 1, now, time.Hour), 1)
	// Queued at 1, made runnable again at 40 (a resume): due since 40.
	resumed := newExecution(w, 1)
	resumed.Status, resumed.UpdatedAt = flow.ExecutionStarted, at(40)
	// A retry backoff due at 30: the oldest due, though created after.
	backoff := newExecution(w, 2)
	backoff.Status, backoff.RunAfter = flow.ExecutionStarted, at(30)
	// A deadline in 5 s: scheduled.
	deadline := newExecution(w, 3)
	deadline.Status, deadline.RunAfter = flow.ExecutionStarted, at(5000)
	// Ended: not in the queue.
	ended := newExecution(w, 4)
	ended.Status, ended.Runnable, ended.EndedAt = flow.ExecutionResolved, false, at(4)
	for _, e := range []*flow.Execution{resumed, backoff, deadline, ended} {
		mustInsertExecution(t, s, e)
	}
	for i, status := range []flow.TaskStatus{flow.TaskPending, flow.TaskResolved, flow.TaskPending, flow.TaskRejected} {
		task := newTask(resumed, "job1", "u1", 10+i)
		task.Status = status
		require.NoError(t, s.InsertTask(ctx, task))
	}

	require.Equal(t, storage.QueueStat{Depth: 2, Oldest: at(30), Leased: 1, Scheduled: 1, PendingTasks: 2}, stats(now))
	// Before the backoff is due.
	require.Equal(t, storage.QueueStat{Depth: 1, Oldest: at(40), Leased: 1, Scheduled: 2, PendingTasks: 2}, stats(at(29)))
	// After the lease and the deadline ended: everything is due, the
	// leased one since it was queued.
	require.Equal(t, storage.QueueStat{Depth: 4, Oldest: at(0), PendingTasks: 2}, stats(now.Add(2*time.Hour)))

	// Claimed: leased, no longer in the depth.
	require.Len(t, claim(t, s, "B", 10, now, time.Minute), 2)
	require.Equal(t, storage.QueueStat{Leased: 3, Scheduled: 1, PendingTasks: 2}, stats(now))
}
