package storagetest

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// errRollback is what a unit of work of a test returns to roll back.
var errRollback = errors.New("storagetest: roll back")

// testExecutionJobs checks storage.ExecutionJobsInserter on stores that
// implement it: InsertExecution and then InsertJobs, all or nothing.
func testExecutionJobs(t *testing.T, newStore func(t *testing.T) storage.Store) {
	inserter := func(t *testing.T, s storage.Store) storage.ExecutionJobsInserter {
		t.Helper()
		ej, ok := s.(storage.ExecutionJobsInserter)
		if !ok {
			t.Skip("the store does not implement storage.ExecutionJobsInserter")
		}
		return ej
	}
	jobsOf := func(e *flow.Execution, n int) []*flow.Job {
		js := make([]*flow.Job, n)
		for i := range js {
			js[i] = newJob(e, i+1, flow.JobResolved)
		}
		return js
	}
	// requireStored checks that e and exactly jobs are stored, and that w
	// counted executed runs.
	requireStored := func(t *testing.T, s storage.Store, w *flow.Workflow, executed int64, e *flow.Execution, jobs []*flow.Job) {
		t.Helper()
		ctx := t.Context()
		got, err := s.GetExecution(ctx, e.ID)
		require.NoError(t, err)
		requireExecution(t, e, got)
		stored, err := s.ListJobs(ctx, e.ID)
		require.NoError(t, err)
		require.Len(t, stored, len(jobs))
		for i, j := range jobs {
			requireJob(t, j, stored[i])
		}
		gw, err := s.GetWorkflow(ctx, w.ID)
		require.NoError(t, err)
		require.Equal(t, executed, gw.Executed)
	}
	// requireAbsent checks that neither e nor a job of it is stored, and that
	// w counted executed runs.
	requireAbsent := func(t *testing.T, s storage.Store, w *flow.Workflow, executed int64, e *flow.Execution) {
		t.Helper()
		ctx := t.Context()
		_, err := s.GetExecution(ctx, e.ID)
		requireErrorIs(t, err, flow.ErrNotFound)
		stored, err := s.ListJobs(ctx, e.ID)
		require.NoError(t, err)
		require.Empty(t, stored)
		if w != nil {
			gw, err := s.GetWorkflow(ctx, w.ID)
			require.NoError(t, err)
			require.Equal(t, executed, gw.Executed)
		}
	}

	t.Run("Inserts", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		ej := inserter(t, s)
		w := seedWorkflow(t, s)
		// No jobs, a few, and more than a statement of some stores holds.
		for i, n := range []int{0, 2, 70} {
			e := newExecution(w, i+1)
			jobs := jobsOf(e, n)
			require.NoError(t, ej.InsertExecutionJobs(ctx, e, jobs...))
			requireStored(t, s, w, int64(i+1), e, jobs)
		}
	})

	t.Run("NothingOnFailure", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		ej := inserter(t, s)
		w := seedWorkflow(t, s)
		first := newExecution(w, 1)
		first.EventKey = "ev"
		firstJobs := jobsOf(first, 2)
		require.NoError(t, ej.InsertExecutionJobs(ctx, first, firstJobs...))

		// The execution's id exists.
		again := first.Clone()
		againJobs := jobsOf(again, 2)
		requireErrorIs(t, ej.InsertExecutionJobs(ctx, again, againJobs...), flow.ErrDuplicate)
		for _, j := range againJobs {
			_, err := s.GetJob(ctx, j.ID)
			requireErrorIs(t, err, flow.ErrNotFound, "a job of a duplicate execution")
		}
		// Its event exists.
		sameEvent := newExecution(w, 2)
		sameEvent.EventKey = "ev"
		requireErrorIs(t, ej.InsertExecutionJobs(ctx, sameEvent, jobsOf(sameEvent, 2)...), flow.ErrDuplicate)
		requireAbsent(t, s, w, 1, sameEvent)
		// Its workflow does not exist.
		orphan := newExecution(newWorkflow("gone", 3), 3)
		requireErrorIs(t, ej.InsertExecutionJobs(ctx, orphan, jobsOf(orphan, 2)...), flow.ErrNotFound)
		requireAbsent(t, s, nil, 0, orphan)
		// A job's id exists (the other jobs were new), with few jobs and many.
		for i, n := range []int{3, 70} {
			e := newExecution(w, 4+i)
			jobs := jobsOf(e, n)
			jobs[n-1].ID = firstJobs[1].ID
			requireErrorIs(t, ej.InsertExecutionJobs(ctx, e, jobs...), flow.ErrDuplicate)
			requireAbsent(t, s, w, 1, e)
			for _, j := range jobs[:n-1] {
				_, err := s.GetJob(ctx, j.ID)
				requireErrorIs(t, err, flow.ErrNotFound, "a new job of a failed insert")
			}
		}
		requireStored(t, s, w, 1, first, firstJobs)
	})

	t.Run("InUnitOfWork", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		w := seedWorkflow(t, s)
		kept := newExecution(w, 1)
		keptJobs := jobsOf(kept, 2)
		failed := newExecution(w, 2)
		failedJobs := jobsOf(failed, 2)
		failedJobs[1].ID = keptJobs[0].ID
		err := s.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
			ej := inserter(t, tx)
			if err := ej.InsertExecutionJobs(ctx, kept, keptJobs...); err != nil {
				return err
			}
			// A failed insert leaves the unit of work as it was.
			requireErrorIs(t, ej.InsertExecutionJobs(ctx, failed, failedJobs...), flow.ErrDuplicate)
			return nil
		})
		require.NoError(t, err)
		requireStored(t, s, w, 1, kept, keptJobs)
		requireAbsent(t, s, w, 1, failed)

		// Rolled back with its unit of work.
		rolled := newExecution(w, 3)
		err = s.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
			if err := inserter(t, tx).InsertExecutionJobs(ctx, rolled, jobsOf(rolled, 2)...); err != nil {
				return err
			}
			return errRollback
		})
		requireErrorIs(t, err, errRollback)
		requireAbsent(t, s, w, 1, rolled)
	})
}
