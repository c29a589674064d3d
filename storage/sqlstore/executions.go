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

const execCols = "seq, id, workflow_id, wf_key, event_key, context, status, reason, sync, manually, stack, runnable, resume_job_id, lease_owner, lease_until, attempt, created_at, updated_at, started_at, expires_at, ended_at, run_after, trace"

func scanExecution(sc interface{ Scan(...any) error }) (*flow.Execution, int64, error) {
	var e flow.Execution
	var seq int64
	var ctxJS, stackJS []byte
	var leaseUntil, created, updated, started, expires, ended, runAfter sql.NullInt64
	var trace sql.NullString
	if err := scan(sc, &seq, &e.ID, &e.WorkflowID, &e.Key, &e.EventKey, &ctxJS, &e.Status, &e.Reason, &e.Sync, &e.Manually,
		&stackJS, &e.Runnable, &e.ResumeJobID, &e.LeaseOwner, &leaseUntil, &e.Attempt, &created, &updated, &started, &expires, &ended,
		&runAfter, &trace); err != nil {
		return nil, 0, err
	}
	if err := fromJS(ctxJS, &e.Context); err != nil {
		return nil, 0, err
	}
	if err := fromJS(stackJS, &e.Stack); err != nil {
		return nil, 0, err
	}
	e.LeaseUntil, e.CreatedAt, e.UpdatedAt = fromTm(leaseUntil), fromTm(created), fromTm(updated)
	e.StartedAt, e.ExpiresAt, e.EndedAt = fromTm(started), fromTm(expires), fromTm(ended)
	e.RunAfter = fromTm(runAfter)
	e.Trace = trace.String
	return &e, seq, nil
}

func checkExecution(e *flow.Execution) error {
	if e == nil {
		return errors.New("sqlstore: nil execution")
	}
	if e.ID == "" {
		return errors.New("sqlstore: execution without id")
	}
	return nil
}

func execDoc(e *flow.Execution) (ctxJS, stackJS any, err error) {
	if e.Context != nil {
		if ctxJS, err = js(e.Context); err != nil {
			return
		}
	}
	if len(e.Stack) > 0 {
		stackJS, err = js(e.Stack)
	}
	return
}

// InsertExecution stores e and counts it in its workflow's counters.
func (s *Store) InsertExecution(ctx context.Context, e *flow.Execution) error {
	if err := checkExecution(e); err != nil {
		return err
	}
	ctxJS, stackJS, err := execDoc(e)
	if err != nil {
		return err
	}
	return s.writeTx(ctx, false, func(q querier, t *txState) error {
		return s.insertExecution(ctx, q, t, e, ctxJS, stackJS)
	})
}

// insertExecution is InsertExecution in the transaction of q and t.
func (s *Store) insertExecution(ctx context.Context, q querier, t *txState, e *flow.Execution, ctxJS, stackJS any) error {
	if s.st.d == PostgreSQL {
		return s.insertCountPG(ctx, q, t, e, ctxJS, stackJS)
	}
	res, err := q.ExecContext(ctx, s.st.q(`INSERT INTO actiontrigger_executions
			(id, workflow_id, wf_key, event_key, context, status, reason, sync, manually, stack, runnable, resume_job_id, lease_owner, lease_until, attempt, created_at, updated_at, started_at, expires_at, ended_at, run_after, trace)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
		e.ID, e.WorkflowID, e.Key, e.EventKey, ctxJS, int(e.Status), e.Reason, e.Sync, e.Manually, stackJS, e.Runnable, e.ResumeJobID,
		e.LeaseOwner, tm(e.LeaseUntil), e.Attempt, tm(e.CreatedAt), tm(e.UpdatedAt), tm(e.StartedAt), tm(e.ExpiresAt), tm(e.EndedAt),
		tm(e.RunAfter), nstr(e.Trace))
	if err != nil {
		return s.st.mapErr(err, "insert execution "+e.ID)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var one int
		if err := scan(q.QueryRowContext(ctx, s.st.q("SELECT 1 FROM actiontrigger_workflows WHERE id = ?"), e.WorkflowID), &one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("sqlstore: execution %q: workflow %q: %w", e.ID, e.WorkflowID, flow.ErrNotFound)
			}
			return s.st.mapErr(err, "insert execution "+e.ID)
		}
		if err := scan(q.QueryRowContext(ctx, s.st.q("SELECT 1 FROM actiontrigger_executions WHERE id = ?"), e.ID), &one); err == nil {
			return fmt.Errorf("sqlstore: execution %q: %w", e.ID, flow.ErrDuplicate)
		}
		return fmt.Errorf("sqlstore: execution %q: workflow %q already has an execution for event %q: %w", e.ID, e.WorkflowID, e.EventKey, flow.ErrDuplicate)
	}
	// Count it; the counters move last, so their rows stay locked briefly.
	found, err := s.st.count(ctx, q, e.WorkflowID, s.st.counterShard(t))
	if err != nil {
		return s.st.mapErr(err, "count execution "+e.ID)
	}
	if !found {
		if _, err := q.ExecContext(ctx, s.st.q("DELETE FROM actiontrigger_executions WHERE id = ?"), e.ID); err != nil {
			return s.st.mapErr(err, "insert execution "+e.ID)
		}
		return fmt.Errorf("sqlstore: execution %q: workflow %q: %w", e.ID, e.WorkflowID, flow.ErrNotFound)
	}
	return nil
}

// insertCountPG inserts an execution and counts it in the shard $23 of its
// workflow's counters in one statement (one round trip): the counters move
// only when the row went in, and a workflow that does not exist counts
// nothing. FOR KEY SHARE keeps the workflow from being deleted (with its
// shards) until the transaction ends without blocking other counts or
// updates: a count never lands after the deletion of its workflow's shards.
// It reports whether the row went in and the workflow's
// key (NULL: no workflow).
const insertCountPG = `WITH x AS (INSERT INTO actiontrigger_executions
		(id, workflow_id, wf_key, event_key, context, status, reason, sync, manually, stack, runnable, resume_job_id, lease_owner, lease_until, attempt, created_at, updated_at, started_at, expires_at, ended_at, run_after, trace)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22) ON CONFLICT DO NOTHING RETURNING workflow_id),
	w AS (SELECT id, wf_key FROM actiontrigger_workflows WHERE id IN (SELECT workflow_id FROM x) FOR KEY SHARE),
	c AS (INSERT INTO actiontrigger_workflow_counter_shards (workflow_id, shard, executed) SELECT id, $23, 1 FROM w
		ON CONFLICT (workflow_id, shard) DO UPDATE SET executed = actiontrigger_workflow_counter_shards.executed + 1),
	k AS (INSERT INTO actiontrigger_key_counter_shards (wf_key, shard, executed) SELECT wf_key, $23, 1 FROM w
		ON CONFLICT (wf_key, shard) DO UPDATE SET executed = actiontrigger_key_counter_shards.executed + 1)
	SELECT EXISTS (SELECT 1 FROM x), (SELECT wf_key FROM w)`

// insertCountPG is InsertExecution on PostgreSQL: the INSERT and the count
// in one statement, with the same outcomes as the two.
func (s *Store) insertCountPG(ctx context.Context, q querier, t *txState, e *flow.Execution, ctxJS, stackJS any) error {
	var inserted bool
	var key sql.NullString
	err := scan(q.QueryRowContext(ctx, insertCountPG,
		e.ID, e.WorkflowID, e.Key, e.EventKey, ctxJS, int(e.Status), e.Reason, e.Sync, e.Manually, stackJS, e.Runnable, e.ResumeJobID,
		e.LeaseOwner, tm(e.LeaseUntil), e.Attempt, tm(e.CreatedAt), tm(e.UpdatedAt), tm(e.StartedAt), tm(e.ExpiresAt), tm(e.EndedAt),
		tm(e.RunAfter), nstr(e.Trace), s.st.counterShard(t)), &inserted, &key)
	if err != nil {
		return s.st.mapErr(err, "insert execution "+e.ID)
	}
	return s.insertCountOutcomePG(ctx, q, e, inserted, key)
}

// insertCountOutcomePG turns what insertCountPG's statement reported (whether
// the row went in, the workflow's key) into InsertExecution's outcome, taking
// the row back when its workflow does not exist.
func (s *Store) insertCountOutcomePG(ctx context.Context, q querier, e *flow.Execution, inserted bool, key sql.NullString) error {
	if !inserted {
		var one int
		if err := scan(q.QueryRowContext(ctx, "SELECT 1 FROM actiontrigger_workflows WHERE id = $1", e.WorkflowID), &one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("sqlstore: execution %q: workflow %q: %w", e.ID, e.WorkflowID, flow.ErrNotFound)
			}
			return s.st.mapErr(err, "insert execution "+e.ID)
		}
		if err := scan(q.QueryRowContext(ctx, "SELECT 1 FROM actiontrigger_executions WHERE id = $1", e.ID), &one); err == nil {
			return fmt.Errorf("sqlstore: execution %q: %w", e.ID, flow.ErrDuplicate)
		}
		return fmt.Errorf("sqlstore: execution %q: workflow %q already has an execution for event %q: %w", e.ID, e.WorkflowID, e.EventKey, flow.ErrDuplicate)
	}
	if !key.Valid {
		if _, err := q.ExecContext(ctx, "DELETE FROM actiontrigger_executions WHERE id = $1", e.ID); err != nil {
			return s.st.mapErr(err, "insert execution "+e.ID)
		}
		return fmt.Errorf("sqlstore: execution %q: workflow %q: %w", e.ID, e.WorkflowID, flow.ErrNotFound)
	}
	return nil
}

// count adds one to the shard of the counters of the workflow id and of its
// key, and reports whether the workflow exists (if not, nothing is counted).
// It is SQLite's; PostgreSQL counts in the INSERT (insertCountPG).
func (st *state) count(ctx context.Context, q querier, id string, shard int) (bool, error) {
	var key string
	err := scan(q.QueryRowContext(ctx, "SELECT wf_key FROM actiontrigger_workflows WHERE id = ?", id), &key)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO actiontrigger_workflow_counter_shards (workflow_id, shard, executed) VALUES (?, ?, 1)
		ON CONFLICT (workflow_id, shard) DO UPDATE SET executed = actiontrigger_workflow_counter_shards.executed + 1`, id, shard); err != nil {
		return false, err
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO actiontrigger_key_counter_shards (wf_key, shard, executed) VALUES (?, ?, 1)
		ON CONFLICT (wf_key, shard) DO UPDATE SET executed = actiontrigger_key_counter_shards.executed + 1`, key, shard); err != nil {
		return false, err
	}
	return true, nil
}

func getExecution(ctx context.Context, st *state, q querier, id string) (*flow.Execution, error) {
	e, _, err := scanExecution(q.QueryRowContext(ctx, st.q("SELECT "+execCols+" FROM actiontrigger_executions WHERE id = ?"), id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: execution %q: %w", id, flow.ErrNotFound)
	}
	if err != nil {
		return nil, st.mapErr(err, "get execution "+id)
	}
	return e, nil
}

// GetExecution returns the execution id.
func (s *Store) GetExecution(ctx context.Context, id string) (*flow.Execution, error) {
	var e *flow.Execution
	err := s.read(ctx, func(q querier) error {
		var err error
		e, err = getExecution(ctx, s.st, q, id)
		return err
	})
	return e, err
}

// ListExecutions returns the matching executions, oldest first.
func (s *Store) ListExecutions(ctx context.Context, f storage.ExecutionFilter) ([]*flow.Execution, error) {
	var where []string
	var args []any
	if f.WorkflowID != "" {
		where, args = append(where, "workflow_id = ?"), append(args, f.WorkflowID)
	}
	if f.Key != "" {
		where, args = append(where, "wf_key = ?"), append(args, f.Key)
	}
	if len(f.Statuses) > 0 {
		where = append(where, "status IN ("+placeholders(len(f.Statuses))+")")
		for _, st := range f.Statuses {
			args = append(args, int(st))
		}
	}
	if !f.ExpiresBefore.IsZero() {
		where, args = append(where, "expires_at IS NOT NULL AND expires_at < ?"), append(args, f.ExpiresBefore.UnixMicro())
	}
	if !f.CreatedFrom.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, f.CreatedFrom.UnixMicro())
	}
	if !f.CreatedBefore.IsZero() {
		where, args = append(where, "created_at < ?"), append(args, f.CreatedBefore.UnixMicro())
	}
	query := "SELECT " + execCols + " FROM actiontrigger_executions"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	order := " ORDER BY seq"
	if f.NewestFirst {
		order += " DESC"
	}
	query += order + s.st.limitOffset(f.Limit, f.Offset)
	var out []*flow.Execution
	err := s.read(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, s.st.q(query), args...)
		if err != nil {
			return s.st.mapErr(err, "list executions")
		}
		defer rows.Close()
		out = []*flow.Execution{}
		for rows.Next() {
			e, _, err := scanExecution(rows)
			if err != nil {
				return s.st.mapErr(err, "list executions")
			}
			out = append(out, e)
		}
		return s.st.mapErr(rows.Err(), "list executions")
	})
	return out, err
}

// placeholders returns n comma-separated ? placeholders.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// limitOffset renders LIMIT and OFFSET (0: none).
func (st *state) limitOffset(limit, offset int) string {
	switch {
	case limit > 0 && offset > 0:
		return fmt.Sprintf(" LIMIT %d OFFSET %d", limit, offset)
	case limit > 0:
		return fmt.Sprintf(" LIMIT %d", limit)
	case offset > 0 && st.d == SQLite:
		return fmt.Sprintf(" LIMIT -1 OFFSET %d", offset)
	case offset > 0:
		return fmt.Sprintf(" OFFSET %d", offset)
	}
	return ""
}

// UpdateExecution replaces the stored execution if it still matches expect.
func (s *Store) UpdateExecution(ctx context.Context, e *flow.Execution, expect storage.ExecutionExpect) error {
	if err := checkExecution(e); err != nil {
		return err
	}
	ctxJS, stackJS, err := execDoc(e)
	if err != nil {
		return err
	}
	const set = `UPDATE actiontrigger_executions SET workflow_id = ?, wf_key = ?, event_key = ?, context = ?, status = ?, reason = ?, sync = ?, manually = ?,
		stack = ?, runnable = ?, resume_job_id = ?, lease_owner = ?, lease_until = ?, attempt = ?, created_at = ?, updated_at = ?, started_at = ?,
		expires_at = ?, ended_at = ?, run_after = ?, trace = ? WHERE id = ? AND status = ? AND (CAST(? AS TEXT) = '' OR lease_owner = ?)`
	args := []any{e.WorkflowID, e.Key, e.EventKey, ctxJS, int(e.Status), e.Reason, e.Sync, e.Manually, stackJS, e.Runnable, e.ResumeJobID,
		e.LeaseOwner, tm(e.LeaseUntil), e.Attempt, tm(e.CreatedAt), tm(e.UpdatedAt), tm(e.StartedAt), tm(e.ExpiresAt), tm(e.EndedAt),
		tm(e.RunAfter), nstr(e.Trace), e.ID, int(expect.Status), expect.LeaseOwner, expect.LeaseOwner}
	return s.writeAuto(ctx, func(q querier) error {
		// Fast path: the event identity does not move.
		res, err := q.ExecContext(ctx, s.st.q(set+" AND workflow_id = ? AND event_key = ?"), append(args, e.WorkflowID, e.EventKey)...)
		if err != nil {
			return s.st.mapErr(err, "update execution "+e.ID)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return nil
		}
		var status int
		var owner, wf, ev string
		lock := ""
		if s.st.d == PostgreSQL {
			lock = " FOR UPDATE"
		}
		err = scan(q.QueryRowContext(ctx, s.st.q("SELECT status, lease_owner, workflow_id, event_key FROM actiontrigger_executions WHERE id = ?"+lock), e.ID), &status, &owner, &wf, &ev)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlstore: execution %q: %w", e.ID, flow.ErrNotFound)
		}
		if err != nil {
			return s.st.mapErr(err, "update execution "+e.ID)
		}
		if expect.LeaseOwner != "" && owner != expect.LeaseOwner {
			holder := "nobody"
			if owner != "" {
				holder = fmt.Sprintf("%q", owner)
			}
			return fmt.Errorf("sqlstore: execution %q: the lease of %q is held by %s: %w", e.ID, expect.LeaseOwner, holder, flow.ErrLeaseLost)
		}
		if flow.ExecutionStatus(status) != expect.Status {
			return fmt.Errorf("sqlstore: execution %q: status is %s, not %s: %w", e.ID, flow.ExecutionStatus(status), expect.Status, flow.ErrConflict)
		}
		// The event identity moves: check the new one is free.
		if e.EventKey != "" {
			var holder string
			err := scan(q.QueryRowContext(ctx, s.st.q("SELECT id FROM actiontrigger_executions WHERE workflow_id = ? AND event_key = ? AND id <> ?"), e.WorkflowID, e.EventKey, e.ID), &holder)
			if err == nil {
				return fmt.Errorf("sqlstore: execution %q: workflow %q already has execution %q for event %q: %w", e.ID, e.WorkflowID, holder, e.EventKey, flow.ErrDuplicate)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return s.st.mapErr(err, "update execution "+e.ID)
			}
		}
		res, err = q.ExecContext(ctx, s.st.q(set), args...)
		if err != nil {
			return s.st.mapErr(err, "update execution "+e.ID)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sqlstore: execution %q: changed concurrently: %w", e.ID, flow.ErrConflict)
		}
		return nil
	})
}

// DeleteExecution removes the execution id with its jobs.
func (s *Store) DeleteExecution(ctx context.Context, id string) error {
	return s.write(ctx, false, func(q querier) error {
		res, err := q.ExecContext(ctx, s.st.q("DELETE FROM actiontrigger_executions WHERE id = ?"), id)
		if err != nil {
			return s.st.mapErr(err, "delete execution "+id)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sqlstore: execution %q: %w", id, flow.ErrNotFound)
		}
		if _, err := q.ExecContext(ctx, s.st.q("DELETE FROM actiontrigger_jobs WHERE execution_id = ?"), id); err != nil {
			return s.st.mapErr(err, "delete execution "+id)
		}
		return nil
	})
}
