package storagetest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// newTask returns a pending task of user for job j of e, created at at(n).
func newTask(e *flow.Execution, jobID, user string, n int) *flow.Task {
	return &flow.Task{
		ID:          newID(),
		JobID:       jobID,
		ExecutionID: e.ID,
		WorkflowID:  e.WorkflowID,
		WorkflowKey: e.Key,
		NodeKey:     "manual1",
		UserID:      user,
		Title:       "approve",
		Status:      flow.TaskPending,
		Result:      map[string]any{"form": map[string]any{"ok": true}},
		CreatedAt:   at(n),
		UpdatedAt:   at(n),
	}
}

func normTask(t *flow.Task) flow.Task {
	c := *t
	c.CreatedAt = normTime(c.CreatedAt)
	c.UpdatedAt = normTime(c.UpdatedAt)
	return c
}

func taskIDs(ts []*flow.Task) []string {
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	return ids
}

func testTasks(t *testing.T, newStore func(t *testing.T) storage.Store) {
	setup := func(t *testing.T) (storage.Store, storage.TaskStore, *flow.Execution) {
		s := newStore(t)
		e := newExecution(seedWorkflow(t, s), 1)
		mustInsertExecution(t, s, e)
		return s, s, e
	}

	t.Run("InsertGet", func(t *testing.T) {
		t.Parallel()
		_, ts, e := setup(t)
		ctx := t.Context()
		task := newTask(e, "job1", "2", 1)
		require.NoError(t, ts.InsertTask(ctx, task))
		got, err := ts.GetTask(ctx, task.ID)
		require.NoError(t, err)
		require.Equal(t, normTask(task), normTask(got))

		dup := newTask(e, "job2", "3", 2)
		dup.ID = task.ID
		requireErrorIs(t, ts.InsertTask(ctx, dup), flow.ErrDuplicate)
		_, err = ts.GetTask(ctx, newID())
		requireErrorIs(t, err, flow.ErrNotFound)

		// Copies in and out.
		task.Title = "changed"
		got.Status = flow.TaskRejected
		again, err := ts.GetTask(ctx, task.ID)
		require.NoError(t, err)
		require.Equal(t, "approve", again.Title)
		require.Equal(t, flow.TaskPending, again.Status)
	})

	t.Run("List", func(t *testing.T) {
		t.Parallel()
		s, ts, e := setup(t)
		ctx := t.Context()
		other := newExecution(seedWorkflow(t, s), 2)
		mustInsertExecution(t, s, other)
		t1 := newTask(e, "jobA", "2", 1)
		t2 := newTask(e, "jobA", "3", 2)
		t3 := newTask(other, "jobB", "2", 3)
		t3.Status = flow.TaskResolved
		t4 := newTask(e, "jobC", "2", 4)
		for _, task := range []*flow.Task{t1, t2, t3, t4} {
			require.NoError(t, ts.InsertTask(ctx, task))
		}
		ids := func(tasks ...*flow.Task) []string { return taskIDs(tasks) }
		for _, tc := range []struct {
			name string
			f    storage.TaskFilter
			want []string
		}{
			{"all", storage.TaskFilter{}, ids(t1, t2, t3, t4)},
			{"user", storage.TaskFilter{UserID: "2"}, ids(t1, t3, t4)},
			{"user and status", storage.TaskFilter{UserID: "2", Statuses: []flow.TaskStatus{flow.TaskPending}}, ids(t1, t4)},
			{"user and workflow", storage.TaskFilter{UserID: "2", WorkflowKey: other.Key}, ids(t3)},
			{"job", storage.TaskFilter{JobID: "jobA"}, ids(t1, t2)},
			{"job and status", storage.TaskFilter{JobID: "jobA", Statuses: []flow.TaskStatus{flow.TaskPending}}, ids(t1, t2)},
			{"execution", storage.TaskFilter{ExecutionID: e.ID}, ids(t1, t2, t4)},
			{"statuses", storage.TaskFilter{Statuses: []flow.TaskStatus{flow.TaskResolved, flow.TaskRejected}}, ids(t3)},
			{"page", storage.TaskFilter{UserID: "2", Limit: 1, Offset: 1}, ids(t3)},
			{"no match", storage.TaskFilter{UserID: "9"}, ids()},
		} {
			got, err := ts.ListTasks(ctx, tc.f)
			require.NoError(t, err, tc.name)
			require.Equal(t, tc.want, taskIDs(got), tc.name)
		}
	})

	t.Run("UpdateCompareAndSet", func(t *testing.T) {
		t.Parallel()
		_, ts, e := setup(t)
		ctx := t.Context()
		task := newTask(e, "job1", "2", 1)
		require.NoError(t, ts.InsertTask(ctx, task))
		later := newTask(e, "job1", "2", 2)
		require.NoError(t, ts.InsertTask(ctx, later))

		done := *task
		done.Status = flow.TaskResolved
		done.Result = map[string]any{"_": "resolve"}
		require.NoError(t, ts.UpdateTask(ctx, &done, flow.TaskPending))
		got, err := ts.GetTask(ctx, task.ID)
		require.NoError(t, err)
		require.Equal(t, normTask(&done), normTask(got))
		requireErrorIs(t, ts.UpdateTask(ctx, &done, flow.TaskPending), flow.ErrConflict)
		requireErrorIs(t, ts.UpdateTask(ctx, newTask(e, "job1", "2", 3), flow.TaskPending), flow.ErrNotFound)

		// The update keeps the creation order and moves the task between lists.
		list, err := ts.ListTasks(ctx, storage.TaskFilter{UserID: "2"})
		require.NoError(t, err)
		require.Equal(t, []string{task.ID, later.ID}, taskIDs(list))
		list, err = ts.ListTasks(ctx, storage.TaskFilter{UserID: "2", Statuses: []flow.TaskStatus{flow.TaskPending}})
		require.NoError(t, err)
		require.Equal(t, []string{later.ID}, taskIDs(list))

		// Exactly one of concurrent deciders wins.
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				u := *later
				u.Status = flow.TaskRejected
				errs[i] = ts.UpdateTask(context.Background(), &u, flow.TaskPending)
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
			} else {
				require.True(t, errors.Is(err, flow.ErrConflict), err)
			}
		}
		require.Equal(t, 1, won)
	})

	t.Run("RolledBack", func(t *testing.T) {
		t.Parallel()
		s, ts, e := setup(t)
		task := newTask(e, "job1", "2", 1)
		err := s.InTx(t.Context(), func(ctx context.Context, tx storage.Store) error {
			require.NoError(t, tx.InsertTask(ctx, task))
			got, err := tx.ListTasks(ctx, storage.TaskFilter{UserID: "2"})
			require.NoError(t, err)
			require.Len(t, got, 1, "a transaction sees its own task")
			return errBoom
		})
		requireErrorIs(t, err, errBoom)
		_, err = ts.GetTask(t.Context(), task.ID)
		requireErrorIs(t, err, flow.ErrNotFound)
	})
}
