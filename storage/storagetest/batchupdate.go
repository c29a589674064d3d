package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// testBatchUpdate checks storage.BatchUpdater on stores that implement it:
// each update does exactly what UpdateExecution does.
func testBatchUpdate(t *testing.T, newStore func(t *testing.T) storage.Store) {
	// claimAll inserts n executions of a fresh workflow and claims them as A.
	claimAll := func(t *testing.T, s storage.Store, n int) (*flow.Workflow, []*flow.Execution) {
		t.Helper()
		w := seedWorkflow(t, s)
		for i := range n {
			mustInsertExecution(t, s, newExecution(w, i+1))
		}
		claimed, err := s.ClaimExecutions(t.Context(), storage.ClaimParams{Owner: "A", Limit: n, Now: at(100), LeaseUntil: at(100).Add(time.Minute)})
		require.NoError(t, err)
		require.Len(t, claimed, n)
		return w, claimed
	}
	// finish returns claimed e, resolved and released as a run ends.
	finish := func(e *flow.Execution, n int) *flow.Execution {
		u := e.Clone()
		u.Status, u.Runnable, u.LeaseOwner, u.LeaseUntil = flow.ExecutionResolved, false, "", time.Time{}
		u.StartedAt, u.EndedAt, u.UpdatedAt = at(200+n), at(300+n), at(300+n)
		u.ExpiresAt = at(400 + n)
		return u
	}
	batcher := func(t *testing.T, s storage.Store) storage.BatchUpdater {
		t.Helper()
		bu, ok := s.(storage.BatchUpdater)
		if !ok {
			t.Skip("the store does not implement storage.BatchUpdater")
		}
		return bu
	}
	get := func(t *testing.T, s storage.Store, id string) *flow.Execution {
		t.Helper()
		got, err := s.GetExecution(t.Context(), id)
		require.NoError(t, err)
		return got
	}

	t.Run("EachAsUpdateExecution", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		bu := batcher(t, s)
		w, cl := claimAll(t, s, 7)
		taken := newExecution(w, 50)
		taken.EventKey = "taken"
		mustInsertExecution(t, s, taken)
		// The status of cl[4] moved on under its owner.
		moved := cl[4].Clone()
		moved.Status = flow.ExecutionStarted
		require.NoError(t, s.UpdateExecution(ctx, moved, storage.ExecutionExpect{Status: flow.ExecutionQueueing, LeaseOwner: "A"}))

		us := make([]storage.ExecutionUpdate, 0, 8)
		want := make([]*flow.Execution, 0, 8)
		add := func(u storage.ExecutionUpdate, stored *flow.Execution) {
			us, want = append(us, u), append(want, stored)
		}
		expectA := storage.ExecutionExpect{Status: flow.ExecutionQueueing, LeaseOwner: "A"}
		// 0: context and stack kept as claimed.
		u0 := finish(cl[0], 0)
		add(storage.ExecutionUpdate{Execution: u0, Expect: expectA, Prev: cl[0]}, u0)
		// 1: a new context and stack, with Prev.
		u1 := finish(cl[1], 1)
		u1.Context = map[string]any{"data": map[string]any{"id": float64(99)}, "note": "<&>"}
		u1.Stack = []flow.StackFrame{{Key: "other", ExecutionID: "x"}, {Key: "more", ExecutionID: "y"}}
		u1.Reason, u1.Sync, u1.Manually, u1.Attempt, u1.ResumeJobID = "because", true, true, 5, "job-1"
		u1.LeaseOwner, u1.LeaseUntil, u1.Runnable = "A", at(900), true
		add(storage.ExecutionUpdate{Execution: u1, Expect: expectA, Prev: cl[1]}, u1)
		// 2: no Prev, no context nor stack any more, a new event key.
		u2 := finish(cl[2], 2)
		u2.Context, u2.Stack, u2.EventKey = nil, nil, "fresh"
		u2.Reason, u2.Sync, u2.Manually, u2.Attempt, u2.ResumeJobID = "why", true, true, 7, "job-9"
		add(storage.ExecutionUpdate{Execution: u2, Expect: expectA}, u2)
		// 3: the lease is B's, not A's: lost, unchanged.
		u3 := finish(cl[3], 3)
		add(storage.ExecutionUpdate{Execution: u3, Expect: storage.ExecutionExpect{Status: flow.ExecutionQueueing, LeaseOwner: "B"}, Prev: cl[3]}, cl[3])
		// 4: the status changed: a conflict, unchanged.
		u4 := finish(cl[4], 4)
		add(storage.ExecutionUpdate{Execution: u4, Expect: expectA, Prev: cl[4]}, moved)
		// 5: the event key of another execution: a duplicate, unchanged.
		u5 := finish(cl[5], 5)
		u5.EventKey = "taken"
		add(storage.ExecutionUpdate{Execution: u5, Expect: expectA, Prev: cl[5]}, cl[5])
		// 6: missing.
		missing := newExecution(w, 60)
		add(storage.ExecutionUpdate{Execution: missing, Expect: storage.ExecutionExpect{Status: flow.ExecutionQueueing}, Prev: missing}, nil)
		// 7: kept, without a lease check.
		u7 := finish(cl[6], 7)
		u7.Reason, u7.Sync, u7.Attempt, u7.CreatedAt = "kept", true, 9, at(1)
		add(storage.ExecutionUpdate{Execution: u7, Expect: storage.ExecutionExpect{Status: flow.ExecutionQueueing}, Prev: cl[6]}, u7)

		errs, err := bu.UpdateExecutions(ctx, us)
		require.NoError(t, err)
		require.Len(t, errs, len(us))
		for _, i := range []int{0, 1, 2, 7} {
			require.NoError(t, errs[i], "update %d", i)
		}
		requireErrorIs(t, errs[3], flow.ErrLeaseLost)
		requireErrorIs(t, errs[4], flow.ErrConflict)
		requireErrorIs(t, errs[5], flow.ErrDuplicate)
		requireErrorIs(t, errs[6], flow.ErrNotFound)
		for i, u := range us {
			if want[i] == nil {
				_, err := s.GetExecution(ctx, u.Execution.ID)
				requireErrorIs(t, err, flow.ErrNotFound)
				continue
			}
			requireExecution(t, want[i], get(t, s, u.Execution.ID))
		}
		// The moved event key is free again, the new one taken.
		again := newExecution(w, 70)
		again.EventKey = "fresh"
		requireErrorIs(t, s.InsertExecution(ctx, again), flow.ErrDuplicate)

		errs, err = bu.UpdateExecutions(ctx, nil)
		require.NoError(t, err)
		require.Empty(t, errs)
	})

	t.Run("InUnitOfWork", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		batcher(t, s)
		_, cl := claimAll(t, s, 6)
		expectA := storage.ExecutionExpect{Status: flow.ExecutionQueueing, LeaseOwner: "A"}
		updates := func(es []*flow.Execution) []storage.ExecutionUpdate {
			us := make([]storage.ExecutionUpdate, len(es))
			for i, e := range es {
				us[i] = storage.ExecutionUpdate{Execution: finish(e, i), Expect: expectA, Prev: e}
			}
			return us
		}
		run := func(us []storage.ExecutionUpdate) ([]error, error) {
			var errs []error
			err := s.InTx(storage.WithAllOrNothing(t.Context()), func(ctx context.Context, tx storage.Store) error {
				bu, ok := tx.(storage.BatchUpdater)
				require.True(t, ok, "the store of InTx implements storage.BatchUpdater too")
				var err error
				if errs, err = bu.UpdateExecutions(ctx, us); err != nil {
					return err
				}
				return errors.Join(errs...)
			})
			return errs, err
		}

		// Another owner took cl[4] over (its lease expired): A lost it, and
		// the unit of work rolls back every update.
		stolen, err := s.ClaimExecutions(t.Context(), storage.ClaimParams{Owner: "B", Limit: 10, Now: at(100).Add(2 * time.Minute), LeaseUntil: at(100).Add(3 * time.Minute)})
		require.NoError(t, err)
		require.Len(t, stolen, 6)
		us := updates(cl[3:6])
		errs, err := run(us)
		require.Error(t, err)
		require.Len(t, errs, 3)
		for _, e := range errs {
			requireErrorIs(t, e, flow.ErrLeaseLost)
		}
		for _, e := range stolen[3:6] {
			requireExecution(t, e, get(t, s, e.ID))
		}

		// B holds them all now; one is lost to C: nothing is written.
		expectA.LeaseOwner = "B"
		us = updates(stolen)
		lost := stolen[2].Clone()
		lost.LeaseOwner = "C"
		require.NoError(t, s.UpdateExecution(t.Context(), lost, storage.ExecutionExpect{Status: flow.ExecutionQueueing, LeaseOwner: "B"}))
		errs, err = run(us)
		require.Error(t, err)
		for i, e := range errs {
			if i == 2 {
				requireErrorIs(t, e, flow.ErrLeaseLost)
			} else {
				require.NoError(t, e, "update %d", i)
			}
		}
		for i, e := range stolen {
			if i == 2 {
				e = lost
			}
			requireExecution(t, e, get(t, s, e.ID))
		}

		// Without it, the others commit together.
		us = append(us[:2:2], us[3:]...)
		errs, err = run(us)
		require.NoError(t, err)
		require.Len(t, errs, 5)
		for _, u := range us {
			requireExecution(t, u.Execution, get(t, s, u.Execution.ID))
		}
	})

	t.Run("Distinct", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		bu := batcher(t, s)
		_, cl := claimAll(t, s, 1)
		u := storage.ExecutionUpdate{Execution: finish(cl[0], 0), Expect: storage.ExecutionExpect{Status: flow.ExecutionQueueing, LeaseOwner: "A"}, Prev: cl[0]}
		_, err := bu.UpdateExecutions(ctx, []storage.ExecutionUpdate{u, u})
		require.Error(t, err)
		requireExecution(t, cl[0], get(t, s, cl[0].ID))
	})
}
