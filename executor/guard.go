package executor

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// guardState is shared by the guarded stores of one timed node run: once
// abandoned, every call fails with errAbandoned.
type guardState struct {
	mu        sync.RWMutex
	abandoned bool
}

// abandon cuts the run off its store: it waits for a call in progress, so no
// write of the run lands after it returns.
func (g *guardState) abandon() {
	g.mu.Lock()
	g.abandoned = true
	g.mu.Unlock()
}

// guardStore is the store a timed node run sees: the unit of work (or store)
// it runs in, until the run is abandoned.
type guardStore struct {
	gs *guardState
	s  storage.Store
}

func guard0(g *guardStore, f func() error) error {
	g.gs.mu.RLock()
	defer g.gs.mu.RUnlock()
	if g.gs.abandoned {
		return errAbandoned
	}
	return f()
}

func guard1[T any](g *guardStore, f func() (T, error)) (T, error) {
	g.gs.mu.RLock()
	defer g.gs.mu.RUnlock()
	if g.gs.abandoned {
		var zero T
		return zero, errAbandoned
	}
	return f()
}

// InTx runs fn in the underlying store's unit of work, through a guarded view.
// The call itself is not held under the guard (fn may be slow); every store
// call fn makes is.
func (g *guardStore) InTx(ctx context.Context, fn func(ctx context.Context, tx storage.Store) error) error {
	g.gs.mu.RLock()
	abandoned := g.gs.abandoned
	g.gs.mu.RUnlock()
	if abandoned {
		return errAbandoned
	}
	return g.s.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
		inner := &guardStore{gs: g.gs, s: tx}
		return fn(storage.WithTx(ctx, inner), inner)
	})
}

func (g *guardStore) Durable() bool { return g.s.Durable() }

func (g *guardStore) InsertWorkflow(ctx context.Context, w *flow.Workflow) error {
	return guard0(g, func() error { return g.s.InsertWorkflow(ctx, w) })
}

func (g *guardStore) UpdateWorkflow(ctx context.Context, w *flow.Workflow) error {
	return guard0(g, func() error { return g.s.UpdateWorkflow(ctx, w) })
}

func (g *guardStore) GetWorkflow(ctx context.Context, id string) (*flow.Workflow, error) {
	return guard1(g, func() (*flow.Workflow, error) { return g.s.GetWorkflow(ctx, id) })
}

func (g *guardStore) ListWorkflows(ctx context.Context, f storage.WorkflowFilter) ([]*flow.Workflow, error) {
	return guard1(g, func() ([]*flow.Workflow, error) { return g.s.ListWorkflows(ctx, f) })
}

func (g *guardStore) DeleteWorkflow(ctx context.Context, id string) error {
	return guard0(g, func() error { return g.s.DeleteWorkflow(ctx, id) })
}

func (g *guardStore) InsertExecution(ctx context.Context, e *flow.Execution) error {
	return guard0(g, func() error { return g.s.InsertExecution(ctx, e) })
}

func (g *guardStore) GetExecution(ctx context.Context, id string) (*flow.Execution, error) {
	return guard1(g, func() (*flow.Execution, error) { return g.s.GetExecution(ctx, id) })
}

func (g *guardStore) ListExecutions(ctx context.Context, f storage.ExecutionFilter) ([]*flow.Execution, error) {
	return guard1(g, func() ([]*flow.Execution, error) { return g.s.ListExecutions(ctx, f) })
}

func (g *guardStore) UpdateExecution(ctx context.Context, e *flow.Execution, expect storage.ExecutionExpect) error {
	return guard0(g, func() error { return g.s.UpdateExecution(ctx, e, expect) })
}

func (g *guardStore) DeleteExecution(ctx context.Context, id string) error {
	return guard0(g, func() error { return g.s.DeleteExecution(ctx, id) })
}

func (g *guardStore) InsertJobs(ctx context.Context, jobs ...*flow.Job) error {
	return guard0(g, func() error { return g.s.InsertJobs(ctx, jobs...) })
}

func (g *guardStore) UpdateJob(ctx context.Context, j *flow.Job, expect flow.JobStatus) error {
	return guard0(g, func() error { return g.s.UpdateJob(ctx, j, expect) })
}

func (g *guardStore) GetJob(ctx context.Context, id string) (*flow.Job, error) {
	return guard1(g, func() (*flow.Job, error) { return g.s.GetJob(ctx, id) })
}

func (g *guardStore) LockJob(ctx context.Context, id string) (*flow.Job, error) {
	return guard1(g, func() (*flow.Job, error) { return g.s.LockJob(ctx, id) })
}

func (g *guardStore) ListJobs(ctx context.Context, executionID string) ([]*flow.Job, error) {
	return guard1(g, func() ([]*flow.Job, error) { return g.s.ListJobs(ctx, executionID) })
}

func (g *guardStore) ClaimExecutions(ctx context.Context, p storage.ClaimParams) ([]*flow.Execution, error) {
	return guard1(g, func() ([]*flow.Execution, error) { return g.s.ClaimExecutions(ctx, p) })
}

func (g *guardStore) ExtendLeases(ctx context.Context, owner string, ids []string, until time.Time) ([]string, error) {
	return guard1(g, func() ([]string, error) { return g.s.ExtendLeases(ctx, owner, ids, until) })
}

func (g *guardStore) ReleaseLeases(ctx context.Context, owner string, ids []string) error {
	return guard0(g, func() error { return g.s.ReleaseLeases(ctx, owner, ids) })
}

// records returns the guarded store's records, when it keeps any.
func (g *guardStore) records() (storage.RecordStore, error) {
	rs, ok := g.s.(storage.RecordStore)
	if !ok {
		return nil, fmt.Errorf("executor: the store keeps no records: %w", storage.ErrNotSupported)
	}
	return rs, nil
}

// DeclareCollections implements storage.RecordStore for stores that keep records.
func (g *guardStore) DeclareCollections(ctx context.Context, cs []flow.Collection) error {
	return guard0(g, func() error {
		rs, err := g.records()
		if err != nil {
			return err
		}
		return rs.DeclareCollections(ctx, cs)
	})
}

// CreateRecord implements storage.RecordStore for stores that keep records.
func (g *guardStore) CreateRecord(ctx context.Context, collection string, values flow.Record) (flow.Record, error) {
	return guard1(g, func() (flow.Record, error) {
		rs, err := g.records()
		if err != nil {
			return nil, err
		}
		return rs.CreateRecord(ctx, collection, values)
	})
}

// GetRecord implements storage.RecordStore for stores that keep records.
func (g *guardStore) GetRecord(ctx context.Context, collection string, key flow.Record, appends []string) (flow.Record, error) {
	return guard1(g, func() (flow.Record, error) {
		rs, err := g.records()
		if err != nil {
			return nil, err
		}
		return rs.GetRecord(ctx, collection, key, appends)
	})
}

// ListRecords implements storage.RecordStore for stores that keep records.
func (g *guardStore) ListRecords(ctx context.Context, collection string, f storage.Filter, appends []string) ([]flow.Record, error) {
	return guard1(g, func() ([]flow.Record, error) {
		rs, err := g.records()
		if err != nil {
			return nil, err
		}
		return rs.ListRecords(ctx, collection, f, appends)
	})
}

// UpdateRecords implements storage.RecordStore for stores that keep records.
func (g *guardStore) UpdateRecords(ctx context.Context, collection string, f storage.Filter, values flow.Record) ([]flow.Record, error) {
	return guard1(g, func() ([]flow.Record, error) {
		rs, err := g.records()
		if err != nil {
			return nil, err
		}
		return rs.UpdateRecords(ctx, collection, f, values)
	})
}

func (g *guardStore) InsertTask(ctx context.Context, t *flow.Task) error {
	return guard0(g, func() error { return g.s.InsertTask(ctx, t) })
}

func (g *guardStore) GetTask(ctx context.Context, id string) (*flow.Task, error) {
	return guard1(g, func() (*flow.Task, error) { return g.s.GetTask(ctx, id) })
}

func (g *guardStore) ListTasks(ctx context.Context, f storage.TaskFilter) ([]*flow.Task, error) {
	return guard1(g, func() ([]*flow.Task, error) { return g.s.ListTasks(ctx, f) })
}

func (g *guardStore) UpdateTask(ctx context.Context, t *flow.Task, expect flow.TaskStatus) error {
	return guard0(g, func() error { return g.s.UpdateTask(ctx, t, expect) })
}

var _ storage.Store = (*guardStore)(nil)

// guardRecords is the records access a timed node run sees: the engine's,
// until the run is abandoned.
type guardRecords struct {
	gs *guardState
	r  storage.RecordAccess
}

func (g guardRecords) guard() *guardStore { return &guardStore{gs: g.gs} }

// CreateRecord implements storage.RecordAccess.
func (g guardRecords) CreateRecord(ctx context.Context, collection string, values flow.Record) (flow.Record, error) {
	return guard1(g.guard(), func() (flow.Record, error) { return g.r.CreateRecord(ctx, collection, values) })
}

// GetRecord implements storage.RecordAccess.
func (g guardRecords) GetRecord(ctx context.Context, collection string, key flow.Record, appends []string) (flow.Record, error) {
	return guard1(g.guard(), func() (flow.Record, error) { return g.r.GetRecord(ctx, collection, key, appends) })
}

// ListRecords implements storage.RecordAccess.
func (g guardRecords) ListRecords(ctx context.Context, collection string, f storage.Filter, appends []string) ([]flow.Record, error) {
	return guard1(g.guard(), func() ([]flow.Record, error) { return g.r.ListRecords(ctx, collection, f, appends) })
}

// UpdateRecords implements storage.RecordAccess.
func (g guardRecords) UpdateRecords(ctx context.Context, collection string, f storage.Filter, values flow.Record) ([]flow.Record, error) {
	return guard1(g.guard(), func() ([]flow.Record, error) { return g.r.UpdateRecords(ctx, collection, f, values) })
}

// storeRecords is the records access of an executor built without Records:
// the store's records, in the unit of work ctx carries.
type storeRecords struct{ x *Executor }

func (s storeRecords) rs(ctx context.Context) (storage.RecordStore, error) {
	rs, ok := s.x.store(ctx).(storage.RecordStore)
	if !ok {
		return nil, fmt.Errorf("executor: the store keeps no records: %w", storage.ErrNotSupported)
	}
	return rs, nil
}

// CreateRecord implements storage.RecordAccess.
func (s storeRecords) CreateRecord(ctx context.Context, collection string, values flow.Record) (flow.Record, error) {
	rs, err := s.rs(ctx)
	if err != nil {
		return nil, err
	}
	return rs.CreateRecord(ctx, collection, values)
}

// GetRecord implements storage.RecordAccess.
func (s storeRecords) GetRecord(ctx context.Context, collection string, key flow.Record, appends []string) (flow.Record, error) {
	rs, err := s.rs(ctx)
	if err != nil {
		return nil, err
	}
	return rs.GetRecord(ctx, collection, key, appends)
}

// ListRecords implements storage.RecordAccess.
func (s storeRecords) ListRecords(ctx context.Context, collection string, f storage.Filter, appends []string) ([]flow.Record, error) {
	rs, err := s.rs(ctx)
	if err != nil {
		return nil, err
	}
	return rs.ListRecords(ctx, collection, f, appends)
}

// UpdateRecords implements storage.RecordAccess.
func (s storeRecords) UpdateRecords(ctx context.Context, collection string, f storage.Filter, values flow.Record) ([]flow.Record, error) {
	rs, err := s.rs(ctx)
	if err != nil {
		return nil, err
	}
	return rs.UpdateRecords(ctx, collection, f, values)
}
