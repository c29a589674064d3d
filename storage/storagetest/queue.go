package storagetest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// claim claims up to limit executions for owner at now, leased for lease.
func claim(t testing.TB, s storage.Store, owner string, limit int, now time.Time, lease time.Duration) []*flow.Execution {
	t.Helper()
	es, err := s.ClaimExecutions(context.Background(), storage.ClaimParams{Owner: owner, Limit: limit, Now: now, LeaseUntil: now.Add(lease)})
	require.NoError(t, err)
	return es
}

// insertRunnable inserts n runnable executions of w created at at(from), at(from+1), ...
// in one transaction and returns them in creation order.
func insertRunnable(t testing.TB, s storage.Store, w *flow.Workflow, from, n int) []*flow.Execution {
	t.Helper()
	es := make([]*flow.Execution, n)
	err := s.InTx(context.Background(), func(ctx context.Context, tx storage.Store) error {
		for i := range es {
			es[i] = newExecution(w, from+i)
			if err := tx.InsertExecution(ctx, es[i]); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(t, err)
	return es
}

func testQueue(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Run("OnlyRunnable", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		w := seedWorkflow(t, s)
		idle := newExecution(w, 1)
		idle.Runnable = false
		idle.Status = flow.ExecutionStarted // paused at a pending job
		done := newExecution(w, 2)
		done.Runnable = false
		done.Status = flow.ExecutionResolved
		queued := newExecution(w, 3)
		resume := newExecution(w, 4)
		resume.Status = flow.ExecutionStarted
		resume.ResumeJobID = "job"
		for _, e := range []*flow.Execution{idle, done, queued, resume} {
			mustInsertExecution(t, s, e)
		}

		got := claim(t, s, "A", 10, at(10), time.Minute)
		require.Equal(t, []string{queued.ID, resume.ID}, executionIDs(got))
		want := *resume
		want.LeaseOwner, want.LeaseUntil, want.Attempt = "A", at(10).Add(time.Minute), 1
		requireExecution(t, &want, got[1])
		stored, err := s.GetExecution(t.Context(), resume.ID)
		require.NoError(t, err)
		requireExecution(t, &want, stored)

		require.Empty(t, claim(t, s, "B", 10, at(11), time.Minute), "claimed twice")

		// An execution made runnable by an update is claimable.
		wake := *idle
		wake.Runnable = true
		require.NoError(t, s.UpdateExecution(t.Context(), &wake, storage.ExecutionExpect{Status: flow.ExecutionStarted}))
		got = claim(t, s, "B", 10, at(12), time.Minute)
		require.Equal(t, []string{idle.ID}, executionIDs(got))
	})

	t.Run("OldestFirstAndLimit", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		w := seedWorkflow(t, s)
		es := make([]*flow.Execution, 5)
		for i := range es {
			es[i] = newExecution(w, 10+i)
			mustInsertExecution(t, s, es[i])
		}
		require.Empty(t, claim(t, s, "A", 0, at(20), time.Minute), "limit 0")
		got := claim(t, s, "A", 3, at(20), time.Minute)
		require.Equal(t, executionIDs(es[:3]), executionIDs(got))
		got = claim(t, s, "B", 3, at(20), time.Minute)
		require.Equal(t, executionIDs(es[3:]), executionIDs(got))
		require.Empty(t, claim(t, s, "C", 3, at(20), time.Minute))
	})

	t.Run("LeaseExpiry", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		w := seedWorkflow(t, s)
		e1 := newExecution(w, 1)
		e2 := newExecution(w, 2)
		mustInsertExecution(t, s, e1)
		mustInsertExecution(t, s, e2)

		got := claim(t, s, "A", 1, at(100), time.Second)
		require.Equal(t, []string{e1.ID}, executionIDs(got))
		require.Equal(t, 1, got[0].Attempt)

		// Still leased at the lease end itself: the next claim takes e2.
		got = claim(t, s, "B", 1, at(1100), time.Second)
		require.Equal(t, []string{e2.ID}, executionIDs(got))

		// After the lease ended, e1 is claimed again, oldest first.
		got = claim(t, s, "C", 5, at(1101), time.Minute)
		require.Equal(t, []string{e1.ID}, executionIDs(got))
		require.Equal(t, "C", got[0].LeaseOwner)
		require.Equal(t, at(1101).Add(time.Minute), normTime(got[0].LeaseUntil))
		require.Equal(t, 2, got[0].Attempt)

		// The old owner lost it.
		upd := *got[0]
		upd.Status = flow.ExecutionStarted
		requireErrorIs(t, s.UpdateExecution(ctx, &upd, storage.ExecutionExpect{Status: flow.ExecutionQueueing, LeaseOwner: "A"}), flow.ErrLeaseLost)
		require.NoError(t, s.UpdateExecution(ctx, &upd, storage.ExecutionExpect{Status: flow.ExecutionQueueing, LeaseOwner: "C"}))
	})

	t.Run("ExtendLeases", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		w := seedWorkflow(t, s)
		es := make([]*flow.Execution, 3)
		for i := range es {
			es[i] = newExecution(w, i)
			mustInsertExecution(t, s, es[i])
		}
		require.Len(t, claim(t, s, "A", 1, at(10), time.Hour), 1)
		require.Len(t, claim(t, s, "A", 1, at(10), time.Second), 1)
		require.Len(t, claim(t, s, "A", 1, at(10), time.Hour), 1)
		// B takes over es[1] once its lease ended; es[2] finishes.
		got := claim(t, s, "B", 5, at(2000), time.Minute)
		require.Equal(t, []string{es[1].ID}, executionIDs(got))
		require.NoError(t, s.UpdateExecution(ctx, finished(es[2]), storage.ExecutionExpect{Status: flow.ExecutionQueueing}))

		missing := newID()
		until := at(9000)
		lost, err := s.ExtendLeases(ctx, "A", []string{es[0].ID, es[1].ID, es[2].ID, missing}, until)
		require.NoError(t, err)
		require.ElementsMatch(t, []string{es[1].ID, es[2].ID, missing}, lost)

		stored, err := s.GetExecution(ctx, es[0].ID)
		require.NoError(t, err)
		require.Equal(t, "A", stored.LeaseOwner)
		require.Equal(t, until, normTime(stored.LeaseUntil))
		require.Equal(t, 1, stored.Attempt)

		stored, err = s.GetExecution(ctx, es[1].ID)
		require.NoError(t, err)
		require.Equal(t, "B", stored.LeaseOwner, "extending a lost lease must not take it back")
		require.Equal(t, at(2000).Add(time.Minute), normTime(stored.LeaseUntil))

		stored, err = s.GetExecution(ctx, es[2].ID)
		require.NoError(t, err)
		require.Empty(t, stored.LeaseOwner)

		lost, err = s.ExtendLeases(ctx, "A", nil, until)
		require.NoError(t, err)
		require.Empty(t, lost)
	})

	t.Run("NoDoubleClaim", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		w := seedWorkflow(t, s)
		const total, workers, batch = 500, 8, 7
		insertRunnable(t, s, w, 0, total)

		var mu sync.Mutex
		seen := make(map[string]int, total)
		claimed := 0
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := "worker-" + strconv.Itoa(i)
				for {
					es, err := s.ClaimExecutions(context.Background(), storage.ClaimParams{Owner: owner, Limit: batch, Now: at(1000), LeaseUntil: at(1000).Add(time.Hour)})
					if err != nil {
						errs <- err
						return
					}
					if len(es) == 0 {
						return
					}
					if len(es) > batch {
						errs <- errTooMany
						return
					}
					mu.Lock()
					for _, e := range es {
						seen[e.ID]++
					}
					claimed += len(es)
					over := claimed > total
					mu.Unlock()
					if over {
						errs <- errDoubleClaim // and stop: the queue would never run dry
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.Len(t, seen, total)
		for id, n := range seen {
			require.Equalf(t, 1, n, "execution %s claimed %d times", id, n)
		}
	})

	t.Run("ClaimInTx", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		w := seedWorkflow(t, s)
		es := insertRunnable(t, s, w, 0, 3)
		err := s.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
			got, err := tx.ClaimExecutions(ctx, storage.ClaimParams{Owner: "A", Limit: 2, Now: at(10), LeaseUntil: at(10).Add(time.Minute)})
			require.NoError(t, err)
			require.Equal(t, executionIDs(es[:2]), executionIDs(got))
			return errBoom
		})
		requireErrorIs(t, err, errBoom)
		// The rolled-back claim left the executions unleased.
		got := claim(t, s, "B", 5, at(10), time.Minute)
		require.Equal(t, executionIDs(es), executionIDs(got))
		require.Equal(t, 1, got[0].Attempt)
	})

	t.Run("ReleaseLeases", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		w := seedWorkflow(t, s)
		es := insertRunnable(t, s, w, 0, 4)
		got := claim(t, s, "A", 3, at(10), time.Hour)
		require.Equal(t, executionIDs(es[:3]), executionIDs(got))
		// B's claim takes the last one; A's release must leave it alone.
		require.Equal(t, executionIDs(es[3:]), executionIDs(claim(t, s, "B", 5, at(10), time.Hour)))
		require.NoError(t, s.ReleaseLeases(ctx, "A", []string{es[0].ID, es[1].ID, es[3].ID, "missing"}))
		require.NoError(t, s.ReleaseLeases(ctx, "A", nil))
		for i, want := range []struct {
			owner   string
			attempt int
		}{{"", 0}, {"", 0}, {"A", 1}, {"B", 1}} {
			stored, err := s.GetExecution(ctx, es[i].ID)
			require.NoError(t, err)
			require.Equal(t, want.owner, stored.LeaseOwner, "execution %d", i)
			require.Equal(t, want.owner == "", stored.LeaseUntil.IsZero(), "execution %d lease end", i)
			require.Equal(t, want.attempt, stored.Attempt, "execution %d", i)
			require.True(t, stored.Runnable, "execution %d", i)
		}
		// Released ones are claimable at once, long before the hour-long
		// leases end; the others are not.
		again := claim(t, s, "C", 5, at(11), time.Hour)
		require.Equal(t, executionIDs(es[:2]), executionIDs(again))
		require.Equal(t, 1, again[0].Attempt)
	})
}

var (
	errTooMany     = errors.New("claimed more than the limit")
	errDoubleClaim = errors.New("claimed more executions than exist")
)

// finished returns a copy of e that ended RESOLVED and left the queue.
func finished(e *flow.Execution) *flow.Execution {
	c := *e
	c.Status = flow.ExecutionResolved
	c.Runnable = false
	c.LeaseOwner, c.LeaseUntil = "", time.Time{}
	return &c
}
