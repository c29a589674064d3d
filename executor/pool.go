package executor

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/observe"
	"github.com/actiontrigger/actiontrigger/storage"
)

// DefaultMaxClaims is Pool.MaxClaims when it is not set.
const DefaultMaxClaims = 5

// releaseTimeout bounds the release of unrun claims when a pool stops.
const releaseTimeout = 10 * time.Second

// Pool claims runnable executions from the store under a lease and runs them on a
// bounded set of workers. It wakes on Notify (in-process enqueues) and polls as a
// fallback (executions enqueued by other processes, expired leases).
type Pool struct {
	Store storage.Store
	// Owner names this pool's leases; unique per process.
	Owner string
	// Workers run executions in parallel (default 4).
	Workers int
	// Window is the most executions claimed and not yet finished, including those
	// waiting for a worker (default 8 per worker). Larger windows claim in bigger
	// batches.
	Window int
	// Lease is how long a claim holds (default 30s); a heartbeat extends the
	// leases of claimed executions every Lease/3.
	Lease time.Duration
	// PollInterval is the fallback claim cadence (default 1s).
	PollInterval time.Duration
	// Handle runs one claimed execution.
	Handle func(ctx context.Context, e *flow.Execution)
	// Executor, if set, gives the plans of quarantined executions, so that
	// the nodes of their paused jobs release what they hold.
	Executor *Executor
	// MaxClaims is how many claims an execution may take without its run
	// finishing (the store counts them in Execution.Attempt; a run that ends or
	// pauses starts the count again). A claim beyond it quarantines the
	// execution instead of running it: it ends ERROR with a reason starting
	// with flow.ReasonQuarantined, its pending jobs are aborted, and it is
	// never claimed again. Default DefaultMaxClaims.
	MaxClaims int
	// Observer, if set, is told of every claim (its latency and count) and
	// of every execution quarantined.
	Observer observe.Observer
	Logger   *slog.Logger
	Now      func() time.Time

	wake     chan struct{}
	work     chan *flow.Execution
	inflight atomic.Int64
	mu       sync.Mutex
	held     map[string]struct{}
	waiters  []waiter
	regSeq   uint64
	cancel   context.CancelFunc
	runStop  context.CancelFunc
	stopping atomic.Bool
	unrun    []string // claimed, not run because the pool stops (guarded by mu)
	fetchWG  sync.WaitGroup
	workWG   sync.WaitGroup
	started  bool
	// alarm wakes the fetcher at alarmAt, the earliest timer NotifyAt was
	// told of; alarms holds every later one, armed in turn when the alarm
	// fires (guarded by mu).
	alarm   *time.Timer
	alarmAt time.Time
	alarms  timeHeap
}

// timeHeap is a min-heap of times (container/heap).
type timeHeap []time.Time

func (h timeHeap) Len() int           { return len(h) }
func (h timeHeap) Less(i, j int) bool { return h[i].Before(h[j]) }
func (h timeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timeHeap) Push(x any)        { *h = append(*h, x.(time.Time)) }
func (h *timeHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// waiter is a WaitIdle call: it is released by the first empty claim that
// started after it registered (seq).
type waiter struct {
	ch  chan struct{}
	seq uint64
}

func (p *Pool) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Pool) defaults() {
	if p.Workers <= 0 {
		p.Workers = 4
	}
	if p.Window <= 0 {
		p.Window = p.Workers * 8
	}
	if p.Window < p.Workers {
		p.Window = p.Workers
	}
	if p.Lease <= 0 {
		p.Lease = 30 * time.Second
	}
	if p.PollInterval <= 0 {
		p.PollInterval = time.Second
	}
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	if p.MaxClaims <= 0 {
		p.MaxClaims = DefaultMaxClaims
	}
}

// Start launches the fetcher, the heartbeat and the workers.
func (p *Pool) Start(ctx context.Context) {
	p.defaults()
	p.wake = make(chan struct{}, 1)
	p.work = make(chan *flow.Execution, p.Window)
	p.held = map[string]struct{}{}
	p.unrun = nil
	p.stopping.Store(false)
	base := context.WithoutCancel(ctx)
	var runCtx context.Context
	runCtx, p.runStop = context.WithCancel(base)
	ctx, p.cancel = context.WithCancel(base)
	p.started = true
	for i := 0; i < p.Workers; i++ {
		p.workWG.Add(1)
		go p.worker(runCtx)
	}
	p.fetchWG.Add(2)
	go p.fetcher(ctx)
	go p.heartbeat(ctx)
}

// NotifyAt wakes the fetcher at t: an execution becomes claimable then (its
// RunAfter). It is a hint for timers this process armed, which then fire on
// time, each of them (an earlier timer armed later does not drop this one);
// the fallback poll finds every due execution anyway, up to PollInterval
// late.
func (p *Pool) NotifyAt(t time.Time) {
	d := t.Sub(p.now())
	if d <= 0 {
		p.Notify()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.alarm != nil && !p.alarmAt.After(t) {
		heap.Push(&p.alarms, t) // armed when the earlier alarm fires
		return
	}
	if p.alarm != nil {
		p.alarm.Stop()
		heap.Push(&p.alarms, p.alarmAt)
	}
	p.armLocked(t, d)
}

// armLocked sets the alarm to fire after d, for the timer at t.
func (p *Pool) armLocked(t time.Time, d time.Duration) {
	p.alarmAt = t
	var timer *time.Timer
	timer = time.AfterFunc(d, func() {
		p.mu.Lock()
		if p.alarm != timer {
			p.mu.Unlock()
			return // stopped, or replaced by an earlier alarm
		}
		// The timers up to this one (or up to now) are due: this wake-up
		// claims them all. Arm the next.
		p.alarm, p.alarmAt = nil, time.Time{}
		now := p.now()
		due := t
		if now.After(due) {
			due = now
		}
		for p.alarms.Len() > 0 && !p.alarms[0].After(due) {
			heap.Pop(&p.alarms)
		}
		if p.alarms.Len() > 0 {
			next := heap.Pop(&p.alarms).(time.Time)
			p.armLocked(next, next.Sub(now))
		}
		p.mu.Unlock()
		p.Notify()
	})
	p.alarm = timer
}

// ErrRunaway is returned by RunDue when executions keep becoming due again
// faster than they finish (more runs than its bound).
var ErrRunaway = errors.New("executor: executions keep becoming due; stopped")

// RunDue claims and runs, one after the other on the calling goroutine,
// every execution due at p.Now (runnable, RunAfter passed), until a claim
// returns none, and returns how many it ran. It quarantines as the workers
// do, and needs no Start: it drives the queue by hand (tests with a fake
// clock, a host's own scheduler). maxRuns bounds the runs (0: 10,000);
// past it RunDue stops with ErrRunaway.
func (p *Pool) RunDue(ctx context.Context, maxRuns int) (int, error) {
	p.defaults()
	if maxRuns <= 0 {
		maxRuns = 10000
	}
	n := 0
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		claimed, err := p.claim(ctx, ctx, 16)
		if err != nil {
			return n, fmt.Errorf("executor: claim executions: %w", err)
		}
		if len(claimed) == 0 {
			return n, nil
		}
		for _, e := range claimed {
			if e.Attempt > p.MaxClaims {
				p.quarantine(ctx, e)
				continue
			}
			p.handle(ctx, e) // a panic that escapes a run is contained as on the workers
			n++
		}
		if n >= maxRuns {
			return n, fmt.Errorf("%w after %d runs", ErrRunaway, n)
		}
	}
}

// Notify wakes the fetcher: new work may be claimable.
func (p *Pool) Notify() {
	if p.wake == nil {
		return
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Stop stops claiming, lets the workers finish the executions they are
// running, and returns when they are done. Executions claimed but not started
// yet are given back (storage.Queue.ReleaseLeases), so another process can
// claim them at once instead of after their lease. If ctx ends first, running
// executions are canceled: their work since the last commit is rolled back,
// and they are given back too, to be resumed after their last committed job by
// whichever process claims them.
func (p *Pool) Stop(ctx context.Context) error {
	if !p.started {
		return nil
	}
	p.started = false
	p.mu.Lock()
	if p.alarm != nil {
		p.alarm.Stop()
		p.alarm, p.alarmAt = nil, time.Time{}
	}
	p.alarms = nil
	p.mu.Unlock()
	p.stopping.Store(true)
	p.cancel()
	p.fetchWG.Wait()
	close(p.work)
	done := make(chan struct{})
	go func() { p.workWG.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		p.runStop() // cancel running executions; their leases expire and they are reclaimed
		<-done
	}
	p.runStop()
	p.mu.Lock()
	for _, w := range p.waiters {
		close(w.ch)
	}
	p.waiters = nil
	unrun := p.unrun
	p.unrun = nil
	p.mu.Unlock()
	p.release(ctx, unrun)
	return err
}

// release gives back claims that were not run.
func (p *Pool) release(ctx context.Context, ids []string) {
	if len(ids) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := p.Store.ReleaseLeases(rctx, p.Owner, ids); err != nil {
		p.Logger.Error("actiontrigger: release unrun executions; they are claimable when their lease expires", "executions", len(ids), "err", err)
		return
	}
	p.Logger.Debug("actiontrigger: released unrun executions", "executions", len(ids))
}

// WaitIdle returns once the pool found nothing left to claim and nothing running,
// after the call began.
func (p *Pool) WaitIdle(ctx context.Context) error {
	if !p.started {
		return errors.New("executor: pool not started")
	}
	ch := make(chan struct{})
	p.mu.Lock()
	p.regSeq++
	p.waiters = append(p.waiters, waiter{ch: ch, seq: p.regSeq})
	p.mu.Unlock()
	p.Notify()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Pool) worker(ctx context.Context) {
	defer p.workWG.Done()
	for e := range p.work {
		if p.stopping.Load() {
			p.mu.Lock()
			p.unrun = append(p.unrun, e.ID)
			delete(p.held, e.ID)
			p.mu.Unlock()
			p.inflight.Add(-1)
			continue
		}
		p.handle(ctx, e)
		p.mu.Lock()
		delete(p.held, e.ID)
		if ctx.Err() != nil {
			// Stop canceled the run: this process no longer runs it, so give
			// it back (a no-op if it finished: its lease is already clear).
			p.unrun = append(p.unrun, e.ID)
		}
		p.mu.Unlock()
		p.inflight.Add(-1)
		p.Notify()
	}
}

// handle runs Handle; a panic that escapes it (nodes' panics are contained
// earlier, see fault.go) is logged, and the worker goes on. The execution keeps
// its lease until it expires, and MaxClaims bounds how often that repeats.
func (p *Pool) handle(ctx context.Context, e *flow.Execution) {
	defer func() {
		if v := recover(); v != nil {
			p.Logger.Error("actiontrigger: run of an execution panicked", "execution", e.ID, "workflow", e.Key,
				"attempt", e.Attempt, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	p.Handle(ctx, e)
}

// claim claims up to limit executions with cctx, and tells the observer
// (with ctx).
func (p *Pool) claim(ctx, cctx context.Context, limit int) ([]*flow.Execution, error) {
	now := p.now()
	params := storage.ClaimParams{Owner: p.Owner, Limit: limit, Now: now, LeaseUntil: now.Add(p.Lease)}
	if p.Observer == nil {
		return p.Store.ClaimExecutions(cctx, params)
	}
	t0 := time.Now()
	claimed, err := p.Store.ClaimExecutions(cctx, params)
	p.Observer.Claim(ctx, observe.Claim{Limit: limit, Count: len(claimed), Latency: time.Since(t0), Err: err})
	return claimed, err
}

// quarantine ends an execution claimed more than MaxClaims times as ERROR
// instead of running it again.
func (p *Pool) quarantine(ctx context.Context, e *flow.Execution) {
	now := p.now()
	reason := fmt.Sprintf("%s: claimed %d times without finishing a run (MaxClaims %d)", flow.ReasonQuarantined, e.Attempt, p.MaxClaims)
	var plan *Plan
	if p.Executor != nil {
		plan, _ = p.Executor.Plan(ctx, e.WorkflowID) // loaded before the unit of work
	}
	var quarantined *flow.Execution
	err := p.Store.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
		u := e.Clone()
		quarantined = u
		u.Status = flow.ExecutionError
		u.Reason = reason
		u.Dequeue()
		u.EndedAt, u.UpdatedAt = now, now
		if err := AbortPendingJobs(ctx, tx, plan, e.ID, now); err != nil {
			return err
		}
		return tx.UpdateExecution(ctx, u, storage.ExecutionExpect{Status: e.Status, LeaseOwner: p.Owner})
	})
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, flow.ErrConflict) && !errors.Is(err, flow.ErrLeaseLost) {
			p.Logger.Error("actiontrigger: quarantine execution", "execution", e.ID, "err", err)
		}
		return
	}
	p.Logger.Error("actiontrigger: execution quarantined: its runs never finish; it is ended ERROR and not claimed again",
		"execution", e.ID, "workflow", e.Key, "attempt", e.Attempt, "maxClaims", p.MaxClaims)
	observeEnded(ctx, p.Observer, quarantined)
}

func (p *Pool) fetcher(ctx context.Context) {
	defer p.fetchWG.Done()
	t := time.NewTicker(p.PollInterval)
	defer t.Stop()
	for {
		inflight := int(p.inflight.Load())
		free := p.Window - inflight
		more := false
		// Claim in batches: when a quarter of the window is free, or when the
		// workers are about to run dry. A claim per finished execution would make
		// the single fetcher the bottleneck on a SQL store.
		if free > 0 && (free >= max(1, p.Window/4) || inflight < p.Workers) {
			p.mu.Lock()
			startSeq := p.regSeq // waiters registered before this claim began
			p.mu.Unlock()
			// A claim is not canceled halfway by Stop (a SQL claim whose
			// statement ran but whose rows were not read would leave
			// executions leased to nobody); what it returns after Stop is
			// given back at once.
			claimed, err := p.claim(ctx, context.WithoutCancel(ctx), free)
			if err != nil && ctx.Err() == nil {
				p.Logger.Error("actiontrigger: claim executions", "err", err)
			}
			if ctx.Err() != nil {
				ids := make([]string, len(claimed))
				for i, e := range claimed {
					ids[i] = e.ID
				}
				p.release(ctx, ids)
				return
			}
			if n := len(claimed); n > 0 {
				kept := claimed[:0]
				for _, e := range claimed {
					if e.Attempt > p.MaxClaims {
						p.quarantine(ctx, e)
						continue
					}
					kept = append(kept, e)
				}
				claimed = kept
				if len(claimed) == 0 {
					// All quarantined: claim again at once.
					select {
					case <-ctx.Done():
						return
					default:
						continue
					}
				}
			}
			if len(claimed) > 0 {
				p.inflight.Add(int64(len(claimed)))
				p.mu.Lock()
				for _, e := range claimed {
					p.held[e.ID] = struct{}{}
				}
				p.mu.Unlock()
				for _, e := range claimed {
					p.work <- e
				}
				more = len(claimed) == free
			} else if err == nil && p.inflight.Load() == 0 {
				p.mu.Lock()
				kept := p.waiters[:0]
				for _, w := range p.waiters {
					if w.seq <= startSeq {
						close(w.ch)
					} else {
						kept = append(kept, w)
						more = true // claim again for the waiters that came later
					}
				}
				p.waiters = kept
				p.mu.Unlock()
			}
		}
		if more {
			select {
			case <-ctx.Done():
				return
			default:
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-t.C:
		}
	}
}

func (p *Pool) heartbeat(ctx context.Context) {
	defer p.fetchWG.Done()
	t := time.NewTicker(p.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		ids := make([]string, 0, len(p.held))
		for id := range p.held {
			ids = append(ids, id)
		}
		p.mu.Unlock()
		if len(ids) == 0 {
			continue
		}
		lost, err := p.Store.ExtendLeases(ctx, p.Owner, ids, p.now().Add(p.Lease))
		if err != nil && ctx.Err() == nil {
			p.Logger.Error("actiontrigger: extend leases", "err", err)
		}
		if len(lost) > 0 {
			p.Logger.Warn("actiontrigger: leases lost", "executions", lost)
		}
	}
}
