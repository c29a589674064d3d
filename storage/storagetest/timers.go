package storagetest

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// testTimers checks the durable timers of the queue (Execution.RunAfter) and
// the retry state of jobs (Job.Attempts and Snoozes).
func testTimers(t *testing.T, newStore func(t *testing.T) storage.Store) {
	get := func(t *testing.T, s storage.Store, id string) *flow.Execution {
		t.Helper()
		got, err := s.GetExecution(t.Context(), id)
		require.NoError(t, err)
		return got
	}

	t.Run("NotBeforeRunAfter", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		w := seedWorkflow(t, s)
		timed := newExecution(w, 1)
		timed.RunAfter = at(1000)
		plain := newExecution(w, 2)
		mustInsertExecution(t, s, timed)
		mustInsertExecution(t, s, plain)
		requireExecution(t, timed, get(t, s, timed.ID))

		got := claim(t, s, "A", 10, at(500), time.Hour)
		require.Equal(t, []string{plain.ID}, executionIDs(got), "a timer not yet due is claimed")
		require.Empty(t, claim(t, s, "B", 10, at(999), time.Hour), "claimed a millisecond early")

		// Due at RunAfter itself; the claim leaves RunAfter as it is.
		got = claim(t, s, "B", 10, at(1000), time.Hour)
		require.Equal(t, []string{timed.ID}, executionIDs(got))
		want := *timed
		want.LeaseOwner, want.LeaseUntil, want.Attempt = "B", at(1000).Add(time.Hour), 1
		requireExecution(t, &want, got[0])
		requireExecution(t, &want, get(t, s, timed.ID))

		es, err := s.ListExecutions(t.Context(), storage.ExecutionFilter{WorkflowID: w.ID})
		require.NoError(t, err)
		require.Len(t, es, 2)
		requireExecution(t, &want, es[0])
	})

	t.Run("OldestFirstAcrossTimers", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		w := seedWorkflow(t, s)
		// Created in this order: none, due, waiting, due, none, due.
		runAfter := []time.Time{{}, at(10), at(5000), at(50), {}, at(100)}
		es := make([]*flow.Execution, len(runAfter))
		for i, ra := range runAfter {
			es[i] = newExecution(w, i+1)
			es[i].RunAfter = ra
			mustInsertExecution(t, s, es[i])
		}
		got := claim(t, s, "A", 3, at(100), time.Hour)
		require.Equal(t, executionIDs([]*flow.Execution{es[0], es[1], es[3]}), executionIDs(got))
		got = claim(t, s, "A", 10, at(100), time.Hour)
		require.Equal(t, executionIDs([]*flow.Execution{es[4], es[5]}), executionIDs(got))
		require.Empty(t, claim(t, s, "A", 10, at(4999), time.Hour))
		got = claim(t, s, "A", 10, at(5000), time.Hour)
		require.Equal(t, []string{es[2].ID}, executionIDs(got))
	})

	t.Run("ConcurrentClaimsAtDueTime", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		w := seedWorkflow(t, s)
		const total = 50
		now := at(10_000)
		due := map[string]bool{}
		err := s.InTx(context.Background(), func(ctx context.Context, tx storage.Store) error {
			for i := range total {
				e := newExecution(w, i)
				switch i % 3 {
				case 0: // no timer
					due[e.ID] = true
				case 1: // due, some exactly now
					e.RunAfter = now.Add(-time.Duration(i%2) * time.Second)
					due[e.ID] = true
				case 2: // not due yet
					e.RunAfter = now.Add(time.Millisecond + time.Duration(i)*time.Second)
				}
				if err := tx.InsertExecution(ctx, e); err != nil {
					return err
				}
			}
			return nil
		})
		require.NoError(t, err)

		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for c := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := "claimer-" + strconv.Itoa(c)
				for range total {
					es, err := s.ClaimExecutions(context.Background(), storage.ClaimParams{Owner: owner, Limit: 3, Now: now, LeaseUntil: now.Add(time.Hour)})
					if err != nil {
						errs <- err
						return
					}
					if len(es) == 0 {
						return
					}
					mu.Lock()
					for _, e := range es {
						seen[e.ID]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		for id := range seen {
			require.Truef(t, due[id], "execution %s claimed before its RunAfter", id)
		}
		require.Len(t, seen, len(due), "due executions left unclaimed")
		for id, n := range seen {
			require.Equalf(t, 1, n, "execution %s claimed %d times", id, n)
		}
	})

	t.Run("SurvivesUpdates", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		w := seedWorkflow(t, s)
		e := newExecution(w, 1)
		e.RunAfter = at(100)
		mustInsertExecution(t, s, e)

		u := e.Clone()
		u.RunAfter, u.UpdatedAt = at(200), at(2)
		require.NoError(t, s.UpdateExecution(ctx, u, storage.ExecutionExpect{Status: flow.ExecutionQueueing}))
		requireExecution(t, u, get(t, s, e.ID))
		require.Empty(t, claim(t, s, "A", 5, at(150), time.Hour), "the timer was not moved")

		cleared := u.Clone()
		cleared.RunAfter = time.Time{}
		require.NoError(t, s.UpdateExecution(ctx, cleared, storage.ExecutionExpect{Status: flow.ExecutionQueueing}))
		got := get(t, s, e.ID)
		require.True(t, got.RunAfter.IsZero(), "RunAfter not cleared: %v", got.RunAfter)
		es, err := s.ListExecutions(ctx, storage.ExecutionFilter{WorkflowID: w.ID})
		require.NoError(t, err)
		require.Len(t, es, 1)
		requireExecution(t, cleared, es[0])
		require.Equal(t, []string{e.ID}, executionIDs(claim(t, s, "A", 5, at(0), time.Hour)), "a cleared timer still holds the execution")
	})

	t.Run("SurvivesBatchUpdates", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		bu, ok := s.(storage.BatchUpdater)
		if !ok {
			t.Skip("the store does not implement storage.BatchUpdater")
		}
		w := seedWorkflow(t, s)
		for i := range 4 {
			e := newExecution(w, i+1)
			if i >= 2 {
				e.RunAfter = at(50)
			}
			mustInsertExecution(t, s, e)
		}
		claimed := claim(t, s, "A", 4, at(100), time.Minute)
		require.Len(t, claimed, 4)

		// Each run waits out a backoff: the lease is given back and the timer
		// armed, with the context and stack kept (Prev) or written again.
		expect := storage.ExecutionExpect{Status: flow.ExecutionQueueing, LeaseOwner: "A"}
		us := make([]storage.ExecutionUpdate, len(claimed))
		for i, c := range claimed {
			u := c.Clone()
			u.LeaseOwner, u.LeaseUntil, u.Attempt = "", time.Time{}, 0
			u.RunAfter, u.UpdatedAt = at(1000+100*i), at(101)
			us[i] = storage.ExecutionUpdate{Execution: u, Expect: expect}
			if i%2 == 0 {
				us[i].Prev = c
			} else {
				u.Context = map[string]any{"data": map[string]any{"id": float64(i)}}
			}
		}
		errs, err := bu.UpdateExecutions(ctx, us)
		require.NoError(t, err)
		for i, u := range us {
			require.NoError(t, errs[i], "update %d", i)
			requireExecution(t, u.Execution, get(t, s, u.Execution.ID))
		}
		require.Empty(t, claim(t, s, "B", 10, at(999), time.Hour))
		got := claim(t, s, "B", 10, at(1100), time.Hour)
		require.Equal(t, executionIDs(claimed[:2]), executionIDs(got))

		// Cleared by a batch: the other two are claimable at once.
		for i, c := range got {
			u := c.Clone()
			u.RunAfter, u.LeaseOwner, u.LeaseUntil = time.Time{}, "", time.Time{}
			us[i] = storage.ExecutionUpdate{Execution: u, Expect: storage.ExecutionExpect{Status: flow.ExecutionQueueing, LeaseOwner: "B"}, Prev: c}
		}
		for i, c := range claimed[2:] {
			u := us[2+i].Execution.Clone()
			u.RunAfter = time.Time{}
			us[2+i] = storage.ExecutionUpdate{Execution: u, Expect: storage.ExecutionExpect{Status: flow.ExecutionQueueing}, Prev: c}
		}
		errs, err = bu.UpdateExecutions(ctx, us)
		require.NoError(t, err)
		for i, u := range us {
			require.NoError(t, errs[i], "update %d", i)
			stored := get(t, s, u.Execution.ID)
			require.True(t, stored.RunAfter.IsZero(), "update %d left RunAfter %v", i, stored.RunAfter)
			requireExecution(t, u.Execution, stored)
		}
		got = claim(t, s, "C", 10, at(102), time.Hour)
		require.Equal(t, executionIDs(claimed), executionIDs(got))
	})

	t.Run("ReArmedAfterClaim", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		w := seedWorkflow(t, s)
		e := newExecution(w, 1)
		mustInsertExecution(t, s, e)
		got := claim(t, s, "A", 1, at(10), time.Minute)
		require.Len(t, got, 1)

		// The run failed and waits out a backoff: the worker gives the lease
		// back and arms the timer in the same update.
		u := got[0].Clone()
		u.Status = flow.ExecutionStarted
		u.LeaseOwner, u.LeaseUntil, u.Attempt = "", time.Time{}, 0
		u.RunAfter = at(5000)
		require.NoError(t, s.UpdateExecution(ctx, u, storage.ExecutionExpect{Status: flow.ExecutionQueueing, LeaseOwner: "A"}))
		requireExecution(t, u, get(t, s, e.ID))

		require.Empty(t, claim(t, s, "B", 5, at(20), time.Minute))
		require.Empty(t, claim(t, s, "B", 5, at(4999), time.Minute))
		got = claim(t, s, "B", 5, at(5000), time.Minute)
		require.Equal(t, []string{e.ID}, executionIDs(got))
		require.Equal(t, 1, got[0].Attempt)

		// Re-armed again while B still holds the lease: the lease still
		// keeps others off until it ends, the timer after that.
		u = got[0].Clone()
		u.RunAfter = at(200_000)
		require.NoError(t, s.UpdateExecution(ctx, u, storage.ExecutionExpect{Status: flow.ExecutionStarted, LeaseOwner: "B"}))
		require.Empty(t, claim(t, s, "C", 5, at(100_000), time.Minute), "claimed before RunAfter once the lease ended")
		got = claim(t, s, "C", 5, at(200_000), time.Minute)
		require.Equal(t, []string{e.ID}, executionIDs(got))
		require.Equal(t, 2, got[0].Attempt)
	})

	t.Run("JobRetries", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		w := seedWorkflow(t, s)
		e := newExecution(w, 1)
		mustInsertExecution(t, s, e)

		retried := newJob(e, 1, flow.JobPending)
		retried.Attempts = []flow.Attempt{
			{N: 1, Error: `timeout: "upstream" <é>`, At: at(10)},
			{N: 2, Error: "line\nbreak, \\ backslash and \x00 NUL", At: at(20), Retried: true}, // Engine.Retry ran it again
		}
		retried.Snoozes = 3
		snoozed := newJob(e, 2, flow.JobPending)
		snoozed.Snoozes = 1
		plain := newJob(e, 3, flow.JobResolved)
		require.NoError(t, s.InsertJobs(ctx, retried, snoozed, plain))

		check := func(want ...*flow.Job) {
			t.Helper()
			for _, j := range want {
				got, err := s.GetJob(ctx, j.ID)
				require.NoError(t, err)
				requireJob(t, j, got)
			}
			js, err := s.ListJobs(ctx, e.ID)
			require.NoError(t, err)
			require.Len(t, js, len(want))
			for i, j := range want {
				requireJob(t, j, js[i])
			}
			require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
				for _, j := range want {
					got, err := tx.LockJob(ctx, j.ID)
					require.NoError(t, err)
					requireJob(t, j, got)
				}
				return nil
			}))
			got, err := s.LockJob(ctx, want[0].ID)
			require.NoError(t, err)
			requireJob(t, want[0], got)
		}
		check(retried, snoozed, plain)
		got, err := s.GetJob(ctx, plain.ID)
		require.NoError(t, err)
		require.Nil(t, got.Attempts, "a job without attempts")
		require.Zero(t, got.Snoozes)

		// Another failed attempt, then the node ends: attempts grow, snoozes
		// move, and both clear.
		next := retried.Clone()
		next.Attempts = append(append([]flow.Attempt(nil), retried.Attempts...), flow.Attempt{N: 3, Error: "third", At: at(30)})
		next.Snoozes, next.UpdatedAt = 4, at(31)
		require.NoError(t, s.UpdateJob(ctx, next, flow.JobPending))
		gained := plain.Clone()
		gained.Attempts = []flow.Attempt{{N: 1, Error: "late", At: at(40)}}
		require.NoError(t, s.UpdateJob(ctx, gained, flow.JobResolved))
		cleared := snoozed.Clone()
		cleared.Snoozes, cleared.Status = 0, flow.JobResolved
		require.NoError(t, s.UpdateJob(ctx, cleared, flow.JobPending))
		check(next, cleared, gained)
		got, err = s.GetJob(ctx, cleared.ID)
		require.NoError(t, err)
		require.Nil(t, got.Attempts)
		require.Zero(t, got.Snoozes)
	})
}
