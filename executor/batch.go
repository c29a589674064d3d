package executor

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// Batching (group commit) of atomic runs.
//
// Every claimed execution whose plan is atomic is one unit of work: its jobs,
// the nodes' side effects and its new state commit together. Committing each
// alone costs a transaction per execution (BEGIN, COMMIT and, on PostgreSQL, a
// WAL flush), which bounds the throughput of a SQL store. So concurrent
// Process calls of atomic executions are gathered: a leader (one of the calling
// workers) opens one transaction, runs the waiting executions one after another
// in it and commits once; every caller gets its own outcome after that commit.
//
// Each execution of a batch still commits together with its own side effects,
// and a crash before the commit loses the whole batch, so every execution of it
// runs again from where it was, as a lone one would. A run that fails (a lost
// lease, a conflict, a storage error, a canceled context) rolls the batch back
// and every execution of it runs again alone, in a transaction of its own, so
// one bad execution never fails the others. A node's failing write that the
// node turns into its job's result (a duplicate key) does not fail the run:
// the store undoes that write alone (the contract of storage.Store.InTx).

const (
	// DefaultBatchSize is the most executions one batch commits.
	DefaultBatchSize = 64
	// DefaultBatches is how many batches may run at once.
	DefaultBatches = 2
)

// errAlone tells a batched caller to run its execution on its own.
var errAlone = errors.New("executor: run alone")

// batchReq is one Process call waiting in the batcher. The fields below ctx,
// plan and e are guarded by the batcher's mutex.
type batchReq struct {
	ctx  context.Context
	plan *Plan
	e    *flow.Execution

	out  *Outcome
	err  error
	done bool // out and err are set
	// lead asks the caller to lead; leading is set while it leads (or is
	// asked to), so the lead is never handed to it twice.
	lead, leading bool
	wake          chan struct{}
}

// batcher gathers concurrent atomic runs into shared transactions.
type batcher struct {
	mu      sync.Mutex
	queue   []*batchReq
	leaders int
}

func (r *batchReq) signal() {
	select {
	case r.wake <- struct{}{}:
	default: // a wake is pending already; the state is read under the mutex
	}
}

func (x *Executor) batchSize() int {
	if x.cfg.BatchSize == 0 {
		return DefaultBatchSize
	}
	return x.cfg.BatchSize
}

func (x *Executor) batches() int {
	if x.cfg.Batches <= 0 {
		return DefaultBatches
	}
	return x.cfg.Batches
}

// processBatched runs an atomic execution in a shared transaction. It returns
// errAlone when the execution must run in a transaction of its own.
func (x *Executor) processBatched(ctx context.Context, plan *Plan, e *flow.Execution) (*Outcome, error) {
	r := &batchReq{ctx: ctx, plan: plan, e: e, wake: make(chan struct{}, 1)}
	b := &x.batch
	b.mu.Lock()
	b.queue = append(b.queue, r)
	if b.leaders < x.batches() {
		b.leaders++
		r.lead, r.leading = true, true
	}
	b.mu.Unlock()
	for {
		b.mu.Lock()
		lead := r.lead
		r.lead = false
		done := r.done
		b.mu.Unlock()
		switch {
		case lead:
			x.lead(r)
		case done:
			return r.out, r.err
		default:
			<-r.wake
		}
	}
}

// lead runs batches until me has run (or is running in another leader's
// batch), then hands the lead to a waiting caller if work is left, or gives
// it up.
func (x *Executor) lead(me *batchReq) {
	b := &x.batch
	size := x.batchSize()
	for {
		b.mu.Lock()
		if me.done || len(b.queue) == 0 {
			me.leading = false
			var next *batchReq
			for _, r := range b.queue {
				if !r.leading {
					next = r
					break
				}
			}
			if next != nil {
				next.lead, next.leading = true, true
			} else {
				b.leaders--
			}
			b.mu.Unlock()
			if next != nil {
				next.signal()
			}
			return
		}
		n := min(size, len(b.queue))
		batch := make([]*batchReq, n)
		copy(batch, b.queue)
		b.queue = append(b.queue[:0], b.queue[n:]...)
		b.mu.Unlock()

		outs, errs := x.runBatch(batch)

		b.mu.Lock()
		for i, r := range batch {
			r.out, r.err, r.done = outs[i], errs[i], true
		}
		b.mu.Unlock()
		for _, r := range batch {
			if r != me {
				r.signal()
			}
		}
	}
}

// runBatch runs the batch's executions in one transaction and returns each
// one's outcome, or errAlone for all of them when the transaction failed.
func (x *Executor) runBatch(batch []*batchReq) ([]*Outcome, []error) {
	outs := make([]*Outcome, len(batch))
	errs := make([]error, len(batch))
	if len(batch) == 1 {
		r := batch[0]
		outs[0], errs[0] = x.processAtomic(r.ctx, r.plan, r.e)
		return outs, errs
	}
	// The transaction outlives any one execution's context: an execution
	// canceled while the batch runs fails its own statements, which rolls the
	// batch back, and then runs alone with its own context. All or nothing:
	// any failed write fails the batch, so the store needs no savepoints.
	tctx := storage.WithAllOrNothing(context.WithoutCancel(batch[0].ctx))
	ran := make([]bool, len(batch))
	err := x.cfg.Store.InTx(tctx, func(ctx context.Context, tx storage.Store) (err error) {
		defer func() {
			// A node that panics rolls the batch back; it panics again when
			// its execution runs alone, on its own worker.
			if p := recover(); p != nil {
				err = fmt.Errorf("executor: a run of the batch panicked: %v", p)
			}
		}()
		var w batchWrites
		for i, r := range batch {
			if r.ctx.Err() != nil {
				continue // canceled: it fails on its own
			}
			rctx := storage.WithTx(withFrame(r.ctx, r.e), tx)
			p := x.newProc(r.plan, r.e.Clone())
			p.tx, p.batch = tx, &w
			n := len(w.execs)
			if err := p.process(rctx); err != nil {
				return err
			}
			if len(w.execs) > n {
				w.prevs = append(w.prevs, r.e) // as claimed
			}
			outs[i], ran[i] = p.outcome(), true
		}
		return w.write(ctx, tx)
	})
	for i := range batch {
		if err != nil || !ran[i] {
			outs[i], errs[i] = nil, errAlone
		}
	}
	return outs, errs
}

// batchWrites are the final writes of the runs of a batch: their jobs and
// their executions' new states (prevs: each execution as claimed).
type batchWrites struct {
	jobs    []*flow.Job
	execs   []*flow.Execution
	expects []storage.ExecutionExpect
	prevs   []*flow.Execution
}

func (w *batchWrites) add(jobs []*flow.Job, e *flow.Execution, expect storage.ExecutionExpect) {
	w.jobs = append(w.jobs, jobs...)
	w.execs = append(w.execs, e)
	w.expects = append(w.expects, expect)
}

// write stores the jobs in one statement, then the executions: at once when
// the store can (storage.BatchUpdater: one statement on PostgreSQL, without
// the unchanged contexts), else one by one. Any execution that is not
// written (a lost lease, a conflict) fails the batch, as it did one by one.
func (w *batchWrites) write(ctx context.Context, tx storage.Store) error {
	if len(w.jobs) > 0 {
		if err := tx.InsertJobs(ctx, w.jobs...); err != nil {
			return err
		}
	}
	if bu, ok := tx.(storage.BatchUpdater); ok && len(w.execs) > 1 && len(w.prevs) == len(w.execs) {
		us := make([]storage.ExecutionUpdate, len(w.execs))
		for i, e := range w.execs {
			us[i] = storage.ExecutionUpdate{Execution: e, Expect: w.expects[i], Prev: w.prevs[i]}
		}
		errs, err := bu.UpdateExecutions(ctx, us)
		if err != nil {
			return err
		}
		return errors.Join(errs...)
	}
	for i, e := range w.execs {
		if err := tx.UpdateExecution(ctx, e, w.expects[i]); err != nil {
			return err
		}
	}
	return nil
}
