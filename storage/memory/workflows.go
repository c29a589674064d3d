package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// wfRow is a stored workflow version. w is a private deep copy that is never
// modified; the counters live outside go-memdb so that counting an execution
// does not rewrite the version.
type wfRow struct {
	key []byte
	w   *flow.Workflow
	seq uint64
	cnt *wfCounter
}

func (r *wfRow) memKey() []byte { return r.key }

// wfCounter counts the executions of one version (executed) and of its key
// (all, shared by the versions of the key).
type wfCounter struct {
	executed atomic.Int64
	all      *atomic.Int64
}

// keyCounter returns the AllExecuted counter of key.
func (st *state) keyCounter(key string) *atomic.Int64 {
	st.keyMu.Lock()
	defer st.keyMu.Unlock()
	c := st.keyCounters[key]
	if c == nil {
		c = new(atomic.Int64)
		st.keyCounters[key] = c
	}
	return c
}

// out returns a copy of the stored version with its counters, including the
// executions t inserted and has not committed yet.
func (r *wfRow) out(t *txState) *flow.Workflow {
	w := r.w.Clone()
	w.Executed = r.cnt.executed.Load()
	w.AllExecuted = r.cnt.all.Load()
	for _, c := range t.counted {
		if c == r.cnt {
			w.Executed++
		}
		if c.all == r.cnt.all {
			w.AllExecuted++
		}
	}
	return w
}

func checkWorkflow(w *flow.Workflow) error {
	if w == nil {
		return errors.New("memory: nil workflow")
	}
	if w.ID == "" {
		return errors.New("memory: workflow without id")
	}
	return nil
}

func getWorkflowRow(t *txState, id string) (*wfRow, error) {
	obj, err := t.getID(kindWorkflow, id)
	if err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, fmt.Errorf("memory: workflow %q: %w", id, flow.ErrNotFound)
	}
	return obj.(*wfRow), nil
}

// workflowRows returns the stored versions, oldest first.
func workflowRows(t *txState, keep func(*flow.Workflow) bool) ([]*wfRow, error) {
	var rows []*wfRow
	err := t.scan([]byte{kindWorkflow}, func(obj row) bool {
		if r := obj.(*wfRow); keep(r.w) {
			rows = append(rows, r)
		}
		return true
	})
	slices.SortFunc(rows, func(a, b *wfRow) int { return cmp.Compare(a.seq, b.seq) })
	return rows, err
}

// checkCurrent fails when w is current and another version of its key is too.
func checkCurrent(t *txState, w *flow.Workflow) error {
	if !w.Current {
		return nil
	}
	others, err := workflowRows(t, func(o *flow.Workflow) bool { return o.Current && o.Key == w.Key && o.ID != w.ID })
	if err != nil {
		return err
	}
	if len(others) > 0 {
		return fmt.Errorf("memory: workflow %q: version %q of key %q is already current: %w", w.ID, others[0].w.ID, w.Key, flow.ErrDuplicate)
	}
	return nil
}

// InsertWorkflow stores a copy of w with counters at 0.
func (s *Store) InsertWorkflow(ctx context.Context, w *flow.Workflow) error {
	if err := checkWorkflow(w); err != nil {
		return err
	}
	return s.write(ctx, func(t *txState) error {
		key := objKey(kindWorkflow, w.ID)
		obj, err := t.get(key)
		if err != nil {
			return err
		}
		if obj != nil {
			return fmt.Errorf("memory: workflow %q: %w", w.ID, flow.ErrDuplicate)
		}
		if err := checkCurrent(t, w); err != nil {
			return err
		}
		r := &wfRow{key: key, w: w.Clone(), seq: s.st.seq.Add(1), cnt: &wfCounter{all: s.st.keyCounter(w.Key)}}
		r.w.Executed, r.w.AllExecuted = 0, 0
		return t.put(r)
	})
}

// UpdateWorkflow replaces the version w.ID with a copy of w, keeping the
// store's counters.
func (s *Store) UpdateWorkflow(ctx context.Context, w *flow.Workflow) error {
	if err := checkWorkflow(w); err != nil {
		return err
	}
	return s.write(ctx, func(t *txState) error {
		old, err := getWorkflowRow(t, w.ID)
		if err != nil {
			return err
		}
		if err := checkCurrent(t, w); err != nil {
			return err
		}
		r := &wfRow{key: old.key, w: w.Clone(), seq: old.seq, cnt: old.cnt}
		r.w.Executed, r.w.AllExecuted = 0, 0
		if w.Key != old.w.Key {
			// A version moving to another key takes its own count along.
			r.cnt = &wfCounter{all: s.st.keyCounter(w.Key)}
			r.cnt.executed.Store(old.cnt.executed.Load())
		}
		return t.put(r)
	})
}

// GetWorkflow returns a copy of the version id with its counters.
func (s *Store) GetWorkflow(ctx context.Context, id string) (*flow.Workflow, error) {
	var w *flow.Workflow
	err := s.read(ctx, func(t *txState) error {
		row, err := getWorkflowRow(t, id)
		if err != nil {
			return err
		}
		w = row.out(t)
		return nil
	})
	return w, err
}

// ListWorkflows returns copies of the matching versions, oldest first.
func (s *Store) ListWorkflows(ctx context.Context, f storage.WorkflowFilter) ([]*flow.Workflow, error) {
	var out []*flow.Workflow
	err := s.read(ctx, func(t *txState) error {
		rows, err := workflowRows(t, func(w *flow.Workflow) bool { return matchWorkflow(w, &f) })
		if err != nil {
			return err
		}
		rows = page(rows, f.Offset, f.Limit)
		out = make([]*flow.Workflow, len(rows))
		for i, r := range rows {
			out[i] = r.out(t)
		}
		return nil
	})
	return out, err
}

var _ storage.WorkflowCounter = (*Store)(nil)

// CountWorkflows returns the number of versions matching f (f.Limit and
// f.Offset ignored), without copying them.
func (s *Store) CountWorkflows(ctx context.Context, f storage.WorkflowFilter) (int, error) {
	n := 0
	err := s.read(ctx, func(t *txState) error {
		return t.scan([]byte{kindWorkflow}, func(obj row) bool {
			if matchWorkflow(obj.(*wfRow).w, &f) {
				n++
			}
			return true
		})
	})
	return n, err
}

func matchWorkflow(w *flow.Workflow, f *storage.WorkflowFilter) bool {
	if f.Key != "" && w.Key != f.Key {
		return false
	}
	if f.Enabled != nil && w.Enabled != *f.Enabled {
		return false
	}
	if f.Current != nil && w.Current != *f.Current {
		return false
	}
	if f.Type != "" {
		typ := w.Type
		if typ == "" {
			typ = flow.TriggerType // an empty type means "action"
		}
		if typ != f.Type {
			return false
		}
	}
	return true
}

// DeleteWorkflow removes the version id. Its executions stay.
func (s *Store) DeleteWorkflow(ctx context.Context, id string) error {
	return s.write(ctx, func(t *txState) error {
		r, err := getWorkflowRow(t, id)
		if err != nil {
			return err
		}
		return t.del(r)
	})
}
