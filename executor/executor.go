package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/actiontrigger/actiontrigger/expression"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
	"github.com/actiontrigger/actiontrigger/observe"
	"github.com/actiontrigger/actiontrigger/storage"
)

// ErrNoPlan is returned when the workflow version of an execution cannot be
// compiled or found.
var ErrNoPlan = errors.New("executor: no plan for workflow")

// Config configures an Executor.
type Config struct {
	// Store keeps the engine's state. Required.
	Store storage.Store
	// Records is what nodes reach records through (RunContext.Records).
	// Default: the store's records (storage.RecordStore), in the unit of
	// work a call's ctx carries.
	Records storage.RecordAccess
	// Nodes compiles the nodes of workflow versions. Default:
	// nodes.DefaultRegistry().
	Nodes *nodes.Registry
	// Calculators of the basic condition engine (nodes.CompileContext).
	Calculators *expression.Calculators
	// Collections looks up the declared collections.
	Collections nodes.CollectionLookup
	// Check, if set, validates what the caller owns of a workflow version
	// (its trigger config) before its nodes are compiled; it may fill
	// defaults in w.
	Check  func(w *flow.Workflow) error
	Logger *slog.Logger
	// Env is exposed to templates and expressions as $env.
	Env map[string]any
	// Now returns the current time. Default: time.Now.
	Now func() time.Time
	// Owner names this process's leases.
	Owner string
	// BatchSize is the most atomic executions that concurrent Process calls
	// commit in one transaction (see batch.go). 0 means DefaultBatchSize; 1 or
	// less than 0 commits each execution on its own.
	BatchSize int
	// Batches is how many such transactions may run at once (default
	// DefaultBatches).
	Batches int
	// NodeTimeout bounds the run of every node that has no timeout of its own
	// (flow.Node.Timeout); 0: none. See fault.go.
	NodeTimeout time.Duration
	// NodeGrace is how long past its deadline a node that ignores its context
	// is waited for before it is abandoned (default DefaultNodeGrace).
	NodeGrace time.Duration
	// OnTaskReminder is the host's reminder hook, handed to node types that
	// remind assignees before a deadline (nodes.WakeContext.Remind).
	OnTaskReminder func(ctx context.Context, t *flow.Task)
	// Rand returns a number in [0, 1) for the jitter of retry backoffs.
	// Default: math/rand/v2.Float64.
	Rand func() float64
	// Observer, if set, is told of every run of an execution, every run of
	// a node and every execution that ends in a run (see observe.go).
	Observer observe.Observer
}

// Executor walks executions through their plans, and keeps the compiled
// plans of workflow versions. Create it with New; it is safe for concurrent
// use.
type Executor struct {
	cfg    Config
	system map[string]any
	batch  batcher
	plans  sync.Map // workflow version id -> *Plan
}

// New returns an executor.
func New(cfg Config) *Executor {
	if cfg.Nodes == nil {
		cfg.Nodes = nodes.DefaultRegistry()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	x := &Executor{cfg: cfg}
	if x.cfg.Records == nil {
		x.cfg.Records = storeRecords{x}
	}
	x.systemVars()
	return x
}

// Compile validates a workflow version (Config.Check, then every node) and
// returns its plan, without keeping it.
func (x *Executor) Compile(w *flow.Workflow) (*Plan, error) {
	if x.cfg.Check != nil {
		if err := x.cfg.Check(w); err != nil {
			return nil, err
		}
	}
	return compile(w, x.cfg.Nodes, &nodes.CompileContext{Collections: x.cfg.Collections, Calculators: x.cfg.Calculators})
}

// PlanOf returns the plan of a stored version, compiled once and kept.
func (x *Executor) PlanOf(w *flow.Workflow) (*Plan, error) {
	if p, ok := x.plans.Load(w.ID); ok {
		return p.(*Plan), nil
	}
	p, err := x.Compile(w.Clone())
	if err != nil {
		return nil, err
	}
	if v, loaded := x.plans.LoadOrStore(w.ID, p); loaded {
		return v.(*Plan), nil
	}
	return p, nil
}

// Plan returns the plan of the version workflowID, loading it from the store
// the first time.
func (x *Executor) Plan(ctx context.Context, workflowID string) (*Plan, error) {
	if p, ok := x.plans.Load(workflowID); ok {
		return p.(*Plan), nil
	}
	w, err := x.cfg.Store.GetWorkflow(ctx, workflowID)
	if err != nil {
		return nil, err
	}
	return x.PlanOf(w)
}

// Forget drops the kept plan of a version (changed or deleted).
func (x *Executor) Forget(workflowID string) { x.plans.Delete(workflowID) }

// Outcome is what one run of an execution ended with.
type Outcome struct {
	// Execution as stored after the run (status STARTED if it paused).
	Execution *flow.Execution
	// LastJob is the last job saved (nil when no node ran).
	LastJob *flow.Job
	// Ended reports that the last job ended the execution through an end node.
	Ended bool
	// Messages added by response-message nodes.
	Messages []nodes.Message
	// Deleted reports that deleteExecutionOnStatus removed the execution.
	Deleted bool
}

func (x *Executor) now() time.Time {
	if x.cfg.Now != nil {
		return x.cfg.Now()
	}
	return time.Now()
}

// systemVars builds the $system scope root: values computed when read.
func (x *Executor) systemVars() map[string]any {
	if x.system == nil {
		x.system = map[string]any{
			"now":   func() any { return x.now() },
			"epoch": int64(1605024000),
		}
	}
	return x.system
}

// Scope returns the expression scope of execution e whose jobs' results by
// node key are jobsMap: $context, $jobsMapByNodeKey, $system, $scopes and
// $env. Runs, resumes and task submissions all build their scope here.
func (x *Executor) Scope(e *flow.Execution, jobsMap map[string]any) expression.Scope {
	return expression.Scope{
		"$context":          e.Context,
		"$jobsMapByNodeKey": jobsMap,
		"$system":           x.systemVars(),
		"$scopes":           map[string]any{},
		"$env":              x.cfg.Env,
	}
}

// store returns the unit of work ctx carries, or the executor's store.
func (x *Executor) store(ctx context.Context) storage.Store {
	if tx, ok := storage.TxFrom(ctx); ok {
		return tx
	}
	return x.cfg.Store
}

// proc is the state of one run of one execution.
type proc struct {
	x        *Executor
	plan     *Plan
	exec     *flow.Execution // working copy
	prevExec flow.ExecutionStatus
	tx       storage.Store // whole-run unit of work, or nil when committing per step
	insert   bool          // the execution is new: insert it at exit (whole-run only)
	// pending holds the jobs of a whole-run unit of work, written at exit.
	jobs    map[string]*flow.Job
	jobsMap map[string]any
	scope   expression.Scope
	seq     int
	pending []*flow.Job
	lastJob *flow.Job
	// waitJob, when set at exit, is a job waiting to run again (a retry
	// backoff or a snooze) at waitAt.
	waitJob  *flow.Job
	waitAt   time.Time
	ended    bool
	done     bool
	messages []nodes.Message
	deleted  bool
	rc       nodes.RunContext
	// batch collects the final writes of a run in a shared transaction,
	// written once for the whole batch (nil: write them at exit).
	batch *batchWrites
}

func (x *Executor) newProc(plan *Plan, e *flow.Execution) *proc {
	p := &proc{x: x, plan: plan, exec: e, prevExec: e.Status}
	p.jobs = make(map[string]*flow.Job, plan.Len())
	p.jobsMap = make(map[string]any, plan.Len())
	p.scope = x.Scope(e, p.jobsMap)
	p.rc = nodes.RunContext{Workflow: plan.Workflow, Execution: e, Scope: p.scope, Collections: x.cfg.Collections}
	p.rc.SetMessageSink(&p.messages)
	return p
}

// RunNew runs a new execution inline to its end or its first pause. e must not
// be stored yet. When every node is atomic (nodes.Atomic) the run is one unit of
// work: the execution, its jobs and the nodes' side effects commit together, and
// the execution is inserted with its outcome. Otherwise it is inserted first and
// each node commits on its own.
func (x *Executor) RunNew(ctx context.Context, plan *Plan, e *flow.Execution) (*Outcome, error) {
	if x.cfg.Observer != nil {
		return x.observeRun(ctx, observe.RunInline, e, func(ctx context.Context) (*Outcome, error) { return x.runNew(ctx, plan, e) })
	}
	return x.runNew(ctx, plan, e)
}

func (x *Executor) runNew(ctx context.Context, plan *Plan, e *flow.Execution) (*Outcome, error) {
	now := x.now()
	e.Status = flow.ExecutionStarted
	e.StartedAt = now
	if plan.Workflow.Options.Timeout > 0 {
		e.ExpiresAt = now.Add(time.Duration(plan.Workflow.Options.Timeout) * time.Millisecond)
	}
	ctx = withFrame(ctx, e)
	if !plan.atomic {
		// This process holds the run; the execution is not claimable.
		e.LeaseOwner, e.LeaseUntil = x.cfg.Owner, now.Add(time.Hour)
		p := x.newProc(plan, e.Clone())
		if err := p.step(ctx, func(ctx context.Context, tx storage.Store) error {
			return tx.InsertExecution(ctx, p.exec)
		}); err != nil {
			return nil, err
		}
		if err := p.runFrom(ctx, plan.head, nil); err != nil {
			return nil, err
		}
		return p.outcome(), nil
	}
	var out *Outcome
	err := x.store(ctx).InTx(ctx, func(ctx context.Context, tx storage.Store) error {
		ctx = storage.WithTx(ctx, tx)
		p := x.newProc(plan, e.Clone())
		p.tx, p.insert = tx, true
		if err := p.runFrom(ctx, plan.head, nil); err != nil {
			return err
		}
		out = p.outcome()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Process runs a claimed execution (one this process holds the lease of): it
// starts a QUEUEING execution, resumes the job named by ResumeJobID, or recovers
// an execution whose worker died by continuing after its last persisted job.
// When every node is atomic (nodes.Atomic) the run commits once: the jobs, the
// nodes' side effects and the outcome together, so a crash leaves the execution
// as it was before the run and it is run again from there. Otherwise each node's
// job commits on its own (with the side effects of atomic nodes), so a crash
// never runs a finished node twice.
func (x *Executor) Process(ctx context.Context, e *flow.Execution) (*Outcome, error) {
	if x.cfg.Observer != nil {
		kind := observe.RunResumed
		if e.Status == flow.ExecutionQueueing {
			kind = observe.RunQueued
		}
		return x.observeRun(ctx, kind, e, func(ctx context.Context) (*Outcome, error) { return x.process(ctx, e) })
	}
	return x.process(ctx, e)
}

func (x *Executor) process(ctx context.Context, e *flow.Execution) (*Outcome, error) {
	plan, err := x.Plan(ctx, e.WorkflowID)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrNoPlan, e.WorkflowID, err)
	}
	if plan.atomic {
		if _, inTx := storage.TxFrom(ctx); !inTx && x.cfg.BatchSize != 1 && x.cfg.BatchSize >= 0 {
			out, err := x.processBatched(ctx, plan, e)
			if !errors.Is(err, errAlone) {
				return out, err
			}
		}
		return x.processAtomic(ctx, plan, e)
	}
	ctx = withFrame(ctx, e)
	p := x.newProc(plan, e.Clone())
	if err := p.process(ctx); err != nil {
		return nil, err
	}
	return p.outcome(), nil
}

// processAtomic runs a claimed execution of an atomic plan in a transaction
// of its own.
func (x *Executor) processAtomic(ctx context.Context, plan *Plan, e *flow.Execution) (*Outcome, error) {
	ctx = withFrame(ctx, e)
	var out *Outcome
	err := x.store(ctx).InTx(ctx, func(ctx context.Context, tx storage.Store) error {
		ctx = storage.WithTx(ctx, tx)
		p := x.newProc(plan, e.Clone())
		p.tx = tx
		if err := p.process(ctx); err != nil {
			return err
		}
		out = p.outcome()
		return nil
	})
	return out, err
}

func (p *proc) outcome() *Outcome {
	return &Outcome{Execution: p.exec, LastJob: p.lastJob, Ended: p.ended, Messages: p.messages, Deleted: p.deleted}
}

// step runs fn in the run's unit of work, or in a new one per step (whose
// store the nodes' context carries, so engine calls they make join it).
func (p *proc) step(ctx context.Context, fn func(ctx context.Context, tx storage.Store) error) error {
	if p.tx != nil {
		return fn(ctx, p.tx)
	}
	return p.x.store(ctx).InTx(ctx, func(ctx context.Context, tx storage.Store) error {
		return fn(storage.WithTx(ctx, tx), tx)
	})
}

func (p *proc) store(ctx context.Context) storage.Store {
	if p.tx != nil {
		return p.tx
	}
	return p.x.store(ctx)
}

func (p *proc) process(ctx context.Context) error {
	e := p.exec
	switch e.Status {
	case flow.ExecutionQueueing:
		now := p.x.now()
		e.StartedAt = now
		if t := p.plan.Workflow.Options.Timeout; t > 0 {
			e.ExpiresAt = now.Add(time.Duration(t) * time.Millisecond)
		}
		next := e.Clone()
		next.Status = flow.ExecutionStarted
		if p.tx == nil {
			// Durable: record the start before the first node commits.
			if err := p.step(ctx, func(ctx context.Context, tx storage.Store) error {
				return tx.UpdateExecution(ctx, next, storage.ExecutionExpect{Status: flow.ExecutionQueueing, LeaseOwner: p.x.cfg.Owner})
			}); err != nil {
				return err
			}
			p.prevExec = flow.ExecutionStarted
		}
		p.exec = next
		p.rc.Execution = next
		return p.runFrom(ctx, p.plan.head, nil)
	case flow.ExecutionStarted:
	default:
		// Already over (canceled while queued, or a stale resume): just release it.
		return p.release(ctx)
	}
	jobs, err := p.store(ctx).ListJobs(ctx, e.ID)
	if err != nil {
		return err
	}
	var last *flow.Job
	for _, j := range jobs {
		p.record(j)
		if last == nil || j.Seq > last.Seq {
			last = j
		}
	}
	if p.expired() {
		return p.exit(ctx, flow.JobAborted, flow.ReasonTimeout)
	}
	if id := e.ResumeJobID; id != "" {
		if j := p.findJob(id); j == nil || j.Seq >= last.Seq {
			return p.resume(ctx, id)
		}
		// A run that resumed the job went on past it and died before its
		// end (a non-atomic run commits node by node, and the execution,
		// still naming the job, only at its end): recover after the last
		// committed job, as below, instead of running the nodes after the
		// resumed job again.
		p.exec.ResumeJobID = ""
	}
	if last == nil {
		return p.runFrom(ctx, p.plan.head, nil)
	}
	s, ok := p.plan.Step(last.NodeKey)
	if !ok {
		return p.exit(ctx, flow.JobError, "")
	}
	if last.Status == flow.JobPending {
		return p.wake(ctx) // a timer fired, or a recovery: nothing to run unless due
	}
	if last.Status == flow.JobRetryNeeded {
		return p.rerun(ctx, s, last)
	}
	next, prev, err := p.after(ctx, s, last)
	if err != nil || next == nil {
		return err
	}
	return p.runFrom(ctx, next, prev)
}

func (p *proc) resume(ctx context.Context, jobID string) error {
	job := p.findJob(jobID)
	if job == nil {
		return p.exit(ctx, flow.JobPending, "")
	}
	s, ok := p.plan.Step(job.NodeKey)
	if !ok {
		return p.exit(ctx, flow.JobError, "")
	}
	p.exec.ResumeJobID = ""
	if job.Status == flow.JobRetryNeeded {
		return p.rerun(ctx, s, job)
	}
	if _, ok := s.Instruction.(nodes.Resumer); ok {
		var updated *flow.Job
		if err := p.step(ctx, func(ctx context.Context, tx storage.Store) error {
			rc := p.runContext(s, tx)
			rc.JobID = job.ID
			nctx, obs := p.startNode(ctx, s, rc, true)
			res, rerr := p.invoke(nctx, s, rc, job, true)
			updated = job.Clone()
			fill(updated, res, rerr)
			obs.end(nctx, updated.Status, rerr)
			updated.UpdatedAt = p.x.now()
			return tx.UpdateJob(ctx, updated, job.Status)
		}); err != nil {
			return err
		}
		p.record(updated)
		job = updated
	}
	next, prev, err := p.after(ctx, s, job)
	if err != nil || next == nil {
		return err
	}
	return p.runFrom(ctx, next, prev)
}

func (p *proc) findJob(id string) *flow.Job {
	for _, j := range p.jobs {
		if j.ID == id {
			return j
		}
	}
	return nil
}

func (p *proc) record(j *flow.Job) {
	if cur, ok := p.jobs[j.NodeKey]; !ok || j.Seq >= cur.Seq {
		p.jobs[j.NodeKey] = j
		p.jobsMap[j.NodeKey] = j.Result
	}
	if j.Seq > p.seq {
		p.seq = j.Seq
	}
	if p.lastJob == nil || j.Seq >= p.lastJob.Seq {
		p.lastJob = j
		p.ended = j.End
	}
}

func (p *proc) runContext(s *Step, tx storage.Store) *nodes.RunContext {
	rc := &p.rc
	rc.Node = s.Node
	rc.Compiled = s.Compiled
	rc.Tasks = tx
	rc.Records = p.x.cfg.Records
	rc.Execution = p.exec
	rc.Now = p.x.now()
	rc.SetAttempt(1)
	if p.x.cfg.Logger != nil {
		rc.Logger = p.x.cfg.Logger
	} else {
		rc.Logger = slog.Default()
	}
	return rc
}

func fill(j *flow.Job, res nodes.Result, err error) {
	if err != nil {
		j.Status = flow.JobError
		j.Result = map[string]any{"message": err.Error()}
		return
	}
	j.Status = res.Status
	j.Result = res.Result
	j.Meta = res.Meta
	j.Log = res.Log
	j.Branch = res.Branch
	j.End = res.End
}

// runFrom walks the graph from s until the execution ends or pauses.
func (p *proc) runFrom(ctx context.Context, s *Step, prev *flow.Job) error {
	if s == nil {
		return p.exit(ctx, flow.JobResolved, "")
	}
	for s != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !p.exec.ExpiresAt.IsZero() && p.x.now().After(p.exec.ExpiresAt) {
			return p.exit(ctx, flow.JobAborted, flow.ReasonTimeout)
		}
		now := p.x.now()
		p.seq++
		job := &flow.Job{ID: newID(), ExecutionID: p.exec.ID, NodeKey: s.Node.Key, NodeType: s.Node.Type, Seq: p.seq, CreatedAt: now, UpdatedAt: now}
		if prev != nil {
			job.UpstreamID = prev.ID
		}
		var err error
		if !s.atomic && p.tx == nil {
			// Outside any transaction: the node may be slow.
			p.runNode(ctx, s, p.runContext(s, p.x.store(ctx)), prev, job)
			err = p.step(ctx, func(ctx context.Context, tx storage.Store) error {
				return tx.InsertJobs(ctx, job)
			})
		} else {
			err = p.step(ctx, func(ctx context.Context, tx storage.Store) error {
				p.runNode(ctx, s, p.runContext(s, tx), prev, job)
				if p.tx != nil {
					// One unit of work for the run: write the jobs with the outcome.
					p.pending = append(p.pending, job)
					return nil
				}
				return tx.InsertJobs(ctx, job)
			})
		}
		if err != nil {
			return err
		}
		p.record(job)
		if job.Status == flow.JobRetryNeeded {
			return p.exit(ctx, flow.JobPending, "") // waits out its backoff
		}
		next, nprev, err := p.after(ctx, s, job)
		if err != nil {
			return err
		}
		s, prev = next, nprev
	}
	return nil
}

// runNode runs s's node once for job (rc is its run context, prev the
// upstream job), between the observer's start and end of the node, and fills
// job with the outcome: a failure becomes a retry (RETRY_NEEDED) where the
// node's policy allows one.
func (p *proc) runNode(ctx context.Context, s *Step, rc *nodes.RunContext, prev, job *flow.Job) {
	rc.JobID = job.ID
	nctx, obs := p.startNode(ctx, s, rc, false)
	res, rerr := p.invoke(nctx, s, rc, prev, false)
	fill(job, res, rerr)
	p.retryOrFail(s, job, rerr)
	obs.end(nctx, job.Status, rerr)
}

// after decides what runs after step s saved job: the chosen branch, the next
// node of the line, or, at the end of a line, the branch parent's continuation
// (the condition semantics of the reference: a resolved branch continues after
// its parent, any other status propagates up). It exits the execution when
// nothing is left to run.
func (p *proc) after(ctx context.Context, s *Step, job *flow.Job) (*Step, *flow.Job, error) {
	if job.End {
		return nil, nil, p.exit(ctx, job.Status, "")
	}
	if job.Status == flow.JobPending {
		return nil, nil, p.exit(ctx, flow.JobPending, "")
	}
	if job.Status == flow.JobResolved {
		if job.Branch != nil {
			if head := s.branches[*job.Branch]; head != nil {
				return head, job, nil
			}
		}
		if s.next != nil {
			return s.next, job, nil
		}
	}
	for {
		parent := s.parent
		if parent == nil {
			return nil, nil, p.exit(ctx, job.Status, "")
		}
		if job.Status == flow.JobResolved {
			pj := p.jobs[parent.Node.Key]
			if parent.next != nil {
				return parent.next, pj, nil
			}
			s, job = parent, pj
			continue
		}
		s = parent
	}
}

// exit ends the run: a PENDING status leaves the execution STARTED and waiting;
// any other status ends it with the mapped execution status.
func (p *proc) exit(ctx context.Context, status flow.JobStatus, reason string) error {
	if p.done {
		return nil
	}
	p.done = true
	now := p.x.now()
	e := p.exec.Clone()
	if status != flow.JobPending {
		e.Status = status.ExecutionStatus()
		e.EndedAt = now
		if status == flow.JobAborted {
			e.Reason = reason
		}
	} else {
		// The run finished by pausing (or waiting out a retry backoff): the
		// claims of the next run count from zero toward Pool.MaxClaims.
		e.Attempt = 0
	}
	e.Dequeue()
	if status == flow.JobPending {
		// Arm the durable timer: the job waiting to run again, else the
		// earliest due pending job, capped by the execution's timeout.
		var at time.Time
		if p.waitJob != nil {
			e.ResumeJobID, at = p.waitJob.ID, p.waitAt
		} else {
			_, _, at = p.nextTimer()
		}
		if exp := e.ExpiresAt; !exp.IsZero() && (at.IsZero() || exp.Before(at)) {
			at = exp
		}
		at = ceilMilli(at)
		if !at.IsZero() || e.ResumeJobID != "" {
			e.Runnable, e.RunAfter = true, at
		}
	}
	e.UpdatedAt = now
	del := e.Status.Ended() && slices.Contains(p.plan.Workflow.Options.DeleteExecutionOnStatus, e.Status)
	if p.batch != nil && !p.insert && !del && status != flow.JobAborted {
		// Written with the rest of the batch, in the same transaction.
		p.batch.add(p.pending, e, storage.ExecutionExpect{Status: p.prevExec, LeaseOwner: p.x.cfg.Owner})
		p.exec = e
		return nil
	}
	err := p.step(ctx, func(ctx context.Context, tx storage.Store) error {
		if status == flow.JobAborted {
			if err := p.abortPending(ctx, tx, now); err != nil {
				return err
			}
		}
		if p.insert {
			// Inserted even when it is deleted at once: the insert counts the run
			// in the workflow's counters (and so freezes the version).
			if ej, ok := tx.(storage.ExecutionJobsInserter); ok && !del {
				// With its jobs, in one round trip where the store can.
				return ej.InsertExecutionJobs(ctx, e, p.pending...)
			}
			if err := tx.InsertExecution(ctx, e); err != nil {
				return err
			}
			if del {
				return tx.DeleteExecution(ctx, e.ID)
			}
			if len(p.pending) > 0 {
				return tx.InsertJobs(ctx, p.pending...)
			}
			return nil
		}
		if len(p.pending) > 0 {
			if err := tx.InsertJobs(ctx, p.pending...); err != nil {
				return err
			}
		}
		if err := tx.UpdateExecution(ctx, e, storage.ExecutionExpect{Status: p.prevExec, LeaseOwner: p.x.cfg.Owner}); err != nil {
			return err
		}
		if del {
			return tx.DeleteExecution(ctx, e.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.exec = e
	p.deleted = del
	return nil
}

// ceilMilli rounds t up to a whole millisecond. A store keeps times to the
// millisecond at least (storage.ExecutionStore) and claims a timer when the
// truncated time is due: a timer armed between two milliseconds would be
// claimed before its time, find nothing due (wake) and be armed again, at
// once, until the clock passed it; with a fake clock, for good.
func ceilMilli(t time.Time) time.Time {
	if r := t.Truncate(time.Millisecond); r.Before(t) {
		return r.Add(time.Millisecond)
	}
	return t
}

// release clears the lease of an execution that has nothing to run.
func (p *proc) release(ctx context.Context) error {
	e := p.exec.Clone()
	e.Dequeue()
	err := p.step(ctx, func(ctx context.Context, tx storage.Store) error {
		return tx.UpdateExecution(ctx, e, storage.ExecutionExpect{Status: p.exec.Status, LeaseOwner: p.x.cfg.Owner})
	})
	if err != nil {
		return err
	}
	p.exec = e
	p.done = true
	return nil
}

// abortPending marks the execution's PENDING jobs ABORTED.
func (p *proc) abortPending(ctx context.Context, tx storage.Store, now time.Time) error {
	for _, j := range p.pending { // jobs of this run, not written yet
		if j.Status == flow.JobPending {
			j.Status = flow.JobAborted
			if err := releaseJob(ctx, tx, p.plan, j, now); err != nil {
				return err
			}
		}
	}
	if p.insert {
		return nil
	}
	return AbortPendingJobs(ctx, tx, p.plan, p.exec.ID, now)
}

// AbortPendingJobs marks every PENDING job of an execution (and one waiting
// to run again, RETRY_NEEDED) ABORTED and lets
// each job's node release what it holds (nodes.Aborter: the manual node
// aborts its pending tasks), in the unit of work tx. plan is the
// execution's; without one (its workflow version is gone) the jobs are
// aborted and no node is told.
func AbortPendingJobs(ctx context.Context, tx storage.Store, plan *Plan, executionID string, now time.Time) error {
	jobs, err := tx.ListJobs(ctx, executionID)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if j.Status != flow.JobPending && j.Status != flow.JobRetryNeeded {
			continue
		}
		u := j.Clone()
		u.Status = flow.JobAborted
		u.UpdatedAt = now
		if err := tx.UpdateJob(ctx, u, j.Status); err != nil {
			if errors.Is(err, flow.ErrConflict) {
				continue // decided meanwhile: nothing left to release
			}
			return err
		}
		if j.Status == flow.JobRetryNeeded {
			continue // waiting to run again: its node holds nothing
		}
		if err := releaseJob(ctx, tx, plan, u, now); err != nil {
			return err
		}
	}
	return nil
}

// releaseJob calls the Abort of the aborted job's node, if it has one.
func releaseJob(ctx context.Context, tx storage.Store, plan *Plan, j *flow.Job, now time.Time) error {
	if plan == nil {
		return nil
	}
	s, ok := plan.Step(j.NodeKey)
	if !ok {
		return nil
	}
	ab, ok := s.Instruction.(nodes.Aborter)
	if !ok {
		return nil
	}
	return abortSafe(ctx, ab, s, &nodes.AbortContext{Node: s.Node, Compiled: s.Compiled, Job: j, Tasks: tx, Now: now})
}

// abortSafe calls a node's Abort. An error fails the aborting unit of work;
// a panic does not: the job is aborted all the same (an execution must stay
// cancelable), and the panic is logged with its stack.
func abortSafe(ctx context.Context, ab nodes.Aborter, s *Step, a *nodes.AbortContext) (err error) {
	defer func() {
		if v := recover(); v != nil {
			slog.Default().Error("actiontrigger: node panicked releasing its aborted job; the job is aborted all the same",
				"node", s.Node.Key, "type", s.Node.Type, "job", a.Job.ID, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			err = nil
		}
	}()
	if err := ab.Abort(ctx, a); err != nil {
		return fmt.Errorf("executor: node %q (%s): abort its paused job: %w", s.Node.Key, s.Node.Type, err)
	}
	return nil
}

func withFrame(ctx context.Context, e *flow.Execution) context.Context {
	return flow.WithStack(ctx, append(slices.Clip(e.Stack), flow.StackFrame{Key: e.Key, ExecutionID: e.ID}))
}

func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// NewID returns a new time-ordered unique id (UUIDv7).
func NewID() string { return newID() }
