// Package observe is how the engine reports what it does, for traces and
// metrics. An Observer (actiontrigger.Config.Observer) is told of each step an
// operator watches: an action that runs workflows, a run of an execution, a
// run of a node, a claim of the queue, the end of an execution.
//
// A step with a duration comes as a pair, XStart and XEnd, on the goroutine
// that runs the step. XStart gets the step's context and returns the one the
// step goes on with: an observer puts its span there and finds it again in
// the context XEnd gets. The context a node's XStart returns is the one the
// node's Run receives, so what a node calls (an HTTP client, a database
// driver) joins the trace. The engine measures durations with the monotonic
// clock (not Config.Now, which may be a test's fake clock).
//
// Trace returns the trace context of a request as an opaque string, which the
// engine stores with the executions the request queues (flow.Execution.Trace)
// and hands back in RunStart when a worker runs them, maybe in another
// process, so that their runs join the request's trace.
//
// Events point at the engine's own values (a *flow.Execution): an observer
// reads them during the call and neither changes nor keeps them. Calls come
// from many goroutines at once; an observer must be safe for that, and fast:
// it runs on the request's and the workers' path.
//
// With no observer (nil) the engine reports nothing and pays a nil check per
// step. This package imports no telemetry library: package otelobserve
// implements Observer with OpenTelemetry, and a host may write its own
// (embedding Nop keeps it compiling when methods are added).
package observe

import (
	"context"
	"time"

	"github.com/actiontrigger/actiontrigger/flow"
)

// Observer receives the engine's events. See the package documentation.
type Observer interface {
	// ActionStart is called once per Engine.AfterAction (and AfterActionTx)
	// call that selected at least one workflow, before any runs.
	ActionStart(ctx context.Context, ev Action) context.Context
	// ActionEnd is called when that AfterAction call returns, with the
	// context ActionStart returned.
	ActionEnd(ctx context.Context, ev ActionEnd)

	// RunStart is called before each run of an execution: a sync one
	// inline (AfterAction, Engine.Execute), an async one on a worker (its
	// first run, and every later one: a resume after a decision, a timer, a
	// retry backoff, Engine.Retry, a recovery after a worker died).
	RunStart(ctx context.Context, ev Run) context.Context
	// RunEnd is called when the run ends (the execution ended, paused, or
	// the run failed), with the context RunStart returned.
	RunEnd(ctx context.Context, ev RunEnd)

	// NodeStart is called before each run of a node (Run, or Resume of a
	// paused job), within a run of its execution.
	NodeStart(ctx context.Context, ev Node) context.Context
	// NodeEnd is called when the node returned, with the context NodeStart
	// returned.
	NodeEnd(ctx context.Context, ev NodeEnd)

	// Claim is called after each claim of the queue by a worker pool (or
	// Engine.RunDue), including claims that found nothing.
	Claim(ctx context.Context, ev Claim)

	// ExecutionEnd is called once an execution reached a final status: at
	// the end of the run that ended it, or when it was ended from outside
	// a run (canceled, aborted by its timeout, quarantined, failed by its
	// worker).
	ExecutionEnd(ctx context.Context, ev ExecutionEnd)

	// Trace returns the trace context ctx carries, encoded as a string the
	// observer can read back (a W3C traceparent, say), or "" for none. The
	// engine calls it once per AfterAction that queues executions, with the
	// context ActionStart returned, and stores the string with them.
	Trace(ctx context.Context) string
}

// Action is the event of ActionStart.
type Action struct {
	// Collection and Name are those of actiontrigger.Action.
	Collection, Name string
	// Workflows is how many workflows the action selected.
	Workflows int
	// Records is how many records the action carries (a bulk action: more
	// than one).
	Records int
}

// ActionEnd is the event of ActionEnd.
type ActionEnd struct {
	Action
	// Ran counts the sync executions that ran, Queued the async ones queued,
	// Skipped the workflows that did not run (actiontrigger.Result).
	Ran, Queued, Skipped int
	// Err is what AfterAction returned: a *actiontrigger.SyncError when a
	// sync workflow did not pass, a storage error, ...
	Err error
	// Duration of the call since ActionStart.
	Duration time.Duration
}

// RunKind tells which run of an execution a Run is.
type RunKind uint8

// Kinds of runs.
const (
	// RunInline is the run of a sync execution inside the caller's
	// request (AfterAction, Engine.Execute): the execution's only run.
	RunInline RunKind = iota + 1
	// RunQueued is the first run of a queued (async) execution, on a worker.
	RunQueued
	// RunResumed is a later run of an async execution: resumed by a
	// decision, woken by a timer (a retry backoff, a deadline, a timeout),
	// continued by Engine.Retry, or recovered after its worker died
	// (Execution.Attempt above 1 then).
	RunResumed
)

// String returns "inline", "queued" or "resumed".
func (k RunKind) String() string {
	switch k {
	case RunInline:
		return "inline"
	case RunQueued:
		return "queued"
	case RunResumed:
		return "resumed"
	}
	return "unknown"
}

// Run is the event of RunStart.
type Run struct {
	// Execution as the run starts: claimed by a worker, or about to be
	// stored (RunInline). Its Trace is the trace context stored when it was
	// queued ("" for none, and for sync executions).
	Execution *flow.Execution
	Kind      RunKind
}

// RunEnd is the event of RunEnd.
type RunEnd struct {
	Run
	// Outcome is the execution as stored after the run: ended, or paused
	// (status STARTED). Nil when the run failed (Err).
	Outcome *flow.Execution
	// Err is set when the run itself failed: a storage error, a lost
	// lease, a canceled context. Its work since the last commit is rolled
	// back and it runs again later. A node's failure is not one: it ends
	// the execution, or waits for a retry, and the run succeeds.
	Err error
	// Duration of the run.
	Duration time.Duration
}

// Node is the event of NodeStart.
type Node struct {
	// Execution is the execution the node runs in.
	Execution *flow.Execution
	// Key and Type name the node.
	Key, Type string
	// Attempt numbers the node's runs under its retry policy (1, 2, ...).
	Attempt int
	// Resume marks the Resume of a paused job, rather than a Run.
	Resume bool
}

// NodeEnd is the event of NodeEnd.
type NodeEnd struct {
	Node
	// Status is the status of the node's job after the run: RETRY_NEEDED
	// when a retry policy runs it again later.
	Status flow.JobStatus
	// Err is the error the node returned, or its fault (a panic, a
	// timeout: see executor.FaultError); nil when it returned a result.
	Err error
	// Duration of the node's run.
	Duration time.Duration
}

// Claim is the event of Claim.
type Claim struct {
	// Limit is the most executions the claim asked for, Count how many it
	// got.
	Limit, Count int
	// Latency is how long the store took to answer.
	Latency time.Duration
	// Err is the store's error, if the claim failed.
	Err error
}

// ExecutionEnd is the event of ExecutionEnd.
type ExecutionEnd struct {
	// Execution as ended: its Status is final, Reason may tell why.
	Execution *flow.Execution
}

// Nop is an Observer that does nothing. Embed it in an observer that
// implements only some methods, so that it keeps compiling when methods are
// added to Observer.
type Nop struct{}

var _ Observer = Nop{}

// ActionStart returns ctx.
func (Nop) ActionStart(ctx context.Context, _ Action) context.Context { return ctx }

// ActionEnd does nothing.
func (Nop) ActionEnd(context.Context, ActionEnd) {}

// RunStart returns ctx.
func (Nop) RunStart(ctx context.Context, _ Run) context.Context { return ctx }

// RunEnd does nothing.
func (Nop) RunEnd(context.Context, RunEnd) {}

// NodeStart returns ctx.
func (Nop) NodeStart(ctx context.Context, _ Node) context.Context { return ctx }

// NodeEnd does nothing.
func (Nop) NodeEnd(context.Context, NodeEnd) {}

// Claim does nothing.
func (Nop) Claim(context.Context, Claim) {}

// ExecutionEnd does nothing.
func (Nop) ExecutionEnd(context.Context, ExecutionEnd) {}

// Trace returns "".
func (Nop) Trace(context.Context) string { return "" }
