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
	"github.com/actiontrigger/actiontrigger/observe"
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

// DefaultMaxClaims is Config.MaxClaims when it is not set.
const DefaultMaxClaims = executor.DefaultMaxClaims

// ErrInvalidConfig is returned by New for a Config it cannot run with.
var ErrInvalidConfig = errors.New("invalid engine config")

// Config configures an Engine. Only Collections is required.
type Config struct {
	// Store keeps the engine's state (workflows, executions, jobs, the queue,
	// tasks) and, when it implements storage.RecordStore (the built-in stores
	// do), the records of every collection Records does not back. Default: a
	// new in-memory store (storage/memory), which loses everything when the
	// process ends.
	Store storage.Store
	// Collections declares the host's collections (and "users" to strip hidden
	// user fields from $context.user).
	Collections []flow.Collection
	// Records backs collections with the host's own code: a declared
	// collection's full name mapped to its implementation of the records
	// port. The engine reads and writes those collections' records only
	// through it (event data, appends, the create node, the HTTP API) and
	// never declares them to the store, which keeps the records of every
	// other collection (see storage.Records for the unit of work its calls
	// receive).
	Records map[string]storage.Records
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
	// NodeTimeout bounds one run of every node that sets no timeout of its own
	// (flow.Node.Timeout, milliseconds); 0 (the default): no bound. The node's
	// context carries the deadline, capped by the workflow's options.timeout. A
	// node that has not returned NodeTimeoutGrace after its deadline is
	// abandoned: its job is ERROR ("node X exceeded its timeout of ..."), the
	// execution ends ERROR, and what the run returns or writes later is dropped.
	NodeTimeout time.Duration
	// NodeTimeoutGrace is how long past its deadline a node that ignores its
	// context is waited for (default 1s).
	NodeTimeoutGrace time.Duration
	// MaxClaims is how many times an async execution may be claimed by a worker
	// without its run finishing (ending, or pausing) before it is quarantined:
	// ended ERROR with reason flow.ReasonQuarantined and never claimed again, so
	// an execution whose run kills the process (or keeps failing on a storage
	// error) cannot take down every process that picks it up. A claim given
	// back by a graceful Stop does not count; one lost to a crash (a kill, an
	// out-of-memory) does, whatever its cause, so raise it where processes
	// are killed often. Default DefaultMaxClaims.
	MaxClaims int
	// OnTaskReminder, if set, is called once for each pending task of a
	// manual node whose deadline has a reminder, when the reminder is due
	// (config.deadline.remindBefore): on one process, whichever claims the
	// execution then. It runs inside the unit of work that records the
	// reminder (keep it fast: queue a mail, do not send it); if that unit of
	// work fails, the reminder is due again and the hook called again.
	OnTaskReminder func(ctx context.Context, t *flow.Task)
	// OnRunDone, if set, is called after every async run of an execution on
	// this process's workers (ended, or paused again), with the execution as
	// stored. It runs on the worker: keep it fast (metrics, notifications).
	OnRunDone func(x *flow.Execution)
	// Observer, if set, is told of every action that runs workflows, every
	// run of an execution and of a node, every claim of the queue and every
	// execution that ends, with the context each runs in: for traces and
	// metrics (package otelobserve reports them to OpenTelemetry). It also
	// encodes the trace context of an AfterAction that queues executions,
	// which is stored with them (flow.Execution.Trace) so that their runs on
	// the workers join the request's trace. Default: none, which costs
	// nothing measurable. See docs/observability.md.
	Observer observe.Observer
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

// ExecutionFilter selects executions for Engine.Executions. Zero fields do
// not filter.
type ExecutionFilter = storage.ExecutionFilter

// WorkflowFilter selects workflow versions for Engine.Workflows. Zero fields
// do not filter.
type WorkflowFilter = storage.WorkflowFilter

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
	schema      *flow.Schema
	owner       string
	exec        *executor.Executor
	pool        *executor.Pool

	mu      sync.RWMutex
	byKey   map[string]*flow.Workflow   // the enabled version of each key
	globals map[string][]*flow.Workflow // collection -> enabled global workflows, in enable order

	running sync.Map // execution id -> context.CancelFunc

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
	if e.cfg.MaxClaims <= 0 {
		e.cfg.MaxClaims = DefaultMaxClaims
	}
	if e.cfg.NodeTimeout < 0 || e.cfg.NodeTimeoutGrace < 0 {
		return nil, fmt.Errorf("actiontrigger: NodeTimeout %s and NodeTimeoutGrace %s may not be negative: %w", e.cfg.NodeTimeout, e.cfg.NodeTimeoutGrace, ErrInvalidConfig)
	}
	sc, err := flow.CompileSchema(cfg.Collections)
	if err != nil {
		return nil, fmt.Errorf("actiontrigger: %w", err)
	}
	e.schema = sc
	// The declarations with every key and foreign key as a field: what the
	// engine and the nodes validate workflows against.
	cfg.Collections = sc.Collections()
	e.collections = make(map[string]*flow.Collection, len(cfg.Collections))
	for i := range cfg.Collections {
		e.collections[cfg.Collections[i].FullName()] = &cfg.Collections[i]
	}
	if err := e.declareStoreCollections(ctx, cfg.Collections); err != nil {
		return nil, err
	}
	e.owner = executor.NewID()
	e.exec = executor.New(executor.Config{
		Store: e.store, Records: recordRouter{e}, Nodes: e.reg, Calculators: e.calcs,
		Collections: collectionSet(e.collections), Check: e.checkTrigger, Logger: e.log,
		Env: cfg.Env, Now: e.cfg.Now, Owner: e.owner,
		NodeTimeout: cfg.NodeTimeout, NodeGrace: cfg.NodeTimeoutGrace,
		OnTaskReminder: cfg.OnTaskReminder, Observer: cfg.Observer,
	})
	if err := e.Refresh(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// declareStoreCollections declares to the store the collections it keeps:
// those Config.Records does not back, without the associations that reach a
// host-backed collection (the engine resolves those appends itself).
func (e *Engine) declareStoreCollections(ctx context.Context, cs []flow.Collection) error {
	for name, r := range e.cfg.Records {
		if _, ok := e.collections[name]; !ok {
			return fmt.Errorf("actiontrigger: Config.Records names %q, which is not a declared collection: %w", name, flow.ErrUnknownCollection)
		}
		if r == nil {
			return fmt.Errorf("actiontrigger: Config.Records: collection %q has a nil implementation: %w", name, flow.ErrInvalidCollection)
		}
	}
	kept := make([]flow.Collection, 0, len(cs))
	for _, c := range cs {
		if _, hosted := e.cfg.Records[c.FullName()]; hosted {
			continue
		}
		if len(e.cfg.Records) > 0 {
			cs, _ := e.schema.Collection(c.FullName())
			fields := c.Fields[:0:0]
			for _, f := range c.Fields {
				if a := cs.Assocs[f.Name]; a != nil {
					if _, ok := e.cfg.Records[a.Target]; ok {
						continue
					}
					if _, ok := e.cfg.Records[a.Through]; ok && a.Through != "" {
						continue
					}
				}
				fields = append(fields, f)
			}
			c.Fields = fields
		}
		kept = append(kept, c)
	}
	if len(kept) == 0 {
		return nil
	}
	rs, ok := e.store.(storage.RecordStore)
	if !ok {
		return fmt.Errorf("actiontrigger: the store (%T) keeps no records: back collection %q with Config.Records: %w", e.store, kept[0].FullName(), storage.ErrNotSupported)
	}
	if err := rs.DeclareCollections(ctx, kept); err != nil {
		return fmt.Errorf("actiontrigger: declare collections: %w", err)
	}
	return nil
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
		PollInterval: e.cfg.PollInterval, Handle: e.handle, Executor: e.exec, Logger: e.log, Now: e.cfg.Now,
		MaxClaims: e.cfg.MaxClaims, Observer: e.cfg.Observer,
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
// ctx to end (then running executions are canceled). Executions this process
// claimed but does not finish (not started yet, or canceled) are given back at
// once, so another process sharing the store claims them without waiting for
// their lease to expire, and resumes them after their last committed job.
func (e *Engine) Stop(ctx context.Context) error {
	e.lifeMu.Lock()
	defer e.lifeMu.Unlock()
	if !e.started {
		return nil
	}
	e.started = false
	e.stopSweep()
	e.sweepWG.Wait()
	return e.pool.Stop(ctx)
}

// RunDue runs, on the calling goroutine, every async execution that is due
// at Config.Now (queued, resumed, or waiting on a timer that has passed:
// a retry backoff, a deadline, a timeout), until none is, and returns how
// many runs it made. Executions that become due during the call (the next
// node of a resumed one) run too; those due later wait for a later call.
// It is what package testkit drives with its fake clock, and lets a host
// run the queue from its own scheduler instead of Start's workers; it may
// run beside them (claims are leased). An execution that keeps becoming due
// at once (a node snoozing for zero time past its cap) stops it after
// 10,000 runs with an error wrapping executor.ErrRunaway.
func (e *Engine) RunDue(ctx context.Context) (int, error) {
	p := &executor.Pool{
		Store: e.store, Owner: e.owner, Lease: e.cfg.Lease, Handle: e.handle,
		Executor: e.exec, Logger: e.log, Now: e.cfg.Now, MaxClaims: e.cfg.MaxClaims, Observer: e.cfg.Observer,
	}
	n, err := p.RunDue(ctx, 0)
	if err != nil {
		return n, fmt.Errorf("actiontrigger: run due executions: %w", err)
	}
	return n, nil
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
		if x.Attempt >= e.cfg.MaxClaims {
			e.failExecution(context.WithoutCancel(ctx), x, err)
		}
		return
	}
	e.afterRun(out)
	if e.cfg.OnRunDone != nil && out != nil {
		e.cfg.OnRunDone(out.Execution)
	}
}

func (e *Engine) failExecution(ctx context.Context, x *flow.Execution, cause error) {
	var failed *flow.Execution
	err := e.store.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
		failed = nil
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
		u.Dequeue()
		u.EndedAt = e.cfg.Now()
		failed = u
		return tx.UpdateExecution(ctx, u, storage.ExecutionExpect{Status: cur.Status})
	})
	if err != nil {
		e.log.Error("actiontrigger: mark execution failed", "execution", x.ID, "err", err)
		return
	}
	e.observeEnded(ctx, failed)
}

// afterRun tells this process's pool when an execution that waits on a
// durable timer (a retry backoff, a deadline, its timeout) is due, so that
// it runs on time here; any process polling the store finds it too.
func (e *Engine) afterRun(out *executor.Outcome) {
	if out == nil || out.Deleted {
		return
	}
	x := out.Execution
	if !x.Runnable || x.RunAfter.IsZero() {
		return
	}
	e.lifeMu.Lock()
	pool, started := e.pool, e.started
	e.lifeMu.Unlock()
	if started {
		pool.NotifyAt(x.RunAfter)
	}
}

// sweep aborts paused executions whose timeout passed but that wait on no
// durable timer (paused before timers were stored, by an older version), at
// start and then every minute. Every other timeout is a timer in the queue.
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
	// The plan tells which node of a paused job releases what (nodes.Aborter);
	// it is loaded before the unit of work, which must not wait for another
	// connection while it holds one.
	var plan *executor.Plan
	if x, err := e.db(ctx).GetExecution(ctx, id); err == nil {
		plan, _ = e.planFor(ctx, x.WorkflowID)
	}
	var aborted *flow.Execution
	unit := func(ctx context.Context, tx storage.Store) error {
		var err error
		aborted, err = e.abortIn(ctx, tx, plan, id, reason)
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
	e.observeEnded(ctx, aborted)
	e.deleteIfConfigured(ctx, aborted)
	return nil
}

// abortIn is abort's unit of work: it returns the execution as aborted.
func (e *Engine) abortIn(ctx context.Context, tx storage.Store, plan *executor.Plan, id, reason string) (*flow.Execution, error) {
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
	u.Dequeue()
	u.EndedAt, u.UpdatedAt = now, now
	if err := executor.AbortPendingJobs(ctx, tx, plan, id, now); err != nil {
		return nil, err
	}
	if err := tx.UpdateExecution(ctx, u, storage.ExecutionExpect{Status: cur.Status}); err != nil {
		return nil, err
	}
	return u, nil
}

// observeEnded tells Config.Observer of an execution ended outside a run
// (nil: none was).
func (e *Engine) observeEnded(ctx context.Context, x *flow.Execution) {
	if e.cfg.Observer != nil && x != nil {
		e.cfg.Observer.ExecutionEnd(ctx, observe.ExecutionEnd{Execution: x})
	}
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
