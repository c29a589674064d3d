package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// taskRow is a stored task: a private copy, its creation sequence and its keys
// in the three indexes of the tasks table.
type taskRow struct {
	t                 flow.Task
	key, ukey, jobKey []byte
}

func taskKey(raw any) []byte {
	if r, ok := raw.(*taskRow); ok {
		return r.key
	}
	return nil
}

func taskUserKey(raw any) []byte {
	if r, ok := raw.(*taskRow); ok {
		return r.ukey
	}
	return nil
}

func taskJobKey(raw any) []byte {
	if r, ok := raw.(*taskRow); ok {
		return r.jobKey
	}
	return nil
}

// newTaskRow builds the row of t created at seq (16 hex digits).
func newTaskRow(t *flow.Task, seq []byte) *taskRow {
	r := &taskRow{t: *t, key: []byte(t.ID)}
	r.ukey = append(append(append(make([]byte, 0, len(t.UserID)+1+len(seq)), t.UserID...), 0), seq...)
	r.jobKey = append(append(append(make([]byte, 0, len(t.JobID)+1+len(seq)), t.JobID...), 0), seq...)
	return r
}

// seq returns the creation sequence of the row: the tail of its index keys.
func (r *taskRow) seq() []byte { return r.ukey[len(r.ukey)-16:] }

func (r *taskRow) out() *flow.Task {
	t := r.t
	return &t
}

func checkTask(t *flow.Task) error {
	if t == nil {
		return errors.New("memory: nil task")
	}
	if t.ID == "" {
		return errors.New("memory: task without id")
	}
	return nil
}

func getTaskRow(t *txState, id string) (*taskRow, error) {
	raw, err := t.txn.First(tableTasks, indexID, id)
	if err != nil {
		return nil, storageErr(err)
	}
	if raw == nil {
		return nil, fmt.Errorf("memory: task %q: %w", id, flow.ErrNotFound)
	}
	return raw.(*taskRow), nil
}

// InsertTask stores a copy of task. Its Result is shared, as immutable.
func (s *Store) InsertTask(ctx context.Context, task *flow.Task) error {
	if err := checkTask(task); err != nil {
		return err
	}
	return s.write(ctx, func(t *txState) error {
		raw, err := t.txn.First(tableTasks, indexID, task.ID)
		if err != nil {
			return storageErr(err)
		}
		if raw != nil {
			return fmt.Errorf("memory: task %q: %w", task.ID, flow.ErrDuplicate)
		}
		if err := t.txn.Insert(tableTasks, newTaskRow(task, hexKey(nil, s.st.seq.Add(1)))); err != nil {
			return storageErr(err)
		}
		return nil
	})
}

// GetTask returns a copy of the task id.
func (s *Store) GetTask(ctx context.Context, id string) (*flow.Task, error) {
	var out *flow.Task
	err := s.read(ctx, func(t *txState) error {
		r, err := getTaskRow(t, id)
		if err == nil {
			out = r.out()
		}
		return err
	})
	return out, err
}

// ListTasks returns copies of the matching tasks, oldest first. With a UserID
// it walks that user's tasks only, with a JobID that job's; otherwise it scans
// every task.
func (s *Store) ListTasks(ctx context.Context, f storage.TaskFilter) ([]*flow.Task, error) {
	index, prefix := indexID+"_prefix", []byte(nil)
	switch {
	case f.UserID != "":
		index, prefix = indexUser+"_prefix", append([]byte(f.UserID), 0)
	case f.JobID != "":
		index, prefix = indexJob+"_prefix", append([]byte(f.JobID), 0)
	}
	var out []*flow.Task
	err := s.read(ctx, func(t *txState) error {
		it, err := t.txn.Get(tableTasks, index, prefix)
		if err != nil {
			return storageErr(err)
		}
		var rows []*taskRow
		for raw := it.Next(); raw != nil; raw = it.Next() {
			if r := raw.(*taskRow); matchTask(&r.t, &f) {
				rows = append(rows, r)
			}
		}
		if prefix == nil { // the id index is not in creation order
			slices.SortFunc(rows, func(a, b *taskRow) int { return cmp.Compare(string(a.seq()), string(b.seq())) })
		}
		rows = page(rows, f.Offset, f.Limit)
		out = make([]*flow.Task, len(rows))
		for i, r := range rows {
			out[i] = r.out()
		}
		return nil
	})
	return out, err
}

func matchTask(t *flow.Task, f *storage.TaskFilter) bool {
	return (f.UserID == "" || t.UserID == f.UserID) &&
		(f.JobID == "" || t.JobID == f.JobID) &&
		(f.ExecutionID == "" || t.ExecutionID == f.ExecutionID) &&
		(f.WorkflowKey == "" || t.WorkflowKey == f.WorkflowKey) &&
		(len(f.Statuses) == 0 || slices.Contains(f.Statuses, t.Status))
}

// UpdateTask replaces the stored task with a copy of task if its status is
// still expect. The creation order is kept.
func (s *Store) UpdateTask(ctx context.Context, task *flow.Task, expect flow.TaskStatus) error {
	if err := checkTask(task); err != nil {
		return err
	}
	return s.write(ctx, func(t *txState) error {
		old, err := getTaskRow(t, task.ID)
		if err != nil {
			return err
		}
		if old.t.Status != expect {
			return fmt.Errorf("memory: task %q: status is %d, not %d: %w", task.ID, old.t.Status, expect, flow.ErrConflict)
		}
		if err := t.txn.Insert(tableTasks, newTaskRow(task, old.seq())); err != nil {
			return storageErr(err)
		}
		return nil
	})
}
