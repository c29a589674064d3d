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

// wfCols reads a version with its counters, the sums of their shards.
const wfCols = "w.id, w.wf_key, w.title, w.description, w.type, w.sync, w.enabled, w.is_current, w.config, w.options, w.nodes, w.version, " +
	"CAST(COALESCE((SELECT SUM(c.executed) FROM actiontrigger_workflow_counter_shards c WHERE c.workflow_id = w.id), 0) AS BIGINT), " +
	"CAST(COALESCE((SELECT SUM(k.executed) FROM actiontrigger_key_counter_shards k WHERE k.wf_key = w.wf_key), 0) AS BIGINT), " +
	"w.created_at, w.updated_at"

const wfFrom = " FROM actiontrigger_workflows w"

func scanWorkflow(sc interface{ Scan(...any) error }) (*flow.Workflow, error) {
	var w flow.Workflow
	var cfg, opts, nodes []byte
	var created, updated sql.NullInt64
	if err := scan(sc, &w.ID, &w.Key, &w.Title, &w.Description, &w.Type, &w.Sync, &w.Enabled, &w.Current,
		&cfg, &opts, &nodes, &w.Version, &w.Executed, &w.AllExecuted, &created, &updated); err != nil {
		return nil, err
	}
	if err := fromJS(cfg, &w.Config); err != nil {
		return nil, err
	}
	if err := fromJS(opts, &w.Options); err != nil {
		return nil, err
	}
	if err := fromJS(nodes, &w.Nodes); err != nil {
		return nil, err
	}
	w.CreatedAt, w.UpdatedAt = fromTm(created), fromTm(updated)
	return &w, nil
}

func checkWorkflow(w *flow.Workflow) error {
	if w == nil {
		return errors.New("sqlstore: nil workflow")
	}
	if w.ID == "" {
		return errors.New("sqlstore: workflow without id")
	}
	return nil
}

func wfDoc(w *flow.Workflow) (cfg, opts, nodes any, err error) {
	if cfg, err = js(w.Config); err != nil {
		return
	}
	if opts, err = js(w.Options); err != nil {
		return
	}
	nodes, err = js(w.Nodes)
	return
}

// InsertWorkflow stores a new version with its counter at 0.
func (s *Store) InsertWorkflow(ctx context.Context, w *flow.Workflow) error {
	if err := checkWorkflow(w); err != nil {
		return err
	}
	cfg, opts, nodes, err := wfDoc(w)
	if err != nil {
		return err
	}
	return s.writeAuto(ctx, func(q querier) error {
		res, err := q.ExecContext(ctx, s.st.q(`INSERT INTO actiontrigger_workflows
			(id, wf_key, title, description, type, sync, enabled, is_current, config, options, nodes, version, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
			w.ID, w.Key, w.Title, w.Description, w.Type, w.Sync, w.Enabled, w.Current, cfg, opts, nodes, w.Version, tm(w.CreatedAt), tm(w.UpdatedAt))
		if err != nil {
			return s.st.mapErr(err, "insert workflow "+w.ID)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var exists int
			err := scan(q.QueryRowContext(ctx, s.st.q("SELECT 1 FROM actiontrigger_workflows WHERE id = ?"), w.ID), &exists)
			if err == nil {
				return fmt.Errorf("sqlstore: workflow %q: %w", w.ID, flow.ErrDuplicate)
			}
			return fmt.Errorf("sqlstore: workflow %q: key %q already has a current version: %w", w.ID, w.Key, flow.ErrDuplicate)
		}
		return nil
	})
}

// UpdateWorkflow replaces the version w.ID, keeping the store's counters.
func (s *Store) UpdateWorkflow(ctx context.Context, w *flow.Workflow) error {
	if err := checkWorkflow(w); err != nil {
		return err
	}
	cfg, opts, nodes, err := wfDoc(w)
	if err != nil {
		return err
	}
	return s.write(ctx, true, func(q querier) error {
		if w.Current {
			var other string
			err := scan(q.QueryRowContext(ctx, s.st.q("SELECT id FROM actiontrigger_workflows WHERE wf_key = ? AND is_current AND id <> ?"), w.Key, w.ID), &other)
			if err == nil {
				return fmt.Errorf("sqlstore: workflow %q: version %q of key %q is already current: %w", w.ID, other, w.Key, flow.ErrDuplicate)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return s.st.mapErr(err, "update workflow "+w.ID)
			}
		}
		res, err := q.ExecContext(ctx, s.st.q(`UPDATE actiontrigger_workflows SET wf_key = ?, title = ?, description = ?, type = ?, sync = ?,
			enabled = ?, is_current = ?, config = ?, options = ?, nodes = ?, version = ?, created_at = ?, updated_at = ? WHERE id = ?`),
			w.Key, w.Title, w.Description, w.Type, w.Sync, w.Enabled, w.Current, cfg, opts, nodes, w.Version, tm(w.CreatedAt), tm(w.UpdatedAt), w.ID)
		if err != nil {
			return s.st.mapErr(err, "update workflow "+w.ID)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sqlstore: workflow %q: %w", w.ID, flow.ErrNotFound)
		}
		return nil
	})
}

// GetWorkflow returns the version id with its counters.
func (s *Store) GetWorkflow(ctx context.Context, id string) (*flow.Workflow, error) {
	var w *flow.Workflow
	err := s.read(ctx, func(q querier) error {
		var err error
		w, err = scanWorkflow(q.QueryRowContext(ctx, s.st.q("SELECT "+wfCols+wfFrom+" WHERE w.id = ?"), id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlstore: workflow %q: %w", id, flow.ErrNotFound)
		}
		if err != nil {
			return s.st.mapErr(err, "get workflow "+id)
		}
		return nil
	})
	return w, err
}

// workflowWhere renders f's conditions on the workflows table w.
func workflowWhere(f storage.WorkflowFilter) (string, []any) {
	var where []string
	var args []any
	if f.Key != "" {
		where, args = append(where, "w.wf_key = ?"), append(args, f.Key)
	}
	if f.Enabled != nil {
		where, args = append(where, "w.enabled = ?"), append(args, *f.Enabled)
	}
	if f.Current != nil {
		where, args = append(where, "w.is_current = ?"), append(args, *f.Current)
	}
	if f.Type != "" {
		if f.Type == flow.TriggerType {
			where, args = append(where, "(w.type = ? OR w.type = '')"), append(args, f.Type)
		} else {
			where, args = append(where, "w.type = ?"), append(args, f.Type)
		}
	}
	if len(where) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(where, " AND "), args
}

var _ storage.WorkflowCounter = (*Store)(nil)

// CountWorkflows returns the number of versions matching f (f.Limit and
// f.Offset ignored).
func (s *Store) CountWorkflows(ctx context.Context, f storage.WorkflowFilter) (int, error) {
	w, args := workflowWhere(f)
	n := 0
	err := s.read(ctx, func(q querier) error {
		return s.st.mapErr(scan(q.QueryRowContext(ctx, s.st.q("SELECT COUNT(*)"+wfFrom+w), args...), &n), "count workflows")
	})
	return n, err
}

// ListWorkflows returns the matching versions, oldest first, paged by
// f.Limit and f.Offset.
func (s *Store) ListWorkflows(ctx context.Context, f storage.WorkflowFilter) ([]*flow.Workflow, error) {
	w, args := workflowWhere(f)
	query := "SELECT " + wfCols + wfFrom + w + " ORDER BY w.seq" + s.st.limitOffset(f.Limit, f.Offset)
	var out []*flow.Workflow
	err := s.read(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, s.st.q(query), args...)
		if err != nil {
			return s.st.mapErr(err, "list workflows")
		}
		defer rows.Close()
		out = []*flow.Workflow{}
		for rows.Next() {
			w, err := scanWorkflow(rows)
			if err != nil {
				return s.st.mapErr(err, "list workflows")
			}
			out = append(out, w)
		}
		return s.st.mapErr(rows.Err(), "list workflows")
	})
	return out, err
}

// DeleteWorkflow removes the version id with its Executed counter (so that a
// version inserted again with that id starts at 0). Its executions stay, and
// so does the AllExecuted counter of its key.
func (s *Store) DeleteWorkflow(ctx context.Context, id string) error {
	return s.write(ctx, false, func(q querier) error {
		// The row first: its lock waits for the transactions counting
		// executions of it (FOR KEY SHARE), whose shards the next statement
		// then sees.
		res, err := q.ExecContext(ctx, s.st.q("DELETE FROM actiontrigger_workflows WHERE id = ?"), id)
		if err != nil {
			return s.st.mapErr(err, "delete workflow "+id)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sqlstore: workflow %q: %w", id, flow.ErrNotFound)
		}
		if _, err := q.ExecContext(ctx, s.st.q("DELETE FROM actiontrigger_workflow_counter_shards WHERE workflow_id = ?"), id); err != nil {
			return s.st.mapErr(err, "delete workflow "+id)
		}
		return nil
	})
}
