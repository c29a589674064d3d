package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// execRow is a stored execution: a private copy, its creation sequence and its
// jobs. Keeping the jobs in the row makes inserting a job a rewrite of a row the
// transaction usually just wrote (cheap in a radix tree) instead of a new key in
// two more indexes; job ids are found through state.jobs.
type execRow struct {
	key []byte // "e" id
	e   flow.Execution
	seq uint64
	// jobs are private copies ordered by Seq (then insertion), shared by the
	// versions of the row and never modified: a change builds a new slice.
	jobs []*flow.Job
}

func (r *execRow) memKey() []byte { return r.key }

// putExec stores a new version of an execution and keeps the queue in step.
func (t *txState) putExec(r *execRow) error {
	if err := t.put(r); err != nil {
		return err
	}
	t.queueSync(r)
	return nil
}

// delExec deletes an execution.
func (t *txState) delExec(old *execRow) error {
	if err := t.del(old); err != nil {
		return err
	}
	t.queueDrop(old.e.ID)
	return nil
}

func (r *execRow) out() *flow.Execution {
	e := r.e
	return &e
}

// with returns a new version of the row holding e, keeping the identity, the
// creation sequence and the jobs.
func (r *execRow) with(e *flow.Execution) *execRow {
	return &execRow{key: r.key, e: *e, seq: r.seq, jobs: r.jobs}
}

func getExecRow(t *txState, id string) (*execRow, error) {
	obj, err := t.getID(kindExecution, id)
	if err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, fmt.Errorf("memory: execution %q: %w", id, flow.ErrNotFound)
	}
	return obj.(*execRow), nil
}

func checkExecution(e *flow.Execution) error {
	if e == nil {
		return errors.New("memory: nil execution")
	}
	if e.ID == "" {
		return errors.New("memory: execution without id")
	}
	return nil
}

func eventKey(e *flow.Execution) string { return e.WorkflowID + "\x00" + e.EventKey }

// eventHolder returns the execution holding the event key k, as t sees it.
func eventHolder(t *txState, k string) string {
	return mapValue(t.events, k, func() string { return t.st.events[k] })
}

// checkEvent fails if another execution of e's workflow holds e's event key.
func checkEvent(t *txState, e *flow.Execution) error {
	if e.EventKey == "" {
		return nil
	}
	if holder := eventHolder(t, eventKey(e)); holder != "" && holder != e.ID {
		return fmt.Errorf("memory: execution %q: workflow %q already has execution %q for event %q: %w",
			e.ID, e.WorkflowID, holder, e.EventKey, flow.ErrDuplicate)
	}
	return nil
}

// InsertExecution stores a copy of e and counts it in its workflow's counters
// when the write commits.
func (s *Store) InsertExecution(ctx context.Context, e *flow.Execution) error {
	if err := checkExecution(e); err != nil {
		return err
	}
	return s.write(ctx, func(t *txState) error {
		wf, err := getWorkflowRow(t, e.WorkflowID)
		if err != nil {
			return fmt.Errorf("memory: execution %q: %w", e.ID, err)
		}
		key := objKey(kindExecution, e.ID)
		obj, err := t.get(key)
		if err != nil {
			return err
		}
		if obj != nil {
			return fmt.Errorf("memory: execution %q: %w", e.ID, flow.ErrDuplicate)
		}
		if err := checkEvent(t, e); err != nil {
			return err
		}
		r := &execRow{key: key, e: *e, seq: s.st.seq.Add(1)}
		if err := t.putExec(r); err != nil {
			return err
		}
		if e.EventKey != "" {
			t.events = append(t.events, mapOp{key: eventKey(e), val: e.ID})
		}
		t.counted = append(t.counted, wf.cnt)
		return nil
	})
}

// GetExecution returns a copy of the execution id.
func (s *Store) GetExecution(ctx context.Context, id string) (*flow.Execution, error) {
	var e *flow.Execution
	err := s.read(ctx, func(t *txState) error {
		r, err := getExecRow(t, id)
		if err != nil {
			return err
		}
		e = r.out()
		return nil
	})
	return e, err
}

// ListExecutions returns copies of the matching executions, oldest first
// (newest first with f.NewestFirst). It
// scans every execution.
func (s *Store) ListExecutions(ctx context.Context, f storage.ExecutionFilter) ([]*flow.Execution, error) {
	var out []*flow.Execution
	err := s.read(ctx, func(t *txState) error {
		var rows []*execRow
		err := t.scan([]byte{kindExecution}, func(obj row) bool {
			if r := obj.(*execRow); matchExecution(&r.e, &f) {
				rows = append(rows, r)
			}
			return true
		})
		if err != nil {
			return err
		}
		slices.SortFunc(rows, func(a, b *execRow) int { return cmp.Compare(a.seq, b.seq) })
		if f.NewestFirst {
			slices.Reverse(rows)
		}
		rows = page(rows, f.Offset, f.Limit)
		out = make([]*flow.Execution, len(rows))
		for i, r := range rows {
			out[i] = r.out()
		}
		return nil
	})
	return out, err
}

// page applies an offset and a limit (0: none).
func page[T any](rows []T, offset, limit int) []T {
	if offset > 0 {
		if offset >= len(rows) {
			return nil
		}
		rows = rows[offset:]
	}
	if limit > 0 && limit < len(rows) {
		rows = rows[:limit]
	}
	return rows
}

func matchExecution(e *flow.Execution, f *storage.ExecutionFilter) bool {
	if f.WorkflowID != "" && e.WorkflowID != f.WorkflowID {
		return false
	}
	if f.Key != "" && e.Key != f.Key {
		return false
	}
	if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, e.Status) {
		return false
	}
	if !f.ExpiresBefore.IsZero() && (e.ExpiresAt.IsZero() || !e.ExpiresAt.Before(f.ExpiresBefore)) {
		return false
	}
	if !f.CreatedFrom.IsZero() && e.CreatedAt.Before(f.CreatedFrom) {
		return false
	}
	if !f.CreatedBefore.IsZero() && !e.CreatedAt.Before(f.CreatedBefore) {
		return false
	}
	return true
}

// UpdateExecution replaces the stored execution with a copy of e if it still
// matches expect. The creation order and the jobs are kept.
func (s *Store) UpdateExecution(ctx context.Context, e *flow.Execution, expect storage.ExecutionExpect) error {
	if err := checkExecution(e); err != nil {
		return err
	}
	return s.write(ctx, func(t *txState) error {
		old, err := getExecRow(t, e.ID)
		if err != nil {
			return err
		}
		if expect.LeaseOwner != "" && old.e.LeaseOwner != expect.LeaseOwner {
			holder := "nobody"
			if old.e.LeaseOwner != "" {
				holder = fmt.Sprintf("%q", old.e.LeaseOwner)
			}
			return fmt.Errorf("memory: execution %q: the lease of %q is held by %s: %w", e.ID, expect.LeaseOwner, holder, flow.ErrLeaseLost)
		}
		if old.e.Status != expect.Status {
			return fmt.Errorf("memory: execution %q: status is %s, not %s: %w", e.ID, old.e.Status, expect.Status, flow.ErrConflict)
		}
		moved := old.e.WorkflowID != e.WorkflowID || old.e.EventKey != e.EventKey
		if moved {
			if err := checkEvent(t, e); err != nil {
				return err
			}
		}
		if err := t.putExec(old.with(e)); err != nil {
			return err
		}
		if moved {
			if old.e.EventKey != "" {
				t.events = append(t.events, mapOp{key: eventKey(&old.e)})
			}
			if e.EventKey != "" {
				t.events = append(t.events, mapOp{key: eventKey(e), val: e.ID})
			}
		}
		return nil
	})
}

// DeleteExecution removes the execution id with its jobs and frees its event key.
func (s *Store) DeleteExecution(ctx context.Context, id string) error {
	return s.write(ctx, func(t *txState) error {
		r, err := getExecRow(t, id)
		if err != nil {
			return err
		}
		if err := t.delExec(r); err != nil {
			return err
		}
		if r.e.EventKey != "" {
			t.events = append(t.events, mapOp{key: eventKey(&r.e)})
		}
		for _, j := range r.jobs {
			t.jobs = append(t.jobs, mapOp{key: j.ID})
		}
		return nil
	})
}

// copyJob returns a private copy of j (Branch and Attempts copied too; an
// empty Attempts becomes nil, as the SQL stores return it).
func copyJob(j *flow.Job) *flow.Job {
	c := *j
	if j.Branch != nil {
		b := *j.Branch
		c.Branch = &b
	}
	c.Attempts = nil
	if len(j.Attempts) > 0 {
		c.Attempts = slices.Clip(slices.Clone(j.Attempts))
	}
	return &c
}

func checkJob(j *flow.Job) error {
	if j == nil {
		return errors.New("memory: nil job")
	}
	if j.ID == "" {
		return errors.New("memory: job without id")
	}
	return nil
}

// jobExecution returns the id of the execution holding job id, as t sees it
// ("" if none).
func jobExecution(t *txState, id string) string {
	return mapValue(t.jobs, id, func() string {
		t.st.jobsMu.RLock()
		defer t.st.jobsMu.RUnlock()
		return t.st.jobs[id]
	})
}

// getJob returns the execution row holding job id and the job's index in it.
func getJob(t *txState, id string) (*execRow, int, error) {
	notFound := fmt.Errorf("memory: job %q: %w", id, flow.ErrNotFound)
	execID := jobExecution(t, id)
	if execID == "" {
		return nil, 0, notFound
	}
	obj, err := t.getID(kindExecution, execID)
	if err != nil {
		return nil, 0, err
	}
	if obj == nil {
		return nil, 0, notFound
	}
	r := obj.(*execRow)
	for i, j := range r.jobs {
		if j.ID == id {
			return r, i, nil
		}
	}
	return nil, 0, notFound
}

// withJob returns a new version of r with job j added (at == -1) or put in
// place of r.jobs[at], keeping the jobs ordered by Seq.
func (r *execRow) withJob(j *flow.Job, at int) *execRow {
	n := len(r.jobs)
	if at < 0 {
		n++
	}
	jobs := make([]*flow.Job, 0, n)
	placed := false
	for i, o := range r.jobs {
		if i == at {
			continue
		}
		if !placed && o.Seq > j.Seq {
			jobs = append(jobs, j)
			placed = true
		}
		jobs = append(jobs, o)
	}
	if !placed {
		jobs = append(jobs, j)
	}
	c := *r
	c.jobs = jobs
	return &c
}

// withJobs returns a new version of r with copies of the new jobs js added,
// ordered by Seq.
func (r *execRow) withJobs(js []*flow.Job) *execRow {
	jobs := make([]*flow.Job, 0, len(r.jobs)+len(js))
	jobs = append(jobs, r.jobs...)
	for _, j := range js {
		jobs = append(jobs, copyJob(j))
	}
	sort.SliceStable(jobs, func(a, b int) bool { return jobs[a].Seq < jobs[b].Seq })
	c := *r
	c.jobs = jobs
	return &c
}

// withoutJob returns a new version of r without r.jobs[at].
func (r *execRow) withoutJob(at int) *execRow {
	c := *r
	c.jobs = slices.Delete(slices.Clone(r.jobs), at, at+1)
	return &c
}

// InsertJobs stores copies of new jobs. The jobs of one execution are written
// with one rewrite of its row. Nothing is written if one job fails.
func (s *Store) InsertJobs(ctx context.Context, jobs ...*flow.Job) error {
	for _, j := range jobs {
		if err := checkJob(j); err != nil {
			return err
		}
	}
	return s.write(ctx, func(t *txState) error {
		// Check everything first, so a failure writes nothing.
		type group struct {
			r    *execRow
			i, n int
		}
		var groups []group
		for i := 0; i < len(jobs); {
			execID := jobs[i].ExecutionID
			n := i + 1
			for n < len(jobs) && jobs[n].ExecutionID == execID {
				n++
			}
			r, err := getExecRow(t, execID)
			if err != nil {
				return fmt.Errorf("memory: job %q: %w", jobs[i].ID, err)
			}
			groups = append(groups, group{r, i, n})
			i = n
		}
		for k, j := range jobs {
			if jobExecution(t, j.ID) != "" {
				return fmt.Errorf("memory: job %q: %w", j.ID, flow.ErrDuplicate)
			}
			for m := 0; m < k; m++ {
				if jobs[m].ID == j.ID {
					return fmt.Errorf("memory: job %q given twice: %w", j.ID, flow.ErrDuplicate)
				}
			}
		}
		var written map[string]*execRow // executions whose jobs come in several groups
		for _, g := range groups {
			r := g.r
			if w := written[r.e.ID]; w != nil {
				r = w
			}
			if g.n-g.i == 1 {
				r = r.withJob(copyJob(jobs[g.i]), -1)
			} else {
				r = r.withJobs(jobs[g.i:g.n])
			}
			if err := t.putExec(r); err != nil {
				return err
			}
			if len(groups) > 1 {
				if written == nil {
					written = map[string]*execRow{}
				}
				written[r.e.ID] = r
			}
			for k := g.i; k < g.n; k++ {
				t.jobs = append(t.jobs, mapOp{key: jobs[k].ID, val: jobs[k].ExecutionID})
			}
		}
		return nil
	})
}

// UpdateJob replaces the stored job with a copy of j if its status is still
// expect.
func (s *Store) UpdateJob(ctx context.Context, j *flow.Job, expect flow.JobStatus) error {
	if err := checkJob(j); err != nil {
		return err
	}
	return s.write(ctx, func(t *txState) error {
		r, at, err := getJob(t, j.ID)
		if err != nil {
			return err
		}
		if old := r.jobs[at]; old.Status != expect {
			return fmt.Errorf("memory: job %q: status is %s, not %s: %w", j.ID, old.Status, expect, flow.ErrConflict)
		}
		if j.ExecutionID == r.e.ID {
			return t.putExec(r.withJob(copyJob(j), at))
		}
		// The job moves to another execution.
		to, err := getExecRow(t, j.ExecutionID)
		if err != nil {
			return fmt.Errorf("memory: job %q: %w", j.ID, err)
		}
		if err := t.putExec(r.withoutJob(at)); err != nil {
			return err
		}
		if err := t.putExec(to.withJob(copyJob(j), -1)); err != nil {
			return err
		}
		t.jobs = append(t.jobs, mapOp{key: j.ID, val: j.ExecutionID})
		return nil
	})
}

// LockJob returns the job id. A unit of work of InTx is one go-memdb write
// transaction, which holds the store's single writer lock from its start, so
// units of work already run one after the other: nothing more to lock.
func (s *Store) LockJob(ctx context.Context, id string) (*flow.Job, error) {
	return s.GetJob(ctx, id)
}

// GetJob returns a copy of the job id.
func (s *Store) GetJob(ctx context.Context, id string) (*flow.Job, error) {
	var j *flow.Job
	err := s.read(ctx, func(t *txState) error {
		if s.tx != nil {
			r, at, err := getJob(t, id)
			if err == nil {
				j = copyJob(r.jobs[at])
			}
			return err
		}
		// Outside a transaction, read the map and the row under the read
		// lock so that a commit cannot come between them.
		t.st.jobsMu.RLock()
		defer t.st.jobsMu.RUnlock()
		execID := t.st.jobs[id]
		if execID != "" {
			obj, err := t.getID(kindExecution, execID)
			if err != nil {
				return err
			}
			if obj != nil {
				for _, o := range obj.(*execRow).jobs {
					if o.ID == id {
						j = copyJob(o)
						return nil
					}
				}
			}
		}
		return fmt.Errorf("memory: job %q: %w", id, flow.ErrNotFound)
	})
	return j, err
}

// ListJobs returns copies of the jobs of an execution ordered by Seq (none for
// an unknown execution).
func (s *Store) ListJobs(ctx context.Context, executionID string) ([]*flow.Job, error) {
	var out []*flow.Job
	err := s.read(ctx, func(t *txState) error {
		obj, err := t.getID(kindExecution, executionID)
		if err != nil || obj == nil {
			return err
		}
		jobs := obj.(*execRow).jobs
		out = make([]*flow.Job, len(jobs))
		for i, j := range jobs {
			out[i] = copyJob(j)
		}
		return nil
	})
	return out, err
}

var _ storage.BatchUpdater = (*Store)(nil)

// UpdateExecutions runs UpdateExecution for each update
// (storage.BatchUpdater): the memory store has no round trips to save.
func (s *Store) UpdateExecutions(ctx context.Context, us []storage.ExecutionUpdate) ([]error, error) {
	seen := make(map[string]struct{}, len(us))
	for _, u := range us {
		if err := checkExecution(u.Execution); err != nil {
			return nil, err
		}
		if _, dup := seen[u.Execution.ID]; dup {
			return nil, fmt.Errorf("memory: UpdateExecutions: execution %q twice", u.Execution.ID)
		}
		seen[u.Execution.ID] = struct{}{}
	}
	errs := make([]error, len(us))
	for i, u := range us {
		errs[i] = s.UpdateExecution(ctx, u.Execution, u.Expect)
	}
	return errs, nil
}
