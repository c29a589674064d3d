package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"time"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
	"github.com/actiontrigger/actiontrigger/storage"
)

// Fault containment: a node is code the host wrote (or ours), and a mistake in
// it must end its execution, never the worker or the host process.
//
//   - A panic in Run or Resume is recovered and becomes the node's error: an
//     ERROR job whose result holds the panic message; the stack goes to the log.
//   - A node with a timeout (flow.Node.Timeout, else Executor.NodeTimeout) runs
//     with that deadline on its context, on a goroutine of its own. If it has
//     not returned a grace period after the deadline, the executor stops
//     waiting: the job is ERROR, and whatever the run returns later is dropped
//     (logged, never written). Its store is cut off at that moment, so it can
//     no longer write into the unit of work the executor goes on with.
//   - A node that cannot pause (nodes.CanPause) and returns PENDING gets an
//     ERROR job instead of a pause nobody could resume.
//
// Without a timeout the node runs inline: the recover costs no allocation, so
// the sync path stays as cheap as before.

// DefaultNodeGrace is how long past its deadline a node that ignores its
// context is waited for, when Executor.NodeGrace is not set.
const DefaultNodeGrace = time.Second

// FaultError is the error a node's run ended with when the node panicked, ran
// past its timeout or returned PENDING without being able to pause. Its
// message, which names the node, is the job's result; errors.Is matches
// nodes.ErrPanic, nodes.ErrTimeout or nodes.ErrCannotPause.
type FaultError struct {
	// Node and Type name the node.
	Node, Type string
	// Kind is nodes.ErrPanic, nodes.ErrTimeout or nodes.ErrCannotPause.
	Kind error
	// Panic is the value the node panicked with (ErrPanic).
	Panic any
	// Timeout is the node's timeout (ErrTimeout).
	Timeout time.Duration
}

func (f *FaultError) Error() string {
	switch f.Kind {
	case nodes.ErrPanic:
		return fmt.Sprintf("node %q (type %q) panicked: %v", f.Node, f.Type, f.Panic)
	case nodes.ErrTimeout:
		return fmt.Sprintf("node %q (type %q) exceeded its timeout of %s", f.Node, f.Type, f.Timeout)
	case nodes.ErrCannotPause:
		return fmt.Sprintf("node %q (type %q) returned a PENDING result, but its type cannot pause (it implements neither nodes.Pauser nor nodes.Resumer); return nodes.Resolved(value) to go on", f.Node, f.Type)
	}
	return fmt.Sprintf("node %q (type %q): %v", f.Node, f.Type, f.Kind)
}

// Unwrap returns the kind of fault.
func (f *FaultError) Unwrap() error { return f.Kind }

// errAbandoned is what the store of an abandoned node run returns.
var errAbandoned = errors.New("executor: this node run was abandoned after its timeout; its writes are refused")

func (x *Executor) nodeGrace() time.Duration {
	if x.cfg.NodeGrace > 0 {
		return x.cfg.NodeGrace
	}
	return DefaultNodeGrace
}

func (x *Executor) logger() *slog.Logger {
	if x.cfg.Logger != nil {
		return x.cfg.Logger
	}
	return slog.Default()
}

// nodeTimeout is the timeout of s's run in this execution (0: none): the
// node's own or the executor's default, capped by what is left of the
// execution's timeout.
func (p *proc) nodeTimeout(s *Step) time.Duration {
	d := s.timeout
	if d <= 0 {
		d = p.x.cfg.NodeTimeout
	}
	if d <= 0 {
		return 0
	}
	if exp := p.exec.ExpiresAt; !exp.IsZero() {
		left := exp.Sub(p.x.now())
		if left < d {
			d = max(left, time.Millisecond)
		}
	}
	return d
}

// invoke runs s's instruction (Resume of job when resume is set, else Run with
// prev) with the node's faults contained: a panic, a timeout and a PENDING
// result from a node that cannot pause come back as a *FaultError.
func (p *proc) invoke(ctx context.Context, s *Step, rc *nodes.RunContext, arg *flow.Job, resume bool) (nodes.Result, error) {
	var (
		res nodes.Result
		err error
	)
	if d := p.nodeTimeout(s); d > 0 {
		res, err = p.invokeTimed(ctx, s, rc, arg, resume, d)
	} else {
		res, err = p.x.invokeSafe(ctx, s, rc, arg, resume)
	}
	if err == nil && res.Status == flow.JobPending && !s.canPause {
		return nodes.Result{}, &FaultError{Node: s.Node.Key, Type: s.Node.Type, Kind: nodes.ErrCannotPause}
	}
	return res, err
}

// invokeSafe calls the instruction and turns a panic into a *FaultError.
func (x *Executor) invokeSafe(ctx context.Context, s *Step, rc *nodes.RunContext, arg *flow.Job, resume bool) (res nodes.Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			res, err = nodes.Result{}, &FaultError{Node: s.Node.Key, Type: s.Node.Type, Kind: nodes.ErrPanic, Panic: v}
			x.logger().Error("actiontrigger: node panicked; its job is ERROR", "execution", rc.Execution.ID,
				"workflow", rc.Workflow.Key, "node", s.Node.Key, "type", s.Node.Type, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	if resume {
		return s.Instruction.(nodes.Resumer).Resume(ctx, rc, arg)
	}
	return s.Instruction.Run(ctx, rc, arg)
}

// invokeTimed runs the instruction on its own goroutine with deadline d and
// waits for it at most d plus the grace period.
func (p *proc) invokeTimed(ctx context.Context, s *Step, rc *nodes.RunContext, arg *flow.Job, resume bool, d time.Duration) (nodes.Result, error) {
	nctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	// The run may outlive this call: it gets its own run context, scope and
	// message sink, and a store that is cut off once it is abandoned, so
	// nothing it touches later is shared with the rest of the execution.
	unit, _ := rc.Tasks.(storage.Store)
	g := &guardStore{gs: &guardState{}, s: unit}
	own := *rc
	own.Tasks = g
	own.Records = guardRecords{gs: g.gs, r: rc.Records}
	own.Scope = maps.Clone(p.scope)
	own.Scope["$jobsMapByNodeKey"] = maps.Clone(p.jobsMap)
	var msgs []nodes.Message
	own.SetMessageSink(&msgs)
	if tx, ok := storage.TxFrom(nctx); ok {
		nctx = storage.WithTx(nctx, &guardStore{gs: g.gs, s: tx})
	}
	type ret struct {
		res nodes.Result
		err error
	}
	done := make(chan ret, 1)
	go func() {
		res, err := p.x.invokeSafe(nctx, s, &own, arg, resume)
		done <- ret{res, err}
	}()
	wait := time.NewTimer(d + p.x.nodeGrace())
	defer wait.Stop()
	fault := &FaultError{Node: s.Node.Key, Type: s.Node.Type, Kind: nodes.ErrTimeout, Timeout: d}
	select {
	case r := <-done:
		if errors.Is(nctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			// Returned, but past its deadline: too late, whatever it says.
			g.gs.abandon()
			return nodes.Result{}, fault
		}
		for _, m := range msgs {
			rc.AddMessage(m)
		}
		return r.res, r.err
	case <-wait.C:
	}
	g.gs.abandon()
	log := p.x.logger()
	log.Error("actiontrigger: node ignored its deadline; the run is abandoned and its job is ERROR", "execution", rc.Execution.ID,
		"workflow", rc.Workflow.Key, "node", s.Node.Key, "type", s.Node.Type, "timeout", d)
	go func() {
		r := <-done
		log.Warn("actiontrigger: abandoned node run returned; its result is dropped", "execution", own.Execution.ID,
			"node", s.Node.Key, "type", s.Node.Type, "status", r.res.Status, "err", r.err)
	}()
	return nodes.Result{}, fault
}
