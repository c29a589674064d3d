package testkit

import (
	"context"
	"errors"
	"maps"
	"sync"
	"time"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
)

// Outcome is what one run of a stubbed node does. Build it with Return,
// Fail, Result or Do.
type Outcome struct {
	run func(ctx context.Context, r *nodes.RunContext, prev *flow.Job) (nodes.Result, error)
}

// Return resolves the node with v as its job's result
// ($jobsMapByNodeKey.<key>): the execution goes on.
func Return(v any) Outcome {
	return Result(nodes.Resolved(v))
}

// Fail makes the run return err, as a node whose call failed does: an ERROR
// job, which the node's retry policy runs again (unless err is
// nodes.Permanent), else the execution ends ERROR. Fail(nodes.Snooze(d))
// asks to run again after d. For a node that decides the run must stop (a
// FAILED or REJECTED job, not a fault), use Result(nodes.Failed(v)).
func Fail(err error) Outcome {
	if err == nil {
		err = errNilFail
	}
	return Outcome{run: func(context.Context, *nodes.RunContext, *flow.Job) (nodes.Result, error) {
		return nodes.Result{}, err
	}}
}

var errNilFail = errors.New("testkit: Fail was given a nil error")

// Result returns res as the run's outcome: nodes.Failed(v), nodes.Rejected(v),
// nodes.Resolved(v).OnBranch(1), nodes.WithStatus(s, v), ...
func Result(res nodes.Result) Outcome {
	return Outcome{run: func(context.Context, *nodes.RunContext, *flow.Job) (nodes.Result, error) {
		return res, nil
	}}
}

// Do runs fn as the node's Run, for an outcome that depends on the run (its
// data, its attempt). The call is recorded before fn runs.
func Do(fn func(ctx context.Context, r *nodes.RunContext, prev *flow.Job) (nodes.Result, error)) Outcome {
	return Outcome{run: fn}
}

// Call is one run of a stubbed node, as the stub saw it.
type Call struct {
	// ExecutionID and NodeKey name the execution and the node that ran.
	ExecutionID string
	NodeKey     string
	// Attempt is the run's attempt (nodes.RunContext.Attempt): 1, then 2 for
	// its first retry.
	Attempt int
	// IdempotencyKey is nodes.RunContext.IdempotencyKey: the same for every
	// attempt of the node in the execution.
	IdempotencyKey string
	// Config is the node's config, as saved.
	Config map[string]any
	// Prev is the job that ran before the node on its path (nil for the
	// first node).
	Prev *flow.Job
	// Now is the engine's clock reading when the run started.
	Now time.Time
}

// stub is the instruction Stub installs. It keeps what the replaced
// registration (base, nil for a type that was not registered) says about
// the node at save time (Compile, branches, CanPause, Atomic), so a
// workflow saves, and its runs commit, as they do in production; only Run
// is replaced.
type stub struct {
	base     nodes.Instruction
	outcomes []Outcome

	mu    sync.Mutex
	calls []Call
}

func (s *stub) Compile(c *nodes.CompileContext, n *flow.Node) (any, error) {
	if s.base != nil {
		return s.base.Compile(c, n)
	}
	return nil, nil
}

func (s *stub) Run(ctx context.Context, r *nodes.RunContext, prev *flow.Job) (nodes.Result, error) {
	c := Call{Attempt: r.Attempt(), IdempotencyKey: r.IdempotencyKey(), Now: r.Now}
	if r.Execution != nil {
		c.ExecutionID = r.Execution.ID
	}
	if r.Node != nil {
		c.NodeKey, c.Config = r.Node.Key, maps.Clone(r.Node.Config)
	}
	if prev != nil {
		c.Prev = prev.Clone()
	}
	s.mu.Lock()
	s.calls = append(s.calls, c)
	n := len(s.calls)
	s.mu.Unlock()
	if len(s.outcomes) == 0 {
		return nodes.Resolved(nil), nil
	}
	o := s.outcomes[min(n, len(s.outcomes))-1]
	if o.run == nil { // the zero Outcome
		return nodes.Resolved(nil), nil
	}
	return o.run(ctx, r, prev)
}

// BranchIndexes are the replaced type's (none for an added type).
func (s *stub) BranchIndexes() []int {
	if b, ok := s.base.(nodes.Brancher); ok {
		return b.BranchIndexes()
	}
	return nil
}

// CanPause is the replaced type's (false for an added type), so that a
// sync workflow is refused or saved as in production.
func (s *stub) CanPause(n *flow.Node) bool {
	return s.base != nil && nodes.CanPause(s.base, n)
}

// Atomic is the replaced type's (false for an added type, as for a node
// that calls a service).
func (s *stub) Atomic() bool {
	a, ok := s.base.(nodes.Atomic)
	return ok && a.Atomic()
}

func (s *stub) recorded() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	copy(out, s.calls)
	return out
}
