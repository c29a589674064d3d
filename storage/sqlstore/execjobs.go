package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

var _ storage.ExecutionJobsInserter = (*Store)(nil)

// maxJobsWithExecution bounds the jobs InsertExecutionJobs writes in the
// execution's statement on PostgreSQL; more go in InsertJobs' statements
// after it. A sync run writes a handful.
const maxJobsWithExecution = 64

// insertExecJobsPG holds insertCountPG's statement extended with the INSERT of
// 1 to maxJobsWithExecution jobs (index n-1): built once each.
var insertExecJobsPG = func() []string {
	// The jobs go in only with a counted execution (the same condition as the
	// counters'); parameters in a VALUES list under a SELECT take no type from
	// the target columns, hence the casts.
	types := [jobNCols]string{"text", "text", "text", "text", "bigint", "text", "bigint", "jsonb", "jsonb", "text", "bigint", "boolean", "text", "bigint", "bigint"}
	head := strings.TrimSuffix(insertCountPG, "\n\tSELECT EXISTS (SELECT 1 FROM x), (SELECT wf_key FROM w)")
	if head == insertCountPG {
		panic("sqlstore: insertCountPG does not end as insertExecJobsPG expects")
	}
	out := make([]string, maxJobsWithExecution)
	for n := 1; n <= maxJobsWithExecution; n++ {
		var b strings.Builder
		b.WriteString(head)
		b.WriteString(",\n\tj AS (INSERT INTO actiontrigger_jobs (" + jobCols + ") SELECT * FROM (VALUES ")
		p := 24 // after insertCountPG's 23 parameters
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for c := range jobNCols {
				if c > 0 {
					b.WriteString(", ")
				}
				b.WriteString("$" + strconv.Itoa(p) + "::" + types[c])
				p++
			}
			b.WriteByte(')')
		}
		b.WriteString(") v WHERE EXISTS (SELECT 1 FROM w) ON CONFLICT DO NOTHING RETURNING 1)\n\tSELECT EXISTS (SELECT 1 FROM x), (SELECT wf_key FROM w), (SELECT count(*) FROM j)")
		out[n-1] = b.String()
	}
	return out
}()

// InsertExecutionJobs stores e, counts it, and stores jobs (all of e), all or
// nothing: storage.ExecutionJobsInserter. On PostgreSQL it is one statement
// (insertCountPG's with the jobs' INSERT); on SQLite, where statements cost no
// round trip, it is InsertExecution's and InsertJobs'.
func (s *Store) InsertExecutionJobs(ctx context.Context, e *flow.Execution, jobs ...*flow.Job) error {
	if err := checkExecution(e); err != nil {
		return err
	}
	ctxJS, stackJS, err := execDoc(e)
	if err != nil {
		return err
	}
	args, err := jobsArgs(jobs)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if j.ExecutionID != e.ID {
			return fmt.Errorf("sqlstore: job %q belongs to execution %q, not %q", j.ID, j.ExecutionID, e.ID)
		}
	}
	return s.writeTx(ctx, false, func(q querier, t *txState) error {
		if s.st.d == PostgreSQL && len(jobs) > 0 && len(jobs) <= maxJobsWithExecution {
			return s.insertExecJobsPG(ctx, q, t, e, ctxJS, stackJS, jobs, args)
		}
		if err := s.insertExecution(ctx, q, t, e, ctxJS, stackJS); err != nil {
			return err
		}
		if len(jobs) == 0 {
			return nil
		}
		if err := s.insertJobs(ctx, q, jobs, args); err != nil {
			// insertJobs took back its own rows: take back the execution.
			return s.uninsertExecution(ctx, q, t, e, nil, err)
		}
		return nil
	})
}

// insertExecJobsPG is InsertExecutionJobs on PostgreSQL: one statement.
func (s *Store) insertExecJobsPG(ctx context.Context, q querier, t *txState, e *flow.Execution, ctxJS, stackJS any, jobs []*flow.Job, args [][]any) error {
	all := make([]any, 0, 23+len(jobs)*jobNCols)
	all = append(all, e.ID, e.WorkflowID, e.Key, e.EventKey, ctxJS, int(e.Status), e.Reason, e.Sync, e.Manually, stackJS, e.Runnable, e.ResumeJobID,
		e.LeaseOwner, tm(e.LeaseUntil), e.Attempt, tm(e.CreatedAt), tm(e.UpdatedAt), tm(e.StartedAt), tm(e.ExpiresAt), tm(e.EndedAt),
		tm(e.RunAfter), nstr(e.Trace), s.st.counterShard(t))
	for _, a := range args {
		all = append(all, a...)
	}
	var inserted bool
	var key sql.NullString
	var n int
	if err := scan(q.QueryRowContext(ctx, insertExecJobsPG[len(jobs)-1], all...), &inserted, &key, &n); err != nil {
		return s.st.mapErr(err, "insert execution "+e.ID)
	}
	if !inserted || !key.Valid {
		// No jobs went in (they go in with a counted execution only).
		return s.insertCountOutcomePG(ctx, q, e, inserted, key)
	}
	if n == len(jobs) {
		return nil
	}
	return s.uninsertExecution(ctx, q, t, e, jobs, fmt.Errorf("sqlstore: a job of %d already exists: %w", len(jobs), flow.ErrDuplicate))
}

// uninsertExecution takes back the execution e this transaction inserted and
// counted, and those of jobs that went in with it (the jobs of e with their
// ids: e is new, so no other job of it was stored), then returns cause.
func (s *Store) uninsertExecution(ctx context.Context, q querier, t *txState, e *flow.Execution, jobs []*flow.Job, cause error) error {
	ctx = context.WithoutCancel(ctx)
	fail := func(err error) error {
		return fmt.Errorf("%w (and taking back execution %q failed: %w)", cause, e.ID, s.st.mapErr(err, "take back execution"))
	}
	for from := 0; from < len(jobs); from += maxJobsPerInsert {
		part := jobs[from:min(from+maxJobsPerInsert, len(jobs))]
		ids := make([]any, 0, len(part)+1)
		ids = append(ids, e.ID)
		for _, j := range part {
			ids = append(ids, j.ID)
		}
		if _, err := q.ExecContext(ctx, s.st.q("DELETE FROM actiontrigger_jobs WHERE execution_id = ? AND id IN ("+placeholders(len(part))+")"), ids...); err != nil {
			return fail(err)
		}
	}
	if _, err := q.ExecContext(ctx, s.st.q("DELETE FROM actiontrigger_executions WHERE id = ?"), e.ID); err != nil {
		return fail(err)
	}
	// The count went to the workflow's key (which it holds while counted).
	var key string
	if err := scan(q.QueryRowContext(ctx, s.st.q("SELECT wf_key FROM actiontrigger_workflows WHERE id = ?"), e.WorkflowID), &key); err != nil {
		return fail(err)
	}
	shard := s.st.counterShard(t)
	if _, err := q.ExecContext(ctx, s.st.q("UPDATE actiontrigger_workflow_counter_shards SET executed = executed - 1 WHERE workflow_id = ? AND shard = ?"), e.WorkflowID, shard); err != nil {
		return fail(err)
	}
	if _, err := q.ExecContext(ctx, s.st.q("UPDATE actiontrigger_key_counter_shards SET executed = executed - 1 WHERE wf_key = ? AND shard = ?"), key, shard); err != nil {
		return fail(err)
	}
	return cause
}
