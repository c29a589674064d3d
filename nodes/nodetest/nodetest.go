// Package nodetest holds test-only node types, like the reference system's test
// kit: echo, echoVariable, error, prompt, prompt->error, pending and custom
// statuses. Register them with Register on the registry of an engine under test.
package nodetest

import (
	"context"
	"errors"

	"github.com/actiontrigger/actiontrigger/expression"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
)

// Register adds every test node to r under its reference name.
func Register(r *nodes.Registry) {
	r.MustRegister("echo", Echo{})
	r.MustRegister("echoVariable", EchoVariable{})
	r.MustRegister("error", Error{})
	r.MustRegister("prompt", Prompt{})
	r.MustRegister("prompt->error", Prompt{FailOnResume: true})
	r.MustRegister("pending", Pending{})
	r.MustRegister("customizedSuccess", Status{Status: 100})
	r.MustRegister("customizedError", Status{Status: -100})
}

// Registry returns the default registry plus the test nodes.
func Registry() *nodes.Registry {
	r := nodes.DefaultRegistry()
	Register(r)
	return r
}

// Echo resolves with the previous job's result (nil for the first node).
type Echo struct{}

// Compile implements nodes.Instruction.
func (Echo) Compile(*nodes.CompileContext, *flow.Node) (any, error) { return nil, nil }

// Run implements nodes.Instruction.
func (Echo) Run(_ context.Context, _ *nodes.RunContext, prev *flow.Job) (nodes.Result, error) {
	var v any
	if prev != nil {
		v = prev.Result
	}
	return nodes.Result{Status: flow.JobResolved, Result: v}, nil
}

// EchoVariable resolves with config.variable rendered as a template.
type EchoVariable struct{}

// Compile implements nodes.Instruction.
func (EchoVariable) Compile(c *nodes.CompileContext, n *flow.Node) (any, error) {
	return nodes.CompileTemplate(c, n, "config.variable", n.Config["variable"])
}

// Run implements nodes.Instruction.
func (EchoVariable) Run(_ context.Context, r *nodes.RunContext, _ *flow.Job) (nodes.Result, error) {
	return nodes.Result{Status: flow.JobResolved, Result: r.Compiled.(*expression.Template).Render(r.Scope)}, nil
}

// ErrDefinite is the error the "error" node raises.
var ErrDefinite = errors.New("definite error")

// Error fails with ErrDefinite ("definite error").
type Error struct{}

// Compile implements nodes.Instruction.
func (Error) Compile(*nodes.CompileContext, *flow.Node) (any, error) { return nil, nil }

// Run implements nodes.Instruction.
func (Error) Run(context.Context, *nodes.RunContext, *flow.Job) (nodes.Result, error) {
	return nodes.Result{}, ErrDefinite
}

// ErrInputFailed is the error prompt->error raises on resume.
var ErrInputFailed = errors.New("input failed")

// Prompt pauses (PENDING, result nil). Resumed, it resolves with the result the
// resumer gave; with FailOnResume it fails with ErrInputFailed instead.
type Prompt struct{ FailOnResume bool }

// Compile implements nodes.Instruction.
func (Prompt) Compile(*nodes.CompileContext, *flow.Node) (any, error) { return nil, nil }

// CanPause implements nodes.Pauser.
func (Prompt) CanPause(*flow.Node) bool { return true }

// Run implements nodes.Instruction.
func (Prompt) Run(context.Context, *nodes.RunContext, *flow.Job) (nodes.Result, error) {
	return nodes.Result{Status: flow.JobPending}, nil
}

// Resume implements nodes.Resumer.
func (p Prompt) Resume(_ context.Context, _ *nodes.RunContext, j *flow.Job) (nodes.Result, error) {
	if p.FailOnResume {
		return nodes.Result{}, ErrInputFailed
	}
	return nodes.Result{Status: flow.JobResolved, Result: j.Result}, nil
}

// Pending pauses; resumed, the job keeps the status the resumer set, or
// config.status when the node has one.
type Pending struct{}

// Compile implements nodes.Instruction.
func (Pending) Compile(*nodes.CompileContext, *flow.Node) (any, error) { return nil, nil }

// CanPause implements nodes.Pauser.
func (Pending) CanPause(*flow.Node) bool { return true }

// Run implements nodes.Instruction.
func (Pending) Run(context.Context, *nodes.RunContext, *flow.Job) (nodes.Result, error) {
	return nodes.Result{Status: flow.JobPending}, nil
}

// Resume implements nodes.Resumer.
func (Pending) Resume(_ context.Context, r *nodes.RunContext, j *flow.Job) (nodes.Result, error) {
	st := j.Status
	if v, ok := r.Node.Config["status"].(float64); ok {
		st = flow.JobStatus(int(v))
	} else if v, ok := r.Node.Config["status"].(int); ok {
		st = flow.JobStatus(v)
	}
	return nodes.Result{Status: st, Result: j.Result}, nil
}

// Status resolves with a custom job status (100 resolves the execution, -100
// fails it).
type Status struct{ Status flow.JobStatus }

// Compile implements nodes.Instruction.
func (Status) Compile(*nodes.CompileContext, *flow.Node) (any, error) { return nil, nil }

// Run implements nodes.Instruction.
func (s Status) Run(context.Context, *nodes.RunContext, *flow.Job) (nodes.Result, error) {
	return nodes.Result{Status: s.Status}, nil
}

// Atomic implements nodes.Atomic.
func (Echo) Atomic() bool { return true }

// Atomic implements nodes.Atomic.
func (EchoVariable) Atomic() bool { return true }

// Atomic implements nodes.Atomic.
func (Error) Atomic() bool { return true }

// Atomic implements nodes.Atomic.
func (Prompt) Atomic() bool { return true }

// Atomic implements nodes.Atomic.
func (Pending) Atomic() bool { return true }

// Atomic implements nodes.Atomic.
func (Status) Atomic() bool { return true }
