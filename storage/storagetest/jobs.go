package storagetest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

func testJobs(t *testing.T, newStore func(t *testing.T) storage.Store) {
	// seed returns a store with one workflow and one execution.
	seed := func(t *testing.T) (storage.Store, *flow.Execution) {
		s := newStore(t)
		e := newExecution(seedWorkflow(t, s), 1)
		mustInsertExecution(t, s, e)
		return s, e
	}

	t.Run("InsertGetList", func(t *testing.T) {
		t.Parallel()
		s, e := seed(t)
		ctx := t.Context()
		other := newExecution(seedWorkflow(t, s), 2)
		mustInsertExecution(t, s, other)

		j3 := newJob(e, 3, flow.JobPending)
		j1 := newJob(e, 1, flow.JobResolved)
		j1.UpstreamID = ""
		j2 := newJob(e, 2, flow.JobFailed)
		j2.UpstreamID = j1.ID
		j2.Branch = nil
		j2.Meta = nil
		j2.Result = "text result"
		j2.End = true
		oj := newJob(other, 1, flow.JobResolved)
		for _, j := range []*flow.Job{j3, oj, j1, j2} {
			require.NoError(t, s.InsertJobs(ctx, j))
		}

		got, err := s.GetJob(ctx, j2.ID)
		require.NoError(t, err)
		requireJob(t, j2, got)
		_, err = s.GetJob(ctx, newID())
		requireErrorIs(t, err, flow.ErrNotFound)

		js, err := s.ListJobs(ctx, e.ID)
		require.NoError(t, err)
		require.Len(t, js, 3)
		for i, want := range []*flow.Job{j1, j2, j3} {
			requireJob(t, want, js[i])
		}

		js, err = s.ListJobs(ctx, newID())
		require.NoError(t, err, "jobs of an unknown execution")
		require.Empty(t, js)
	})

	t.Run("InsertErrors", func(t *testing.T) {
		t.Parallel()
		s, e := seed(t)
		ctx := t.Context()
		j := newJob(e, 1, flow.JobResolved)
		require.NoError(t, s.InsertJobs(ctx, j))
		dup := newJob(e, 2, flow.JobResolved)
		dup.ID = j.ID
		requireErrorIs(t, s.InsertJobs(ctx, dup), flow.ErrDuplicate)

		orphan := newJob(&flow.Execution{ID: newID()}, 1, flow.JobResolved)
		requireErrorIs(t, s.InsertJobs(ctx, orphan), flow.ErrNotFound)
		_, err := s.GetJob(ctx, orphan.ID)
		requireErrorIs(t, err, flow.ErrNotFound)
	})

	t.Run("InsertBatch", func(t *testing.T) {
		t.Parallel()
		s, e := seed(t)
		ctx := t.Context()
		other := newExecution(seedWorkflow(t, s), 2)
		mustInsertExecution(t, s, other)
		j1, j2, j3 := newJob(e, 1, flow.JobResolved), newJob(e, 2, flow.JobResolved), newJob(other, 1, flow.JobPending)
		require.NoError(t, s.InsertJobs(ctx, j1, j2, j3))
		js, err := s.ListJobs(ctx, e.ID)
		require.NoError(t, err)
		require.Len(t, js, 2)
		requireJob(t, j1, js[0])
		requireJob(t, j2, js[1])
		js, err = s.ListJobs(ctx, other.ID)
		require.NoError(t, err)
		require.Len(t, js, 1)

		// All or none: a duplicate, or an unknown execution, anywhere in the
		// batch writes nothing.
		fresh := newJob(e, 3, flow.JobResolved)
		dup := newJob(e, 4, flow.JobResolved)
		dup.ID = j1.ID
		requireErrorIs(t, s.InsertJobs(ctx, fresh, dup), flow.ErrDuplicate)
		twice := newJob(e, 5, flow.JobResolved)
		requireErrorIs(t, s.InsertJobs(ctx, twice, twice), flow.ErrDuplicate)
		orphan := newJob(&flow.Execution{ID: newID()}, 1, flow.JobResolved)
		requireErrorIs(t, s.InsertJobs(ctx, fresh, orphan), flow.ErrNotFound)
		for _, id := range []string{fresh.ID, twice.ID} {
			_, err := s.GetJob(ctx, id)
			requireErrorIs(t, err, flow.ErrNotFound)
		}
		js, err = s.ListJobs(ctx, e.ID)
		require.NoError(t, err)
		require.Len(t, js, 2)
	})

	t.Run("InsertBatchInTx", func(t *testing.T) {
		t.Parallel()
		s, e := seed(t)
		ctx := t.Context()
		j1 := newJob(e, 1, flow.JobResolved)
		require.NoError(t, s.InsertJobs(ctx, j1))
		fresh, kept := newJob(e, 2, flow.JobResolved), newJob(e, 3, flow.JobResolved)
		err := s.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
			// Rejected batches inside a unit of work write nothing and leave
			// it usable.
			dup := newJob(e, 4, flow.JobResolved)
			dup.ID = j1.ID
			requireErrorIs(t, tx.InsertJobs(ctx, fresh, dup), flow.ErrDuplicate)
			orphan := newJob(&flow.Execution{ID: newID()}, 1, flow.JobResolved)
			requireErrorIs(t, tx.InsertJobs(ctx, fresh, orphan), flow.ErrNotFound)
			requireErrorIs(t, tx.InsertJobs(ctx, orphan), flow.ErrNotFound)
			_, err := tx.GetJob(ctx, fresh.ID)
			requireErrorIs(t, err, flow.ErrNotFound)
			return tx.InsertJobs(ctx, kept)
		})
		require.NoError(t, err)
		js, err := s.ListJobs(ctx, e.ID)
		require.NoError(t, err)
		require.Len(t, js, 2)
		requireJob(t, j1, js[0])
		requireJob(t, kept, js[1])
	})

	t.Run("InsertLargeBatch", func(t *testing.T) {
		t.Parallel()
		s, e := seed(t)
		ctx := t.Context()
		other := newExecution(seedWorkflow(t, s), 2)
		mustInsertExecution(t, s, other)
		// More jobs than a store may bind in one statement, over two executions.
		var jobs []*flow.Job
		for i := range 1300 {
			x := e
			if i%2 == 1 {
				x = other
			}
			jobs = append(jobs, newJob(x, i+1, flow.JobResolved))
		}
		require.NoError(t, s.InsertJobs(ctx, jobs...))
		js, err := s.ListJobs(ctx, e.ID)
		require.NoError(t, err)
		require.Len(t, js, 650)
		// A duplicate at the end writes none of them.
		more := make([]*flow.Job, 0, 1201)
		for i := range 1200 {
			more = append(more, newJob(other, 2000+i, flow.JobResolved))
		}
		more = append(more, jobs[0])
		requireErrorIs(t, s.InsertJobs(ctx, more...), flow.ErrDuplicate)
		js, err = s.ListJobs(ctx, other.ID)
		require.NoError(t, err)
		require.Len(t, js, 650)
	})

	t.Run("UpdateCompareAndSet", func(t *testing.T) {
		t.Parallel()
		s, e := seed(t)
		ctx := t.Context()
		j := newJob(e, 1, flow.JobPending)
		require.NoError(t, s.InsertJobs(ctx, j))

		done := *j
		done.Status = flow.JobResolved
		done.Result = map[string]any{"approved": true}
		done.UpdatedAt = at(9)
		require.NoError(t, s.UpdateJob(ctx, &done, flow.JobPending))
		got, err := s.GetJob(ctx, j.ID)
		require.NoError(t, err)
		requireJob(t, &done, got)

		stale := *j
		stale.Status = flow.JobRejected
		requireErrorIs(t, s.UpdateJob(ctx, &stale, flow.JobPending), flow.ErrConflict)
		got, err = s.GetJob(ctx, j.ID)
		require.NoError(t, err)
		requireJob(t, &done, got)

		missing := newJob(e, 2, flow.JobPending)
		requireErrorIs(t, s.UpdateJob(ctx, missing, flow.JobPending), flow.ErrNotFound)
	})

	t.Run("ConcurrentCompareAndSet", func(t *testing.T) {
		t.Parallel()
		s, e := seed(t)
		ctx := t.Context()
		j := newJob(e, 1, flow.JobPending)
		require.NoError(t, s.InsertJobs(ctx, j))

		const n = 16
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				u := *j
				u.Status = flow.JobResolved
				u.Log = "winner " + strconv.Itoa(i)
				errs[i] = s.UpdateJob(ctx, &u, flow.JobPending)
			}()
		}
		close(start)
		wg.Wait()

		winner := -1
		for i, err := range errs {
			if err == nil {
				require.Equal(t, -1, winner, "two updates won the compare-and-set")
				winner = i
				continue
			}
			require.Truef(t, errors.Is(err, flow.ErrConflict), "loser %d: %v", i, err)
		}
		require.NotEqual(t, -1, winner, "no update won")
		got, err := s.GetJob(ctx, j.ID)
		require.NoError(t, err)
		require.Equal(t, "winner "+strconv.Itoa(winner), got.Log)
	})

	t.Run("Lock", func(t *testing.T) {
		t.Parallel()
		s, e := seed(t)
		ctx := t.Context()
		j := newJob(e, 1, flow.JobPending)
		require.NoError(t, s.InsertJobs(ctx, j))
		got, err := s.LockJob(ctx, j.ID)
		require.NoError(t, err, "outside a unit of work")
		requireJob(t, j, got)
		_, err = s.LockJob(ctx, newID())
		requireErrorIs(t, err, flow.ErrNotFound)
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
			got, err := tx.LockJob(ctx, j.ID)
			require.NoError(t, err)
			requireJob(t, j, got)
			_, err = tx.LockJob(ctx, newID())
			requireErrorIs(t, err, flow.ErrNotFound)
			got, err = tx.LockJob(ctx, j.ID)
			require.NoError(t, err, "locking a job the unit of work holds")
			requireJob(t, j, got)
			return nil
		}))
	})

	// A unit of work that locks a job a first one holds waits for it to
	// commit, and then reads what it committed: the job and its other rows.
	t.Run("LockSerializesUnitsOfWork", func(t *testing.T) {
		t.Parallel()
		s, e := seed(t)
		ctx := t.Context()
		j := newJob(e, 1, flow.JobPending)
		require.NoError(t, s.InsertJobs(ctx, j))
		task := newTask(e, j.ID, "2", 1)
		task.Status = flow.TaskPending
		require.NoError(t, s.InsertTask(ctx, task))

		locked := make(chan struct{})
		firstErr := make(chan error, 1)
		go func() {
			firstErr <- s.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
				if _, err := tx.LockJob(ctx, j.ID); err != nil {
					close(locked)
					return err
				}
				ut := *task
				ut.Status = flow.TaskResolved
				if err := tx.UpdateTask(ctx, &ut, flow.TaskPending); err != nil {
					close(locked)
					return err
				}
				uj := *j
				uj.Log = "first"
				if err := tx.UpdateJob(ctx, &uj, flow.JobPending); err != nil {
					close(locked)
					return err
				}
				close(locked)
				time.Sleep(100 * time.Millisecond) // the second unit of work starts and must wait
				return nil
			})
		}()
		<-locked
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
			got, err := tx.LockJob(ctx, j.ID)
			require.NoError(t, err)
			require.Equal(t, "first", got.Log, "the job as the first unit of work committed it")
			gt, err := tx.GetTask(ctx, task.ID)
			require.NoError(t, err)
			require.Equal(t, flow.TaskResolved, gt.Status, "a read after the lock sees the first unit of work's commit")
			return nil
		}))
		require.NoError(t, <-firstErr)
	})

	// The race LockJob exists for: two deciders of each job each decide
	// their own task, then resolve the job if every task is decided. With
	// the job locked first, the second to commit always sees both tasks
	// decided, so every job ends RESOLVED, exactly once.
	t.Run("LockConcurrentDeciders", func(t *testing.T) {
		t.Parallel()
		s, e := seed(t)
		ctx := t.Context()
		const jobs = 10
		var tasks [][2]*flow.Task
		var js []*flow.Job
		for i := range jobs {
			j := newJob(e, i+1, flow.JobPending)
			require.NoError(t, s.InsertJobs(ctx, j))
			a, b := newTask(e, j.ID, "2", 2*i), newTask(e, j.ID, "3", 2*i+1)
			a.Status, b.Status = flow.TaskPending, flow.TaskPending
			require.NoError(t, s.InsertTask(ctx, a))
			require.NoError(t, s.InsertTask(ctx, b))
			js = append(js, j)
			tasks = append(tasks, [2]*flow.Task{a, b})
		}
		var decisions atomic.Int64
		errs := make([]error, 2*jobs)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 2 * jobs {
			wg.Go(func() {
				<-start
				errs[i] = s.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
					j, err := tx.LockJob(ctx, js[i/2].ID)
					if err != nil {
						return err
					}
					mine := *tasks[i/2][i%2]
					mine.Status = flow.TaskResolved
					if err := tx.UpdateTask(ctx, &mine, flow.TaskPending); err != nil {
						return err
					}
					all, err := tx.ListTasks(ctx, storage.TaskFilter{JobID: j.ID})
					if err != nil {
						return err
					}
					for _, other := range all {
						if other.Status == flow.TaskPending {
							return nil
						}
					}
					uj := *j
					uj.Status = flow.JobResolved
					if err := tx.UpdateJob(ctx, &uj, flow.JobPending); err != nil {
						return err
					}
					decisions.Add(1)
					return nil
				})
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "decider %d", i)
		}
		for _, j := range js {
			got, err := s.GetJob(ctx, j.ID)
			require.NoError(t, err)
			require.Equal(t, flow.JobResolved, got.Status, "job %s: each decider read the other's task as pending", j.ID)
		}
		require.EqualValues(t, jobs, decisions.Load())
	})

	t.Run("Copies", func(t *testing.T) {
		t.Parallel()
		s, e := seed(t)
		ctx := t.Context()
		j := newJob(e, 1, flow.JobResolved)
		want := normJob(j)
		wantBranch := *j.Branch
		want.Branch = &wantBranch
		require.NoError(t, s.InsertJobs(ctx, j))
		*j.Branch = 42
		j.Log = "changed"

		got, err := s.GetJob(ctx, j.ID)
		require.NoError(t, err)
		requireJob(t, &want, got)
		*got.Branch = 43
		got.Status = flow.JobError
		js, err := s.ListJobs(ctx, e.ID)
		require.NoError(t, err)
		requireJob(t, &want, js[0])
		*js[0].Branch = 44

		got, err = s.GetJob(ctx, j.ID)
		require.NoError(t, err)
		requireJob(t, &want, got)
	})
}
