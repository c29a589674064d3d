package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/actiontrigger/actiontrigger/flow"
)

const jobCols = "id, execution_id, node_key, node_type, seq, upstream_id, status, result, meta, log, branch, end_, retries, created_at, updated_at"

// jobNCols is the number of columns of jobCols.
const jobNCols = 15

func scanJob(sc interface{ Scan(...any) error }) (*flow.Job, error) {
	var j flow.Job
	var result, meta, retries []byte
	var branch, created, updated sql.NullInt64
	if err := scan(sc, &j.ID, &j.ExecutionID, &j.NodeKey, &j.NodeType, &j.Seq, &j.UpstreamID, &j.Status, &result, &meta, &j.Log,
		&branch, &j.End, &retries, &created, &updated); err != nil {
		return nil, err
	}
	if err := fromJS(result, &j.Result); err != nil {
		return nil, err
	}
	if err := fromJS(meta, &j.Meta); err != nil {
		return nil, err
	}
	if err := fromRetriesJS(retries, &j); err != nil {
		return nil, err
	}
	if branch.Valid {
		b := int(branch.Int64)
		j.Branch = &b
	}
	j.CreatedAt, j.UpdatedAt = fromTm(created), fromTm(updated)
	return &j, nil
}

func checkJob(j *flow.Job) error {
	if j == nil {
		return errors.New("sqlstore: nil job")
	}
	if j.ID == "" {
		return errors.New("sqlstore: job without id")
	}
	return nil
}

// jobArgs returns the values of the columns of jobCols, in order.
func jobArgs(j *flow.Job) ([]any, error) {
	var result, meta, branch any
	var err error
	if j.Result != nil {
		if result, err = js(j.Result); err != nil {
			return nil, err
		}
	}
	if j.Meta != nil {
		if meta, err = js(j.Meta); err != nil {
			return nil, err
		}
	}
	if j.Branch != nil {
		branch = int64(*j.Branch)
	}
	retries, err := retriesJS(j)
	if err != nil {
		return nil, err
	}
	return []any{j.ID, j.ExecutionID, j.NodeKey, j.NodeType, j.Seq, j.UpstreamID, int(j.Status), result, meta, j.Log, branch, j.End,
		retries, tm(j.CreatedAt), tm(j.UpdatedAt)}, nil
}

func executionExists(ctx context.Context, st *state, q querier, id string) (bool, error) {
	var one int
	err := scan(q.QueryRowContext(ctx, st.q("SELECT 1 FROM actiontrigger_executions WHERE id = ?"), id), &one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, st.mapErr(err, "find execution "+id)
	}
	return true, nil
}

// maxJobsPerInsert bounds the rows of one INSERT of InsertJobs (jobNCols bound
// parameters each), well under the parameter limits of SQLite and PostgreSQL.
const maxJobsPerInsert = 500

// InsertJobs stores new jobs, all or none.
func (s *Store) InsertJobs(ctx context.Context, jobs ...*flow.Job) error {
	args, err := jobsArgs(jobs)
	if err != nil || len(jobs) == 0 {
		return err
	}
	return s.write(ctx, false, func(q querier) error {
		return s.insertJobs(ctx, q, jobs, args)
	})
}

// jobsArgs checks jobs (no id twice) and returns the column values of each.
func jobsArgs(jobs []*flow.Job) ([][]any, error) {
	args := make([][]any, len(jobs))
	for i, j := range jobs {
		if err := checkJob(j); err != nil {
			return nil, err
		}
		for k := 0; k < i; k++ {
			if jobs[k].ID == j.ID {
				return nil, fmt.Errorf("sqlstore: job %q given twice: %w", j.ID, flow.ErrDuplicate)
			}
		}
		a, err := jobArgs(j)
		if err != nil {
			return nil, err
		}
		args[i] = a
	}
	return args, nil
}

// insertJobs is InsertJobs in the transaction of q (or on its own), with
// args from jobsArgs.
func (s *Store) insertJobs(ctx context.Context, q querier, jobs []*flow.Job, args [][]any) error {
	// One statement for the batch (up to maxJobsPerInsert jobs), which also
	// tells whether each job's execution exists: a run's jobs are written
	// together, without a savepoint or a lookup first.
	inserts := make([]string, 0, 1)
	for from := 0; from < len(jobs); from += maxJobsPerInsert {
		n := min(maxJobsPerInsert, len(jobs)-from)
		var b strings.Builder
		b.WriteString("INSERT INTO actiontrigger_jobs (" + jobCols + ") VALUES ")
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(" + placeholders(jobNCols) + ")")
		}
		b.WriteString(` ON CONFLICT DO NOTHING RETURNING id,
		EXISTS (SELECT 1 FROM actiontrigger_executions e WHERE e.id = actiontrigger_jobs.execution_id)`)
		inserts = append(inserts, s.st.q(b.String()))
	}
	var inserted []any
	orphan := false
	for k, insert := range inserts {
		from := k * maxJobsPerInsert
		flat := make([]any, 0, min(maxJobsPerInsert, len(jobs)-from)*jobNCols)
		for _, a := range args[from:min(from+maxJobsPerInsert, len(jobs))] {
			flat = append(flat, a...)
		}
		rows, err := q.QueryContext(ctx, insert, flat...)
		if err != nil {
			return s.st.mapErr(err, "insert jobs")
		}
		for rows.Next() {
			var id string
			var ok bool
			if err := scan(rows, &id, &ok); err != nil {
				rows.Close()
				return s.st.mapErr(err, "insert jobs")
			}
			inserted = append(inserted, id)
			orphan = orphan || !ok
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return s.st.mapErr(err, "insert jobs")
		}
	}
	if len(inserted) == len(jobs) && !orphan {
		return nil
	}
	// Some id existed or some execution does not: take back the rows that
	// went in (inside a transaction; otherwise the statement's own
	// transaction rolls back) and tell which.
	for len(inserted) > 0 {
		n := min(maxJobsPerInsert, len(inserted))
		if _, err := q.ExecContext(ctx, s.st.q("DELETE FROM actiontrigger_jobs WHERE id IN ("+placeholders(n)+")"), inserted[:n]...); err != nil {
			return s.st.mapErr(err, "insert jobs")
		}
		inserted = inserted[n:]
	}
	for i, j := range jobs {
		if i == 0 || jobs[i-1].ExecutionID != j.ExecutionID {
			ok, err := executionExists(ctx, s.st, q, j.ExecutionID)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("sqlstore: job %q: execution %q: %w", j.ID, j.ExecutionID, flow.ErrNotFound)
			}
		}
	}
	return fmt.Errorf("sqlstore: a job of %d already exists: %w", len(jobs), flow.ErrDuplicate)
}

// UpdateJob replaces the stored job j.ID if its status is still expect.
func (s *Store) UpdateJob(ctx context.Context, j *flow.Job, expect flow.JobStatus) error {
	if err := checkJob(j); err != nil {
		return err
	}
	a, err := jobArgs(j)
	if err != nil {
		return err
	}
	const set = `UPDATE actiontrigger_jobs SET execution_id = ?, node_key = ?, node_type = ?, seq = ?, upstream_id = ?, status = ?,
		result = ?, meta = ?, log = ?, branch = ?, end_ = ?, retries = ?, created_at = ?, updated_at = ? WHERE id = ? AND status = ?`
	args := append(a[1:len(a):len(a)], j.ID, int(expect))
	return s.write(ctx, false, func(q querier) error {
		res, err := q.ExecContext(ctx, s.st.q(set+" AND execution_id = ?"), append(args, j.ExecutionID)...)
		if err != nil {
			return s.st.mapErr(err, "update job "+j.ID)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return nil
		}
		var status int
		var execID string
		err = scan(q.QueryRowContext(ctx, s.st.q("SELECT status, execution_id FROM actiontrigger_jobs WHERE id = ?"), j.ID), &status, &execID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlstore: job %q: %w", j.ID, flow.ErrNotFound)
		}
		if err != nil {
			return s.st.mapErr(err, "update job "+j.ID)
		}
		if flow.JobStatus(status) != expect {
			return fmt.Errorf("sqlstore: job %q: status is %s, not %s: %w", j.ID, flow.JobStatus(status), expect, flow.ErrConflict)
		}
		// The job moves to another execution.
		ok, err := executionExists(ctx, s.st, q, j.ExecutionID)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("sqlstore: job %q: execution %q: %w", j.ID, j.ExecutionID, flow.ErrNotFound)
		}
		res, err = q.ExecContext(ctx, s.st.q(set), args...)
		if err != nil {
			return s.st.mapErr(err, "update job "+j.ID)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("sqlstore: job %q: changed concurrently: %w", j.ID, flow.ErrConflict)
		}
		return nil
	})
}

// GetJob returns the job id.
func (s *Store) GetJob(ctx context.Context, id string) (*flow.Job, error) {
	var j *flow.Job
	err := s.read(ctx, func(q querier) error {
		var err error
		j, err = scanJob(q.QueryRowContext(ctx, s.st.q("SELECT "+jobCols+" FROM actiontrigger_jobs WHERE id = ?"), id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlstore: job %q: %w", id, flow.ErrNotFound)
		}
		return s.st.mapErr(err, "get job "+id)
	})
	return j, err
}

// LockJob returns the job id and, inside InTx, holds it until the transaction
// ends. On PostgreSQL it reads the row FOR UPDATE: a second locker waits for
// the first transaction to end and, at READ COMMITTED, the statements it runs
// afterwards see what that transaction committed. On SQLite every transaction
// of InTx already holds the database's write lock from its first statement
// (BEGIN IMMEDIATE, and the store's write mutex), so a plain read suffices; in
// a transaction bound with BindTx that the host began DEFERRED, a unit of work
// that read before another committed fails with SQLITE_BUSY when it writes,
// instead of deciding from a stale read.
func (s *Store) LockJob(ctx context.Context, id string) (*flow.Job, error) {
	if s.tx == nil || s.st.d != PostgreSQL {
		return s.GetJob(ctx, id)
	}
	var j *flow.Job
	err := s.read(ctx, func(q querier) error {
		var err error
		j, err = scanJob(q.QueryRowContext(ctx, "SELECT "+jobCols+" FROM actiontrigger_jobs WHERE id = $1 FOR UPDATE", id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlstore: job %q: %w", id, flow.ErrNotFound)
		}
		return s.st.mapErr(err, "lock job "+id)
	})
	return j, err
}

// ListJobs returns the jobs of an execution ordered by Seq, then insertion.
func (s *Store) ListJobs(ctx context.Context, executionID string) ([]*flow.Job, error) {
	order := " ORDER BY seq, rowid"
	if s.st.d == PostgreSQL {
		order = " ORDER BY seq, ord"
	}
	var out []*flow.Job
	err := s.read(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, s.st.q("SELECT "+jobCols+" FROM actiontrigger_jobs WHERE execution_id = ?"+order), executionID)
		if err != nil {
			return s.st.mapErr(err, "list jobs")
		}
		defer rows.Close()
		out = []*flow.Job{}
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				return s.st.mapErr(err, "list jobs")
			}
			out = append(out, j)
		}
		return s.st.mapErr(rows.Err(), "list jobs")
	})
	return out, err
}
