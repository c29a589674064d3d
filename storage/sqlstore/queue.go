package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sort"
	"time"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// claimPG is ClaimExecutions on PostgreSQL: $1 is now, $2 the limit, $3 the
// owner, $4 the lease end. The candidates come from two partial indexes, each
// read in creation order and locked FOR UPDATE SKIP LOCKED: the runnable
// executions without a timer (actiontrigger_executions_ready), and those whose
// timer is due (actiontrigger_executions_timers: a range of run_after, so the
// executions still waiting are never read). The oldest $2 of the two lists are
// claimed; the other candidates are locked only until the statement ends.
// The due timers are sorted by "seq + 0", which no index provides: ordered by
// seq, a generic plan (pgx prepares the statement) may walk the table in seq
// order instead, reading every execution, because it cannot tell how few
// timers are due at $1.
const claimPG = `WITH r AS (SELECT seq FROM actiontrigger_executions
		WHERE runnable AND run_after IS NULL AND (lease_owner = '' OR lease_until IS NULL OR lease_until < $1)
		ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED),
	t AS (SELECT seq FROM actiontrigger_executions
		WHERE runnable AND run_after IS NOT NULL AND run_after <= $1 AND (lease_owner = '' OR lease_until IS NULL OR lease_until < $1)
		ORDER BY seq + 0 LIMIT $2 FOR UPDATE SKIP LOCKED),
	c AS (SELECT seq FROM r UNION ALL SELECT seq FROM t ORDER BY seq LIMIT $2)
	UPDATE actiontrigger_executions e SET lease_owner = $3, lease_until = $4, attempt = e.attempt + 1
	FROM c WHERE e.seq = c.seq RETURNING `

// claimSQLite is ClaimExecutions on SQLite (one writer at a time), from the
// same two indexes as claimPG (and sorting the due timers by "seq + 0" too,
// lest the planner walk the table by seq). Its arguments are the owner, the lease end,
// then now, the limit, now, now, the limit and the limit.
const claimSQLite = `UPDATE actiontrigger_executions SET lease_owner = ?, lease_until = ?, attempt = attempt + 1
	WHERE seq IN (SELECT seq FROM (SELECT seq FROM actiontrigger_executions
			WHERE runnable AND run_after IS NULL AND (lease_owner = '' OR lease_until IS NULL OR lease_until < ?)
			ORDER BY seq LIMIT ?)
		UNION ALL SELECT seq FROM (SELECT seq FROM actiontrigger_executions
			WHERE runnable AND run_after IS NOT NULL AND run_after <= ? AND (lease_owner = '' OR lease_until IS NULL OR lease_until < ?)
			ORDER BY seq + 0 LIMIT ?)
		ORDER BY seq LIMIT ?) RETURNING `

var (
	claimPGQuery     = claimPG + prefixCols("e.", execCols)
	claimSQLiteQuery = claimSQLite + execCols
)

// ClaimExecutions claims up to p.Limit runnable executions whose lease is
// empty or ended and whose RunAfter is not after p.Now, oldest first, in one
// statement: PostgreSQL locks the candidates with FOR UPDATE SKIP LOCKED,
// SQLite runs one writer at a time.
func (s *Store) ClaimExecutions(ctx context.Context, p storage.ClaimParams) ([]*flow.Execution, error) {
	if p.Owner == "" {
		return nil, errors.New("sqlstore: ClaimExecutions: empty owner")
	}
	if p.Limit <= 0 {
		return nil, nil
	}
	now, until := p.Now.UnixMicro(), tm(p.LeaseUntil)
	query, args := claimPGQuery, []any{now, p.Limit, p.Owner, until}
	if s.st.d == SQLite {
		query, args = claimSQLiteQuery, []any{p.Owner, until, now, p.Limit, now, now, p.Limit, p.Limit}
	}
	type claimed struct {
		e   *flow.Execution
		seq int64
	}
	var out []claimed
	err := s.writeAuto(ctx, func(q querier) error {
		out = out[:0]
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return s.st.mapErr(err, "claim executions")
		}
		defer rows.Close()
		for rows.Next() {
			e, seq, err := scanExecution(rows)
			if err != nil {
				return s.st.mapErr(err, "claim executions")
			}
			out = append(out, claimed{e, seq})
		}
		return s.st.mapErr(rows.Err(), "claim executions")
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	es := make([]*flow.Execution, len(out))
	for i, c := range out {
		es[i] = c.e
	}
	return es, nil
}

func prefixCols(prefix, cols string) string {
	out := ""
	start := 0
	for i := 0; i <= len(cols); i++ {
		if i == len(cols) || cols[i] == ',' {
			name := cols[start:i]
			for len(name) > 0 && name[0] == ' ' {
				name = name[1:]
			}
			if out != "" {
				out += ", "
			}
			out += prefix + name
			start = i + 1
		}
	}
	return out
}

// ReleaseLeases clears the leases owner holds on ids and takes back their
// claims' Attempt, in one statement.
func (s *Store) ReleaseLeases(ctx context.Context, owner string, ids []string) error {
	if len(ids) == 0 || owner == "" {
		return nil
	}
	args := make([]any, 0, len(ids)+1)
	args = append(args, owner)
	for _, id := range ids {
		args = append(args, id)
	}
	query := s.st.q("UPDATE actiontrigger_executions SET lease_owner = '', lease_until = NULL, attempt = CASE WHEN attempt > 0 THEN attempt - 1 ELSE 0 END WHERE lease_owner = ? AND id IN (" + placeholders(len(ids)) + ")")
	return s.writeAuto(ctx, func(q querier) error {
		_, err := q.ExecContext(ctx, query, args...)
		return s.st.mapErr(err, "release leases")
	})
}

// ExtendLeases moves the lease end of the executions owner holds to until and
// returns the ids it does not hold.
func (s *Store) ExtendLeases(ctx context.Context, owner string, ids []string, until time.Time) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	if owner == "" {
		return append([]string(nil), ids...), nil
	}
	args := make([]any, 0, len(ids)+3)
	var query string
	if s.st.d == PostgreSQL {
		// The heartbeat must not wait for the rows a unit of work of this
		// process is writing (a batch updating the same executions locks
		// them in its own order: waiting here could deadlock with it). It
		// extends the leases of the rows it can lock at once and reports
		// as held every execution the owner holds in its snapshot: a row
		// being written now is extended by the next beat, if still held.
		for _, id := range ids {
			args = append(args, id)
		}
		args = append(args, owner, owner, tm(until))
		query = s.st.q("WITH mine AS (SELECT id FROM actiontrigger_executions WHERE id IN (" + placeholders(len(ids)) + ") AND lease_owner = ?), " +
			"locked AS (SELECT id FROM actiontrigger_executions WHERE id IN (SELECT id FROM mine) AND lease_owner = ? FOR UPDATE SKIP LOCKED), " +
			"upd AS (UPDATE actiontrigger_executions e SET lease_until = ? FROM locked WHERE e.id = locked.id RETURNING e.id) " +
			"SELECT id FROM mine")
	} else {
		args = append(args, tm(until), owner)
		for _, id := range ids {
			args = append(args, id)
		}
		query = s.st.q("UPDATE actiontrigger_executions SET lease_until = ? WHERE lease_owner = ? AND id IN (" + placeholders(len(ids)) + ") RETURNING id")
	}
	held := make(map[string]bool, len(ids))
	err := s.writeAuto(ctx, func(q querier) error {
		clear(held)
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return s.st.mapErr(err, "extend leases")
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := scan(rows, &id); err != nil {
				return s.st.mapErr(err, "extend leases")
			}
			held[id] = true
		}
		return s.st.mapErr(rows.Err(), "extend leases")
	})
	if err != nil {
		return nil, err
	}
	var lost []string
	for _, id := range ids {
		if !held[id] {
			lost = append(lost, id)
		}
	}
	return lost, nil
}

var _ storage.QueueStats = (*Store)(nil)

// queueStats is QueueStats in one statement (both dialects), from the
// indexes the claim reads and one of the tasks: the due runnable executions
// come from actiontrigger_executions_ready (no timer) and the due range of
// actiontrigger_executions_timers, the waiting timers from the rest of that
// range, the pending tasks from actiontrigger_tasks_pending. Each placeholder
// is now.
const queueStats = `SELECT COALESCE(SUM(CASE WHEN q.free THEN 1 ELSE 0 END), 0),
	MIN(CASE WHEN q.free THEN q.due END),
	COALESCE(SUM(CASE WHEN q.free THEN 0 ELSE 1 END), 0),
	(SELECT COUNT(*) FROM actiontrigger_executions WHERE runnable AND run_after IS NOT NULL AND run_after > ?),
	(SELECT COUNT(*) FROM actiontrigger_tasks WHERE status = 0)
	FROM (SELECT (lease_owner = '' OR lease_until IS NULL OR lease_until < ?) AS free, updated_at AS due
			FROM actiontrigger_executions WHERE runnable AND run_after IS NULL
		UNION ALL SELECT (lease_owner = '' OR lease_until IS NULL OR lease_until < ?) AS free, run_after AS due
			FROM actiontrigger_executions WHERE runnable AND run_after IS NOT NULL AND run_after <= ?) AS q`

// QueueStats counts the queue as of now (storage.QueueStats) in one
// statement. It reads every runnable execution that is due or leased and
// counts the waiting timers and the pending tasks from their indexes: its
// cost grows with the queue, not with the executions and tasks kept.
func (s *Store) QueueStats(ctx context.Context, now time.Time) (storage.QueueStat, error) {
	var st storage.QueueStat
	n := now.UnixMicro()
	query := s.st.q(queueStats)
	err := s.read(ctx, func(q querier) error {
		var oldest sql.NullInt64
		var depth, leased, scheduled, tasks int64
		if err := scan(q.QueryRowContext(ctx, query, n, n, n, n), &depth, &oldest, &leased, &scheduled, &tasks); err != nil {
			return s.st.mapErr(err, "queue stats")
		}
		st = storage.QueueStat{Depth: int(depth), Oldest: fromTm(oldest), Leased: int(leased), Scheduled: int(scheduled), PendingTasks: int(tasks)}
		return nil
	})
	return st, err
}
