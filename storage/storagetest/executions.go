package storagetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

func testExecutions(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Run("InsertGet", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		w := seedWorkflow(t, s)
		e := newExecution(w, 1)
		e.EventKey = "event-1"
		e.Status = flow.ExecutionStarted
		e.Reason = flow.ReasonTimeout
		e.Sync, e.Manually = true, true
		e.Stack = []flow.StackFrame{{Key: "a", ExecutionID: "ea"}, {Key: "b", ExecutionID: "eb"}}
		e.ResumeJobID = "job-1"
		e.LeaseOwner, e.LeaseUntil = "owner", at(500)
		e.Attempt = 3
		e.StartedAt, e.ExpiresAt, e.EndedAt = at(2), at(3), at(4)
		require.NoError(t, s.InsertExecution(ctx, e))

		got, err := s.GetExecution(ctx, e.ID)
		require.NoError(t, err)
		requireExecution(t, e, got)

		_, err = s.GetExecution(ctx, newID())
		requireErrorIs(t, err, flow.ErrNotFound)
	})

	t.Run("CountsExecutions", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		v1 := newWorkflow("k", 1)
		v1.Current = false
		v2 := newWorkflow("k", 2)
		other := newWorkflow("other", 3)
		for _, w := range []*flow.Workflow{v1, v2, other} {
			mustInsertWorkflow(t, s, w)
		}
		mustInsertExecution(t, s, newExecution(v1, 4))
		mustInsertExecution(t, s, newExecution(v1, 5))
		mustInsertExecution(t, s, newExecution(v2, 6))

		for _, tc := range []struct {
			w             *flow.Workflow
			executed, all int64
		}{{v1, 2, 3}, {v2, 1, 3}, {other, 0, 0}} {
			got, err := s.GetWorkflow(ctx, tc.w.ID)
			require.NoError(t, err)
			require.Equal(t, tc.executed, got.Executed, "Executed of version %d of %s", tc.w.Version, tc.w.Key)
			require.Equal(t, tc.all, got.AllExecuted, "AllExecuted of version %d of %s", tc.w.Version, tc.w.Key)
		}
		ws, err := s.ListWorkflows(ctx, storage.WorkflowFilter{Key: "k"})
		require.NoError(t, err)
		require.Len(t, ws, 2)
		require.Equal(t, []int64{2, 1}, []int64{ws[0].Executed, ws[1].Executed})
		require.Equal(t, []int64{3, 3}, []int64{ws[0].AllExecuted, ws[1].AllExecuted})
	})

	t.Run("ConcurrentCounts", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		v1 := newWorkflow("k", 1)
		v1.Current = false
		v2 := newWorkflow("k", 2)
		mustInsertWorkflow(t, s, v1)
		mustInsertWorkflow(t, s, v2)
		// Writers insert executions of both versions at once: alone, several
		// in one unit of work (as group commit does), and in units of work
		// that roll back (not counted).
		const writers, rounds = 8, 6
		var want1, want2 atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, writers*rounds)
		for g := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range rounds {
					n := g*100 + r
					var err error
					switch r % 3 {
					case 0:
						if err = s.InsertExecution(ctx, newExecution(v2, n)); err == nil {
							want2.Add(1)
						}
					case 1:
						err = s.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
							for _, w := range []*flow.Workflow{v2, v1, v2} {
								if err := tx.InsertExecution(ctx, newExecution(w, n)); err != nil {
									return err
								}
							}
							return nil
						})
						if err == nil {
							want1.Add(1)
							want2.Add(2)
						}
					case 2:
						err = s.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
							if err := tx.InsertExecution(ctx, newExecution(v1, n)); err != nil {
								return err
							}
							return errBoom
						})
						if errors.Is(err, errBoom) {
							err = nil
						}
					}
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		all := want1.Load() + want2.Load()
		for _, tc := range []struct {
			w    *flow.Workflow
			want int64
		}{{v1, want1.Load()}, {v2, want2.Load()}} {
			got, err := s.GetWorkflow(ctx, tc.w.ID)
			require.NoError(t, err)
			require.Equal(t, tc.want, got.Executed, "Executed of version %d", tc.w.Version)
			require.Equal(t, all, got.AllExecuted, "AllExecuted of version %d", tc.w.Version)
		}
		ws, err := s.ListWorkflows(ctx, storage.WorkflowFilter{Key: "k"})
		require.NoError(t, err)
		require.Equal(t, []int64{want1.Load(), want2.Load()}, []int64{ws[0].Executed, ws[1].Executed})
		es, err := s.ListExecutions(ctx, storage.ExecutionFilter{Key: "k"})
		require.NoError(t, err)
		require.Len(t, es, int(all), "every counted execution is stored")
	})

	t.Run("MissingWorkflow", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		e := newExecution(newWorkflow("k", 1), 1)
		requireErrorIs(t, s.InsertExecution(ctx, e), flow.ErrNotFound)
		_, err := s.GetExecution(ctx, e.ID)
		requireErrorIs(t, err, flow.ErrNotFound)
	})

	t.Run("Duplicates", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		w := seedWorkflow(t, s)
		w2 := seedWorkflow(t, s)
		e := newExecution(w, 1)
		e.EventKey = "ev"
		mustInsertExecution(t, s, e)

		sameID := newExecution(w, 2)
		sameID.ID = e.ID
		requireErrorIs(t, s.InsertExecution(ctx, sameID), flow.ErrDuplicate, "same id")

		sameEvent := newExecution(w, 3)
		sameEvent.EventKey = "ev"
		requireErrorIs(t, s.InsertExecution(ctx, sameEvent), flow.ErrDuplicate, "same workflow and event key")
		_, err := s.GetExecution(ctx, sameEvent.ID)
		requireErrorIs(t, err, flow.ErrNotFound)

		otherWorkflow := newExecution(w2, 4)
		otherWorkflow.EventKey = "ev"
		require.NoError(t, s.InsertExecution(ctx, otherWorkflow), "same event key, other workflow")
		otherEvent := newExecution(w, 5)
		otherEvent.EventKey = "ev2"
		require.NoError(t, s.InsertExecution(ctx, otherEvent))
		// Empty event keys never conflict.
		mustInsertExecution(t, s, newExecution(w, 6))
		mustInsertExecution(t, s, newExecution(w, 7))

		// Rejected inserts are not counted.
		got, err := s.GetWorkflow(ctx, w.ID)
		require.NoError(t, err)
		require.EqualValues(t, 4, got.Executed)

		// Deleting an execution frees its event key.
		require.NoError(t, s.DeleteExecution(ctx, e.ID))
		require.NoError(t, s.InsertExecution(ctx, sameEvent))
	})

	t.Run("List", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		wa1 := newWorkflow("a", 1)
		wa1.Current = false
		wa2 := newWorkflow("a", 2)
		wb := newWorkflow("b", 3)
		for _, w := range []*flow.Workflow{wa1, wa2, wb} {
			mustInsertWorkflow(t, s, w)
		}
		e1 := newExecution(wa1, 10)
		e1.ExpiresAt = at(100)
		e2 := newExecution(wb, 11)
		e2.Status = flow.ExecutionStarted
		e2.ExpiresAt = at(200)
		e3 := newExecution(wa2, 12)
		e3.Status = flow.ExecutionResolved
		e3.Runnable = false
		e3.ExpiresAt = at(50)
		e4 := newExecution(wa2, 13)
		e4.Status = flow.ExecutionStarted
		e5 := newExecution(wb, 14)
		e5.Status = flow.ExecutionFailed
		e5.Runnable = false
		all := []*flow.Execution{e1, e2, e3, e4, e5}
		for _, e := range all {
			mustInsertExecution(t, s, e)
		}
		ids := func(es ...*flow.Execution) []string { return executionIDs(es) }
		for _, tc := range []struct {
			name string
			f    storage.ExecutionFilter
			want []string
		}{
			{"all", storage.ExecutionFilter{}, ids(all...)},
			{"workflow", storage.ExecutionFilter{WorkflowID: wa2.ID}, ids(e3, e4)},
			{"key", storage.ExecutionFilter{Key: "a"}, ids(e1, e3, e4)},
			{"status", storage.ExecutionFilter{Statuses: []flow.ExecutionStatus{flow.ExecutionStarted}}, ids(e2, e4)},
			{"statuses", storage.ExecutionFilter{Statuses: []flow.ExecutionStatus{flow.ExecutionQueueing, flow.ExecutionFailed}}, ids(e1, e5)},
			{"expires before", storage.ExecutionFilter{ExpiresBefore: at(150)}, ids(e1, e3)},
			{"expires before, running", storage.ExecutionFilter{ExpiresBefore: at(300), Statuses: []flow.ExecutionStatus{flow.ExecutionQueueing, flow.ExecutionStarted}}, ids(e1, e2)},
			{"limit", storage.ExecutionFilter{Limit: 2}, ids(e1, e2)},
			{"offset", storage.ExecutionFilter{Offset: 3}, ids(e4, e5)},
			{"limit and offset", storage.ExecutionFilter{Limit: 2, Offset: 1}, ids(e2, e3)},
			{"filter then page", storage.ExecutionFilter{Key: "a", Limit: 1, Offset: 1}, ids(e3)},
			{"offset past the end", storage.ExecutionFilter{Offset: 10}, ids()},
			{"no match", storage.ExecutionFilter{WorkflowID: newID()}, ids()},
			{"created from", storage.ExecutionFilter{CreatedFrom: at(12)}, ids(e3, e4, e5)},
			{"created before", storage.ExecutionFilter{CreatedBefore: at(12)}, ids(e1, e2)},
			{"created range", storage.ExecutionFilter{CreatedFrom: at(11), CreatedBefore: at(14)}, ids(e2, e3, e4)},
			{"created range, key", storage.ExecutionFilter{Key: "a", CreatedFrom: at(11), CreatedBefore: at(14)}, ids(e3, e4)},
			{"newest first", storage.ExecutionFilter{NewestFirst: true}, ids(e5, e4, e3, e2, e1)},
			{"newest first, paged", storage.ExecutionFilter{NewestFirst: true, Limit: 2, Offset: 1}, ids(e4, e3)},
			{"newest first, filtered", storage.ExecutionFilter{NewestFirst: true, Key: "a", CreatedBefore: at(13)}, ids(e3, e1)},
		} {
			got, err := s.ListExecutions(ctx, tc.f)
			require.NoError(t, err, tc.name)
			require.Equal(t, tc.want, executionIDs(got), tc.name)
		}
		got, err := s.ListExecutions(ctx, storage.ExecutionFilter{})
		require.NoError(t, err)
		for i := range all {
			requireExecution(t, all[i], got[i])
		}
	})

	t.Run("UpdateCompareAndSet", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		w := seedWorkflow(t, s)
		e := newExecution(w, 1)
		mustInsertExecution(t, s, e)

		started := *e
		started.Status = flow.ExecutionStarted
		started.StartedAt = at(5)
		started.UpdatedAt = at(5)
		require.NoError(t, s.UpdateExecution(ctx, &started, storage.ExecutionExpect{Status: flow.ExecutionQueueing}))
		got, err := s.GetExecution(ctx, e.ID)
		require.NoError(t, err)
		requireExecution(t, &started, got)

		// The status changed since: the same update conflicts and changes nothing.
		stale := started
		stale.Reason = "stale"
		requireErrorIs(t, s.UpdateExecution(ctx, &stale, storage.ExecutionExpect{Status: flow.ExecutionQueueing}), flow.ErrConflict)
		got, err = s.GetExecution(ctx, e.ID)
		require.NoError(t, err)
		requireExecution(t, &started, got)

		missing := newExecution(w, 2)
		requireErrorIs(t, s.UpdateExecution(ctx, missing, storage.ExecutionExpect{Status: flow.ExecutionQueueing}), flow.ErrNotFound)
	})

	t.Run("UpdateLease", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		w := seedWorkflow(t, s)
		e := newExecution(w, 1)
		mustInsertExecution(t, s, e)
		claimed, err := s.ClaimExecutions(ctx, storage.ClaimParams{Owner: "A", Limit: 1, Now: at(10), LeaseUntil: at(10).Add(time.Minute)})
		require.NoError(t, err)
		require.Len(t, claimed, 1)

		upd := *claimed[0]
		upd.Status = flow.ExecutionStarted
		requireErrorIs(t, s.UpdateExecution(ctx, &upd, storage.ExecutionExpect{Status: flow.ExecutionQueueing, LeaseOwner: "B"}), flow.ErrLeaseLost)
		require.NoError(t, s.UpdateExecution(ctx, &upd, storage.ExecutionExpect{Status: flow.ExecutionQueueing, LeaseOwner: "A"}))

		// Without an expected owner the lease is not checked.
		done := upd
		done.Status, done.Runnable, done.LeaseOwner, done.LeaseUntil = flow.ExecutionResolved, false, "", time.Time{}
		require.NoError(t, s.UpdateExecution(ctx, &done, storage.ExecutionExpect{Status: flow.ExecutionStarted}))
		got, err := s.GetExecution(ctx, e.ID)
		require.NoError(t, err)
		requireExecution(t, &done, got)

		// A lease nobody holds any more is lost too.
		again := done
		requireErrorIs(t, s.UpdateExecution(ctx, &again, storage.ExecutionExpect{Status: flow.ExecutionResolved, LeaseOwner: "A"}), flow.ErrLeaseLost)
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		w := seedWorkflow(t, s)
		e := newExecution(w, 1)
		keep := newExecution(w, 2)
		mustInsertExecution(t, s, e)
		mustInsertExecution(t, s, keep)
		j1, j2 := newJob(e, 1, flow.JobResolved), newJob(e, 2, flow.JobPending)
		kj := newJob(keep, 1, flow.JobResolved)
		for _, j := range []*flow.Job{j1, j2, kj} {
			require.NoError(t, s.InsertJobs(ctx, j))
		}

		require.NoError(t, s.DeleteExecution(ctx, e.ID))
		_, err := s.GetExecution(ctx, e.ID)
		requireErrorIs(t, err, flow.ErrNotFound)
		for _, j := range []*flow.Job{j1, j2} {
			_, err = s.GetJob(ctx, j.ID)
			requireErrorIs(t, err, flow.ErrNotFound, "job of a deleted execution")
		}
		js, err := s.ListJobs(ctx, e.ID)
		require.NoError(t, err)
		require.Empty(t, js)
		js, err = s.ListJobs(ctx, keep.ID)
		require.NoError(t, err)
		require.Len(t, js, 1)

		requireErrorIs(t, s.DeleteExecution(ctx, e.ID), flow.ErrNotFound)
		// A deleted runnable execution is not claimable.
		claimed, err := s.ClaimExecutions(ctx, storage.ClaimParams{Owner: "A", Limit: 10, Now: at(10), LeaseUntil: at(20)})
		require.NoError(t, err)
		require.Equal(t, []string{keep.ID}, executionIDs(claimed))
	})

	t.Run("Copies", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		w := seedWorkflow(t, s)
		e := newExecution(w, 1)
		want := *e
		mustInsertExecution(t, s, e)
		e.Status = flow.ExecutionError
		e.Reason = "changed"
		e.Runnable = false

		got, err := s.GetExecution(ctx, want.ID)
		require.NoError(t, err)
		requireExecution(t, &want, got)
		got.Status = flow.ExecutionError
		got.LeaseOwner = "changed"
		list, err := s.ListExecutions(ctx, storage.ExecutionFilter{})
		require.NoError(t, err)
		require.Len(t, list, 1)
		requireExecution(t, &want, list[0])
		list[0].Attempt = 99

		got, err = s.GetExecution(ctx, want.ID)
		require.NoError(t, err)
		requireExecution(t, &want, got)
	})
}
