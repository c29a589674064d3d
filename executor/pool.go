package executor

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

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
	Logger *slog.Logger
	Now    func() time.Time

	wake     chan struct{}
	work     chan *flow.Execution
	inflight atomic.Int64
	mu       sync.Mutex
	held     map[string]struct{}
	waiters  []waiter
	regSeq   uint64
	cancel   context.CancelFunc
	runStop  context.CancelFunc
	fetchWG  sync.WaitGroup
	workWG   sync.WaitGroup
	started  bool
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
}

// Start launches the fetcher, the heartbeat and the workers.
func (p *Pool) Start(ctx context.Context) {
	p.defaults()
	p.wake = make(chan struct{}, 1)
	p.work = make(chan *flow.Execution, p.Window)
	p.held = map[string]struct{}{}
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

// Stop stops claiming, lets the workers finish everything already claimed, and
// returns when they are done. If ctx ends first, running executions are canceled:
// their work since the last commit is rolled back and, on a durable store, they
// are reclaimed when their lease expires.
func (p *Pool) Stop(ctx context.Context) error {
	if !p.started {
		return nil
	}
	p.started = false
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
	p.mu.Unlock()
	return err
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
		p.Handle(ctx, e)
		p.mu.Lock()
		delete(p.held, e.ID)
		p.mu.Unlock()
		p.inflight.Add(-1)
		p.Notify()
	}
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
			now := p.now()
			claimed, err := p.Store.ClaimExecutions(ctx, storage.ClaimParams{Owner: p.Owner, Limit: free, Now: now, LeaseUntil: now.Add(p.Lease)})
			if err != nil && ctx.Err() == nil {
				p.Logger.Error("actiontrigger: claim executions", "err", err)
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
