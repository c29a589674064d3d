package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

const taskCols = "id, job_id, execution_id, workflow_id, workflow_key, node_key, user_id, title, status, result, created_at, updated_at"

func scanTask(sc interface{ Scan(...any) error }) (*flow.Task, error) {
	var t flow.Task
	var result []byte
	var created, updated sql.NullInt64
	if err := scan(sc, &t.ID, &t.JobID, &t.ExecutionID, &t.WorkflowID, &t.WorkflowKey, &t.NodeKey, &t.UserID, &t.Title, &t.Status,
		&result, &created, &updated); err != nil {
		return nil, err
	}
	if err := fromJS(result, &t.Result); err != nil {
		return nil, err
	}
	t.CreatedAt, t.UpdatedAt = fromTm(created), fromTm(updated)
	return &t, nil
}

func taskArgs(t *flow.Task) ([]any, error) {
	if t == nil {
		return nil, errors.New("sqlstore: nil task")
	}
	if t.ID == "" {
		return nil, errors.New("sqlstore: task without id")
	}
	var result any
	if t.Result != nil {
		var err error
		if result, err = js(t.Result); err != nil {
			return nil, err
		}
	}
	return []any{t.ID, t.JobID, t.ExecutionID, t.WorkflowID, t.WorkflowKey, t.NodeKey, t.UserID, t.Title, int(t.Status), result,
		tm(t.CreatedAt), tm(t.UpdatedAt)}, nil
}

// InsertTask stores a new task.
func (s *Store) InsertTask(ctx context.Context, t *flow.Task) error {
	args, err := taskArgs(t)
	if err != nil {
		return err
	}
	return s.writeAuto(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, s.st.q("INSERT INTO actiontrigger_tasks ("+taskCols+") VALUES ("+placeholders(12)+") ON CONFLICT DO NOTHING"), args...)
		if err != nil {
			return s.st.mapErr(err, "insert task "+t.ID)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sqlstore: task %q: %w", t.ID, flow.ErrDuplicate)
		}
		return nil
	})
}

// GetTask returns the task id.
func (s *Store) GetTask(ctx context.Context, id string) (*flow.Task, error) {
	var t *flow.Task
	err := s.read(ctx, func(q querier) error {
		var err error
		t, err = scanTask(q.QueryRowContext(ctx, s.st.q("SELECT "+taskCols+" FROM actiontrigger_tasks WHERE id = ?"), id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlstore: task %q: %w", id, flow.ErrNotFound)
		}
		return s.st.mapErr(err, "get task "+id)
	})
	return t, err
}

// ListTasks returns the matching tasks, oldest first. A user's tasks are found
// through the (user_id, status) index.
func (s *Store) ListTasks(ctx context.Context, f storage.TaskFilter) ([]*flow.Task, error) {
	var where []string
	var args []any
	if f.UserID != "" {
		where, args = append(where, "user_id = ?"), append(args, f.UserID)
	}
	if len(f.Statuses) > 0 {
		where = append(where, "status IN ("+placeholders(len(f.Statuses))+")")
		for _, st := range f.Statuses {
			args = append(args, int(st))
		}
	}
	if f.WorkflowKey != "" {
		where, args = append(where, "workflow_key = ?"), append(args, f.WorkflowKey)
	}
	if f.JobID != "" {
		where, args = append(where, "job_id = ?"), append(args, f.JobID)
	}
	if f.ExecutionID != "" {
		where, args = append(where, "execution_id = ?"), append(args, f.ExecutionID)
	}
	query := "SELECT " + taskCols + " FROM actiontrigger_tasks"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY seq" + s.st.limitOffset(f.Limit, f.Offset)
	var out []*flow.Task
	err := s.read(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, s.st.q(query), args...)
		if err != nil {
			return s.st.mapErr(err, "list tasks")
		}
		defer rows.Close()
		out = []*flow.Task{}
		for rows.Next() {
			t, err := scanTask(rows)
			if err != nil {
				return s.st.mapErr(err, "list tasks")
			}
			out = append(out, t)
		}
		return s.st.mapErr(rows.Err(), "list tasks")
	})
	return out, err
}

// UpdateTask replaces the stored task t.ID if its status is still expect.
func (s *Store) UpdateTask(ctx context.Context, t *flow.Task, expect flow.TaskStatus) error {
	a, err := taskArgs(t)
	if err != nil {
		return err
	}
	args := append(a[1:len(a):len(a)], t.ID, int(expect))
	return s.writeAuto(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, s.st.q(`UPDATE actiontrigger_tasks SET job_id = ?, execution_id = ?, workflow_id = ?, workflow_key = ?,
			node_key = ?, user_id = ?, title = ?, status = ?, result = ?, created_at = ?, updated_at = ? WHERE id = ? AND status = ?`), args...)
		if err != nil {
			return s.st.mapErr(err, "update task "+t.ID)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return nil
		}
		var status int
		err = scan(q.QueryRowContext(ctx, s.st.q("SELECT status FROM actiontrigger_tasks WHERE id = ?"), t.ID), &status)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlstore: task %q: %w", t.ID, flow.ErrNotFound)
		}
		if err != nil {
			return s.st.mapErr(err, "update task "+t.ID)
		}
		return fmt.Errorf("sqlstore: task %q: status is %d, not %d: %w", t.ID, status, expect, flow.ErrConflict)
	})
}
