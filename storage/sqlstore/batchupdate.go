package sqlstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

var _ storage.BatchUpdater = (*Store)(nil)

// UpdateExecutions updates many executions at once (storage.BatchUpdater).
//
// Each update first tries the fast path of UpdateExecution: the row is
// written if it still matches expect and its event identity (workflow and
// event key) does not move, without writing the context and stack when the
// update leaves them as the caller read them (storage.ExecutionUpdate.Prev).
// On PostgreSQL that is one statement for all of them, whose RETURNING lists
// the rows it wrote; on SQLite a prepared statement per update (SQLite has no
// round trips to save). An update the fast path missed (a lost lease, a
// changed status, a missing row, a moving event identity) then runs through
// UpdateExecution itself, which writes it or tells exactly why not.
func (s *Store) UpdateExecutions(ctx context.Context, us []storage.ExecutionUpdate) ([]error, error) {
	seen := make(map[string]struct{}, len(us))
	for _, u := range us {
		if err := checkExecution(u.Execution); err != nil {
			return nil, err
		}
		if _, dup := seen[u.Execution.ID]; dup {
			return nil, fmt.Errorf("sqlstore: UpdateExecutions: execution %q twice", u.Execution.ID)
		}
		seen[u.Execution.ID] = struct{}{}
	}
	errs := make([]error, len(us))
	if len(us) == 0 {
		return errs, nil
	}
	var written map[string]bool
	var err error
	if s.st.d == PostgreSQL {
		written, err = s.updateExecutionsPG(ctx, us)
	} else {
		written, err = s.updateExecutionsRows(ctx, us)
	}
	if err != nil {
		return nil, err
	}
	for i, u := range us {
		if !written[u.Execution.ID] {
			errs[i] = s.UpdateExecution(ctx, u.Execution, u.Expect)
		}
	}
	return errs, nil
}

// execRun is one row of the PostgreSQL batch update, as JSON.
type execRun struct {
	ID          string          `json:"id"`
	WorkflowID  string          `json:"workflow_id"`
	Key         string          `json:"wf_key"`
	EventKey    string          `json:"event_key"`
	Keep        bool            `json:"keep"`
	Context     json.RawMessage `json:"context,omitempty"`
	Stack       json.RawMessage `json:"stack,omitempty"`
	Status      int             `json:"status"`
	Reason      string          `json:"reason"`
	Sync        bool            `json:"sync"`
	Manually    bool            `json:"manually"`
	Runnable    bool            `json:"runnable"`
	ResumeJobID string          `json:"resume_job_id"`
	LeaseOwner  string          `json:"lease_owner"`
	LeaseUntil  any             `json:"lease_until"`
	Attempt     int             `json:"attempt"`
	CreatedAt   any             `json:"created_at"`
	UpdatedAt   any             `json:"updated_at"`
	StartedAt   any             `json:"started_at"`
	ExpiresAt   any             `json:"expires_at"`
	EndedAt     any             `json:"ended_at"`
	RunAfter    any             `json:"run_after"`
	Trace       any             `json:"trace"`
	ExpStatus   int             `json:"exp_status"`
	ExpOwner    string          `json:"exp_owner"`
}

// updateExecutionsPG is the fast path of UpdateExecution for every update in
// one statement: the rows travel as one JSON array parameter (one statement
// text whatever their number, and no driver-specific array types). Kept
// contexts and stacks are not sent; the others are embedded as JSON.
const updateExecutionsPG = `UPDATE actiontrigger_executions AS t SET
	wf_key = v.wf_key,
	context = CASE WHEN v.keep THEN t.context ELSE v.context END,
	stack = CASE WHEN v.keep THEN t.stack ELSE v.stack END,
	status = v.status, reason = v.reason, sync = v.sync, manually = v.manually, runnable = v.runnable,
	resume_job_id = v.resume_job_id, lease_owner = v.lease_owner, lease_until = v.lease_until, attempt = v.attempt,
	created_at = v.created_at, updated_at = v.updated_at, started_at = v.started_at, expires_at = v.expires_at, ended_at = v.ended_at,
	run_after = v.run_after, trace = v.trace
	FROM jsonb_to_recordset($1::jsonb) AS v(id TEXT, workflow_id TEXT, wf_key TEXT, event_key TEXT, keep BOOLEAN, context JSONB, stack JSONB,
		status BIGINT, reason TEXT, sync BOOLEAN, manually BOOLEAN, runnable BOOLEAN, resume_job_id TEXT, lease_owner TEXT, lease_until BIGINT,
		attempt BIGINT, created_at BIGINT, updated_at BIGINT, started_at BIGINT, expires_at BIGINT, ended_at BIGINT, run_after BIGINT, trace TEXT, exp_status BIGINT,
		exp_owner TEXT)
	WHERE t.id = v.id AND t.status = v.exp_status AND (v.exp_owner = '' OR t.lease_owner = v.exp_owner)
		AND t.workflow_id = v.workflow_id AND t.event_key = v.event_key
	RETURNING t.id`

func (s *Store) updateExecutionsPG(ctx context.Context, us []storage.ExecutionUpdate) (map[string]bool, error) {
	rows := make([]execRun, len(us))
	rows = rows[:0]
	for _, u := range us {
		e := u.Execution
		if !jsonSafe(e.ID, e.WorkflowID, e.Key, e.EventKey, e.Reason, e.ResumeJobID, e.LeaseOwner, u.Expect.LeaseOwner, e.Trace) {
			continue // UpdateExecution writes it, or fails as it would
		}
		rows = append(rows, execRun{})
		r := &rows[len(rows)-1]
		*r = execRun{ID: e.ID, WorkflowID: e.WorkflowID, Key: e.Key, EventKey: e.EventKey, Keep: u.SameDocument(),
			Status: int(e.Status), Reason: e.Reason, Sync: e.Sync, Manually: e.Manually, Runnable: e.Runnable,
			ResumeJobID: e.ResumeJobID, LeaseOwner: e.LeaseOwner, LeaseUntil: tm(e.LeaseUntil), Attempt: e.Attempt,
			CreatedAt: tm(e.CreatedAt), UpdatedAt: tm(e.UpdatedAt), StartedAt: tm(e.StartedAt), ExpiresAt: tm(e.ExpiresAt),
			EndedAt: tm(e.EndedAt), RunAfter: tm(e.RunAfter), Trace: nstr(e.Trace), ExpStatus: int(u.Expect.Status), ExpOwner: u.Expect.LeaseOwner}
		if !r.Keep {
			ctxJS, stackJS, err := execDoc(e)
			if err != nil {
				return nil, err
			}
			// Absent (SQL NULL) when execDoc writes NULL.
			if ctxJS != nil {
				r.Context = json.RawMessage(ctxJS.(string))
			}
			if stackJS != nil {
				r.Stack = json.RawMessage(stackJS.(string))
			}
			if bytes.Contains(r.Context, nulEscape) || bytes.Contains(r.Stack, nulEscape) {
				rows = rows[:len(rows)-1] // jsonb refuses it: let UpdateExecution fail on it alone
			}
		}
	}
	if len(rows) == 0 {
		return nil, nil
	}
	arg, err := json.Marshal(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: encode JSON: %w: %w", flow.ErrInvalidRecord, err)
	}
	written := make(map[string]bool, len(us))
	err = s.writeAuto(ctx, func(q querier) error {
		rs, err := q.QueryContext(ctx, updateExecutionsPG, string(arg))
		if err != nil {
			return s.st.mapErr(err, "update executions")
		}
		defer rs.Close()
		for rs.Next() {
			var id string
			if err := scan(rs, &id); err != nil {
				return s.st.mapErr(err, "update executions")
			}
			written[id] = true
		}
		return s.st.mapErr(rs.Err(), "update executions")
	})
	return written, err
}

var nulEscape = []byte(`\u0000`)

// jsonSafe reports whether the strings travel through JSON unchanged to
// PostgreSQL text: JSON would replace invalid UTF-8, and text refuses NUL.
func jsonSafe(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			return false
		}
	}
	return true
}

// updateExecutionRow is the fast path of UpdateExecution without the context
// and stack.
const updateExecutionRow = `UPDATE actiontrigger_executions SET wf_key = ?, status = ?, reason = ?, sync = ?, manually = ?,
	runnable = ?, resume_job_id = ?, lease_owner = ?, lease_until = ?, attempt = ?, created_at = ?, updated_at = ?, started_at = ?,
	expires_at = ?, ended_at = ?, run_after = ?, trace = ? WHERE id = ? AND status = ? AND (CAST(? AS TEXT) = '' OR lease_owner = ?) AND workflow_id = ?
	AND event_key = ?`

// updateExecutionsRows runs the fast path of each update that keeps its
// context and stack as one statement; the others take UpdateExecution.
func (s *Store) updateExecutionsRows(ctx context.Context, us []storage.ExecutionUpdate) (map[string]bool, error) {
	written := make(map[string]bool, len(us))
	for _, u := range us {
		if !u.SameDocument() {
			continue
		}
		e := u.Execution
		err := s.writeAuto(ctx, func(q querier) error {
			res, err := q.ExecContext(ctx, s.st.q(updateExecutionRow), e.Key, int(e.Status), e.Reason, e.Sync, e.Manually,
				e.Runnable, e.ResumeJobID, e.LeaseOwner, tm(e.LeaseUntil), e.Attempt, tm(e.CreatedAt), tm(e.UpdatedAt), tm(e.StartedAt),
				tm(e.ExpiresAt), tm(e.EndedAt), tm(e.RunAfter), nstr(e.Trace), e.ID, int(u.Expect.Status), u.Expect.LeaseOwner, u.Expect.LeaseOwner, e.WorkflowID, e.EventKey)
			if err != nil {
				return s.st.mapErr(err, "update execution "+e.ID)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				written[e.ID] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return written, nil
}
