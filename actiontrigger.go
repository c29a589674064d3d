package actiontrigger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/actiontrigger/actiontrigger/executor"
	"github.com/actiontrigger/actiontrigger/expression"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/memory"
)

// Action names, re-exported from package flow for convenience.
const (
	ActionCreate = flow.ActionCreate
	ActionUpdate = flow.ActionUpdate
)

// DefaultWorkers is Config.Workers when it is not set.
const DefaultWorkers = 64

// Config configures an Engine. Only Collections is required.
type Config struct {
	// Store keeps workflows, executions and records. Default: a new in-memory
	// store (storage/memory), which loses everything when the process ends.
	Store storage.Store
	// Collections declares the host's collections (and "users" to strip hidden
	// user fields from $context.user).
	Collections []flow.Collection
	// Nodes is the node registry. Default: nodes.DefaultRegistry().
	Nodes *nodes.Registry
	// Calculators for the basic condition engine. Default: expression.DefaultCalculators().
	Calculators *expression.Calculators
	// Workers is how many async executions run in parallel. Default: 64.
	// Runs made only of atomic nodes (the built-ins) are committed together by
	// the executor (group commit), so more workers make bigger, cheaper
	// batches: on the 2-core benchmark machine SQLite drains about 3,200
	// executions/s with 4 workers and 6,900/s with 64 (docs/benchmarks.md).
	// Lower it when custom nodes call services that must not see that many
	// concurrent calls.
	Workers int
	// BindingPolicy for triggerWorkflows. Default: Strict.
	BindingPolicy BindingPolicy
	// Buttons are server-side button bindings: a button id mapped to the workflows
	// it may trigger. An action that names a Button may only trigger those, and
	// triggers all of them when it names no workflows itself.
	Buttons map[string][]Binding
	// Env is exposed to templates and expressions as $env.
	Env map[string]any
	// UsersCollection names the collection whose hidden fields are removed from
	// $context.user. Default "users".
	UsersCollection string
	// Lease is how long a worker's claim on an execution holds (default 30s).
	Lease time.Duration
	// PollInterval is how often idle workers look for work enqueued by other
	// processes or left by dead ones (default 1s).
	PollInterval time.Duration
	// RefreshInterval is how often the engine reloads the enabled workflows from
	// the store, to see changes other processes sharing it made. Default: 5s on
	// a durable store, never on one that is not (a negative value disables it).
	RefreshInterval time.Duration
	// OnRunDone, if set, is called after every async run of an execution on
	// this process's workers (ended, or paused again), with the execution as
	// stored. It runs on the worker: keep it fast (metrics, notifications).
	OnRunDone func(x *flow.Execution)
	// Logger receives the engine's logs. Default: slog.Default().
	Logger *slog.Logger
	// Now returns the current time. Default: time.Now.
	Now func() time.Time
}

// Action describes the host action that just succeeded.
type Action struct {
	// Collection acted on: "posts", or "another:posts" for another data source.
	// For an association resource ("categories.posts") name the target collection.
	Collection string
	// Name is ActionCreate or ActionUpdate; other actions trigger nothing.
	Name string
	// TriggerWorkflows is the request's triggerWorkflows value: "key1,key2!path".
	TriggerWorkflows string
	// Button, if set, names a server-side button binding (Config.Buttons).
	Button string
	// EventKey, if set, makes the call idempotent: an event key already used by a
	// workflow starts nothing new. Records of a bulk action get "<key>/<index>".
	EventKey string
}

// User is the acting user.
type User struct {
	// ID of the user; also set as "id" in $context.user.
	ID any
	// Role the action runs under ($context.roleName).
	Role string
	// Fields of the user record; hidden fields of the users collection are removed.
	Fields map[string]any
}

// Result lists what AfterAction started.
type Result struct {
	// Executions in run order: sync ones finished (or paused), async ones queued.
	Executions []*flow.Execution
	// Messages added by response-message nodes of sync workflows.
	Messages []nodes.Message
	// Skipped lists workflows that did not run, and why.
	Skipped []Skip
}

// Skip tells why a bound workflow did not run.
type Skip struct {
	Workflow string
	Reason   string
}

// Engine runs post-action workflows. Create it with New; it is safe for
// concurrent use.
type Engine struct {
	cfg         Config
	store       storage.Store
	reg         *nodes.Registry
	calcs       *expression.Calculators
	log         *slog.Logger
	collections map[string]*flow.Collection
	owner       string
	exec        *executor.Executor
	pool        *executor.Pool

	mu      sync.RWMutex
	byKey   map[string]*flow.Workflow   // the enabled version of each key
	globals map[string][]*flow.Workflow // collection -> enabled global workflows, in enable order
	plans   sync.Map                    // workflow version id -> *executor.Plan

	running sync.Map // execution id -> context.CancelFunc
	timers  sync.Map // execution id -> *time.Timer

	lifeMu    sync.Mutex
	started   bool
	stopSweep context.CancelFunc
	sweepWG   sync.WaitGroup
}

// collectionSet implements nodes.CollectionLookup.
type collectionSet map[string]*flow.Collection

func (c collectionSet) Collection(name string) (*flow.Collection, bool) {
	x, ok := c[name]
	return x, ok
}

// New creates an engine: it declares the collections to the store and loads the
// enabled workflows it already holds. Call Start to run async workflows.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	e := &Engine{cfg: cfg, store: cfg.Store, reg: cfg.Nodes, calcs: cfg.Calculators, log: cfg.Logger}
	if e.store == nil {
		e.store = memory.New()
	}
	if e.reg == nil {
		e.reg = nodes.DefaultRegistry()
	}
	if e.calcs == nil {
		e.calcs = expression.DefaultCalculators()
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.cfg.UsersCollection == "" {
		e.cfg.UsersCollection = "users"
	}
	if e.cfg.Workers <= 0 {
		e.cfg.Workers = DefaultWorkers
	}
	if e.cfg.Now == nil {
		e.cfg.Now = time.Now
	}
	cfg.Collections = normalizeCollections(cfg.Collections)
	e.collections = make(map[string]*flow.Collection, len(cfg.Collections))
	for i := range cfg.Collections {
		c := cfg.Collections[i]
		if c.Name == "" {
			return nil, fmt.Errorf("actiontrigger: collection #%d has no name: %w", i+1, flow.ErrInvalidRecord)
		}
		if _, dup := e.collections[c.FullName()]; dup {
			return nil, fmt.Errorf("actiontrigger: collection %q declared twice: %w", c.FullName(), flow.ErrDuplicate)
		}
		e.collections[c.FullName()] = &c
	}
	for name, c := range e.collections {
		for _, f := range c.Fields {
			if !f.Type.IsAssociation() {
				continue
			}
			ds, _ := flow.SplitCollectionName(name)
			if _, ok := e.collections[flow.JoinCollectionName(ds, f.Target)]; !ok {
				return nil, fmt.Errorf("actiontrigger: collection %q: association %q targets undeclared collection %q: %w", name, f.Name, f.Target, flow.ErrUnknownCollection)
			}
		}
	}
	if err := e.store.DeclareCollections(ctx, cfg.Collections); err != nil {
		return nil, fmt.Errorf("actiontrigger: declare collections: %w", err)
	}
	e.owner = executor.NewID()
	e.exec = &executor.Executor{
		Store: e.store, Collections: collectionSet(e.collections), Logger: e.log,
		Env: cfg.Env, Now: e.cfg.Now, Owner: e.owner, PlanFor: e.planFor,
	}
	e.exec.Init()
	if err := e.Refresh(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// Store returns the engine's store.
func (e *Engine) Store() storage.Store { return e.store }

// Collection returns a declared collection by its full name.
func (e *Engine) Collection(name string) (*flow.Collection, bool) {
	c, ok := e.collections[name]
	return c, ok
}

// Start launches the async workers. Executions queued before Start (or by other
// processes sharing the store) are picked up.
func (e *Engine) Start(ctx context.Context) error {
	e.lifeMu.Lock()
	defer e.lifeMu.Unlock()
	if e.started {
		return nil
	}
	e.pool = &executor.Pool{
		Store: e.store, Owner: e.owner, Workers: e.cfg.Workers, Lease: e.cfg.Lease,
		PollInterval: e.cfg.PollInterval, Handle: e.handle, Logger: e.log, Now: e.cfg.Now,
	}
	e.pool.Start(ctx)
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.stopSweep = cancel
	e.sweepWG.Add(1)
	go e.sweep(sctx)
	if every := e.refreshInterval(); every > 0 {
		e.sweepWG.Add(1)
		go e.refreshLoop(sctx, every)
	}
	e.started = true
	return nil
}

// Stop stops claiming new work and waits for running executions to finish, or for
// ctx to end (then running executions are canceled and, on a durable store,
// resumed later by any process after their lease expires).
func (e *Engine) Stop(ctx context.Context) error {
	e.lifeMu.Lock()
	defer e.lifeMu.Unlock()
	if !e.started {
		return nil
	}
	e.started = false
	e.stopSweep()
	e.sweepWG.Wait()
	e.timers.Range(func(k, v any) bool {
		v.(*time.Timer).Stop()
		e.timers.Delete(k)
		return true
	})
	return e.pool.Stop(ctx)
}

// WaitIdle blocks until no async execution is queued or running in this
// process's view of the store. Useful in tests, demos and batch jobs.
func (e *Engine) WaitIdle(ctx context.Context) error {
	e.lifeMu.Lock()
	pool, started := e.pool, e.started
	e.lifeMu.Unlock()
	if !started {
		return ErrNotStarted
	}
	return pool.WaitIdle(ctx)
}

func (e *Engine) notify() {
	e.lifeMu.Lock()
	pool, started := e.pool, e.started
	e.lifeMu.Unlock()
	if started {
		pool.Notify()
	}
}

// handle runs one claimed execution on a worker.
func (e *Engine) handle(ctx context.Context, x *flow.Execution) {
	ctx, cancel := context.WithCancel(ctx)
	e.running.Store(x.ID, cancel)
	out, err := e.exec.Process(ctx, x)
	e.running.Delete(x.ID)
	cancel()
	if err != nil {
		if errors.Is(err, flow.ErrConflict) || errors.Is(err, flow.ErrLeaseLost) || errors.Is(err, context.Canceled) {
			e.log.Debug("actiontrigger: execution changed under its worker", "execution", x.ID, "err", err)
			return
		}
		e.log.Error("actiontrigger: execution run failed; it is retried when its lease expires", "execution", x.ID, "workflow", x.Key, "attempt", x.Attempt, "err", err)
		if x.Attempt >= maxAttempts {
			e.failExecution(context.WithoutCancel(ctx), x, err)
		}
		return
	}
	e.afterRun(out)
	if e.cfg.OnRunDone != nil && out != nil {
		e.cfg.OnRunDone(out.Execution)
	}
}

const maxAttempts = 5

func (e *Engine) failExecution(ctx context.Context, x *flow.Execution, cause error) {
	err := e.store.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
		cur, err := tx.GetExecution(ctx, x.ID)
		if err != nil {
			return err
		}
		if cur.Status.Ended() {
			return nil
		}
		u := cur.Clone()
		u.Status = flow.ExecutionError
		u.Reason = "worker: " + cause.Error()
		u.Runnable, u.LeaseOwner, u.LeaseUntil, u.ResumeJobID = false, "", time.Time{}, ""
		u.EndedAt = e.cfg.Now()
		return tx.UpdateExecution(ctx, u, storage.ExecutionExpect{Status: cur.Status})
	})
	if err != nil {
		e.log.Error("actiontrigger: mark execution failed", "execution", x.ID, "err", err)
	}
}

// afterRun schedules the timeout of an execution that paused.
func (e *Engine) afterRun(out *executor.Outcome) {
	if out == nil || out.Deleted {
		return
	}
	x := out.Execution
	if x.Status != flow.ExecutionStarted || x.ExpiresAt.IsZero() {
		return
	}
	d := x.ExpiresAt.Sub(e.cfg.Now())
	id := x.ID
	t := time.AfterFunc(max(d, 0), func() {
		e.timers.Delete(id)
		if err := e.abort(context.Background(), id, flow.ReasonTimeout); err != nil && !errors.Is(err, ErrExecutionEnded) && !errors.Is(err, flow.ErrNotFound) {
			e.log.Error("actiontrigger: abort timed-out execution", "execution", id, "err", err)
		}
	})
	if old, loaded := e.timers.Swap(id, t); loaded {
		old.(*time.Timer).Stop()
	}
}

// sweep aborts paused executions whose timeout passed (for example while no
// process was running), at start and then every minute.
func (e *Engine) sweep(ctx context.Context) {
	defer e.sweepWG.Done()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		list, err := e.store.ListExecutions(ctx, storage.ExecutionFilter{Statuses: []flow.ExecutionStatus{flow.ExecutionStarted}, ExpiresBefore: e.cfg.Now()})
		if err != nil && ctx.Err() == nil {
			e.log.Error("actiontrigger: list expired executions", "err", err)
		}
		for _, x := range list {
			if x.Runnable {
				continue // a worker holds it and checks the timeout itself
			}
			if err := e.abort(ctx, x.ID, flow.ReasonTimeout); err != nil && !errors.Is(err, ErrExecutionEnded) {
				e.log.Error("actiontrigger: abort timed-out execution", "execution", x.ID, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// abort ends a queued or started execution as ABORTED with reason, and aborts
// its pending jobs.
func (e *Engine) abort(ctx context.Context, id, reason string) error {
	var aborted *flow.Execution
	unit := func(ctx context.Context, tx storage.Store) error {
		var err error
		aborted, err = e.abortIn(ctx, tx, id, reason)
		return err
	}
	err := e.db(ctx).InTx(ctx, unit)
	// The execution changed between the read and the compare-and-set (a
	// worker resumed and ended it, or started it): decide again from what is
	// stored now, so that an execution that has ended is ErrExecutionEnded.
	for attempt := 0; errors.Is(err, flow.ErrConflict) && attempt < 3; attempt++ {
		err = e.db(ctx).InTx(ctx, unit)
	}
	if err != nil {
		return err
	}
	if c, ok := e.running.Load(id); ok {
		c.(context.CancelFunc)()
	}
	if t, ok := e.timers.LoadAndDelete(id); ok {
		t.(*time.Timer).Stop()
	}
	e.deleteIfConfigured(ctx, aborted)
	return nil
}

// abortIn is abort's unit of work: it returns the execution as aborted.
func (e *Engine) abortIn(ctx context.Context, tx storage.Store, id, reason string) (*flow.Execution, error) {
	cur, err := tx.GetExecution(ctx, id)
	if err != nil {
		return nil, err
	}
	if cur.Status.Ended() {
		return nil, fmt.Errorf("execution %s is %s: %w", id, cur.Status, ErrExecutionEnded)
	}
	now := e.cfg.Now()
	u := cur.Clone()
	u.Status = flow.ExecutionAborted
	u.Reason = reason
	u.Runnable, u.LeaseOwner, u.LeaseUntil, u.ResumeJobID = false, "", time.Time{}, ""
	u.EndedAt, u.UpdatedAt = now, now
	if err := executor.AbortPendingJobs(ctx, tx, id, now); err != nil {
		return nil, err
	}
	if err := tx.UpdateExecution(ctx, u, storage.ExecutionExpect{Status: cur.Status}); err != nil {
		return nil, err
	}
	return u, nil
}

func (e *Engine) deleteIfConfigured(ctx context.Context, x *flow.Execution) {
	plan, err := e.planFor(ctx, x.WorkflowID)
	if err != nil {
		return
	}
	for _, s := range plan.Workflow.Options.DeleteExecutionOnStatus {
		if s == x.Status {
			if err := e.db(ctx).DeleteExecution(ctx, x.ID); err != nil && !errors.Is(err, flow.ErrNotFound) {
				e.log.Error("actiontrigger: delete execution", "execution", x.ID, "err", err)
			}
			return
		}
	}
}

// normalizeCollections returns a copy of cs in which every key field and every
// foreign key implied by an association is a declared field, so templates and
// create nodes may name them ("categoryId" of a belongsTo "category").
func normalizeCollections(cs []flow.Collection) []flow.Collection {
	out := make([]flow.Collection, len(cs))
	byName := map[string]int{}
	for i, c := range cs {
		c.Fields = append([]flow.Field(nil), c.Fields...)
		out[i] = c
		byName[c.FullName()] = i
	}
	add := func(i int, name string) {
		if _, ok := out[i].Field(name); !ok {
			out[i].Fields = append(out[i].Fields, flow.Field{Name: name, Type: flow.FieldInteger})
		}
	}
	for i := range out {
		for _, k := range out[i].Keys() {
			add(i, k)
		}
	}
	for i := range out {
		ds, _ := flow.SplitCollectionName(out[i].FullName())
		for _, f := range out[i].Fields {
			switch f.Type {
			case flow.FieldBelongsTo:
				fk := f.ForeignKey
				if fk == "" {
					fk = f.Name + "Id"
				}
				add(i, fk)
			case flow.FieldHasOne, flow.FieldHasMany:
				if t, ok := byName[flow.JoinCollectionName(ds, f.Target)]; ok && f.ForeignKey != "" {
					add(t, f.ForeignKey)
				}
			}
		}
	}
	return out
}

func (e *Engine) refreshInterval() time.Duration {
	switch {
	case e.cfg.RefreshInterval < 0:
		return 0
	case e.cfg.RefreshInterval > 0:
		return e.cfg.RefreshInterval
	case e.store.Durable():
		return 5 * time.Second
	}
	return 0
}

func (e *Engine) refreshLoop(ctx context.Context, every time.Duration) {
	defer e.sweepWG.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := e.Refresh(ctx); err != nil && ctx.Err() == nil {
			e.log.Error("actiontrigger: refresh workflows", "err", err)
		}
	}
}

// Refresh reloads the enabled workflows from the store, picking up versions
// that other processes sharing the store saved, enabled or disabled. Engines
// started on a durable store do it every Config.RefreshInterval.
func (e *Engine) Refresh(ctx context.Context) error {
	enabled := true
	wfs, err := e.store.ListWorkflows(ctx, storage.WorkflowFilter{Enabled: &enabled})
	if err != nil {
		return fmt.Errorf("actiontrigger: refresh workflows: %w", err)
	}
	byKey := make(map[string]*flow.Workflow, len(wfs))
	globals := map[string][]*flow.Workflow{}
	for _, w := range wfs {
		if _, err := e.plan(w); err != nil {
			e.log.Error("actiontrigger: stored workflow does not compile; left out", "workflow", w.Key, "id", w.ID, "err", err)
			continue
		}
		byKey[w.Key] = w
		if w.Config.Global {
			globals[w.Config.Collection] = append(globals[w.Config.Collection], w)
		}
	}
	e.mu.Lock()
	e.byKey, e.globals = byKey, globals
	e.mu.Unlock()
	return nil
}
