package executor

import (
	"context"
	"time"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
	"github.com/actiontrigger/actiontrigger/observe"
)

// Reports to Config.Observer (package observe). Without an observer each
// hook below costs a nil check: RunNew and Process call the unobserved run
// directly, and a node's nodeObs is a zero value whose end returns at once.
// Durations use the monotonic clock, never Config.Now (a fake clock in
// tests would make them meaningless).

// observeRun runs one run of e between the observer's RunStart and RunEnd,
// and reports the execution's end when the run ended it.
func (x *Executor) observeRun(ctx context.Context, kind observe.RunKind, e *flow.Execution, run func(ctx context.Context) (*Outcome, error)) (*Outcome, error) {
	obs := x.cfg.Observer
	ev := observe.Run{Execution: e, Kind: kind}
	wasEnded := e.Status.Ended() // a stale claim of an ended execution only releases it
	ctx = obs.RunStart(ctx, ev)
	t0 := time.Now()
	out, err := run(ctx)
	end := observe.RunEnd{Run: ev, Err: err, Duration: time.Since(t0)}
	if err == nil && out != nil {
		end.Outcome = out.Execution
		if !wasEnded && out.Execution.Status.Ended() {
			obs.ExecutionEnd(ctx, observe.ExecutionEnd{Execution: out.Execution})
		}
	}
	obs.RunEnd(ctx, end)
	return out, err
}

// nodeObs is one node run as the observer sees it; the zero value (no
// observer) reports nothing.
type nodeObs struct {
	obs observe.Observer
	ev  observe.Node
	t0  time.Time
}

// startNode reports the start of s's run (rc.Attempt numbers it) and returns
// the context the node runs with.
func (p *proc) startNode(ctx context.Context, s *Step, rc *nodes.RunContext, resume bool) (context.Context, nodeObs) {
	obs := p.x.cfg.Observer
	if obs == nil {
		return ctx, nodeObs{}
	}
	n := nodeObs{obs: obs, ev: observe.Node{Execution: p.exec, Key: s.Node.Key, Type: s.Node.Type, Attempt: rc.Attempt(), Resume: resume}}
	ctx = obs.NodeStart(ctx, n.ev)
	n.t0 = time.Now()
	return ctx, n
}

// end reports the end of the node's run: its job's status, and the error it
// returned.
func (n *nodeObs) end(ctx context.Context, status flow.JobStatus, err error) {
	if n.obs == nil {
		return
	}
	n.obs.NodeEnd(ctx, observe.NodeEnd{Node: n.ev, Status: status, Err: err, Duration: time.Since(n.t0)})
}

// observeEnded reports an execution ended outside a run (quarantined).
func observeEnded(ctx context.Context, obs observe.Observer, e *flow.Execution) {
	if obs != nil {
		obs.ExecutionEnd(ctx, observe.ExecutionEnd{Execution: e})
	}
}
