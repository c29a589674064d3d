package flow

import (
	"context"
	"time"
)

// StackFrame names one execution in a chain of executions that triggered each other.
type StackFrame struct {
	Key         string `json:"key"`
	ExecutionID string `json:"executionId"`
}

type stackKey struct{}

// WithStack returns ctx carrying the chain of executions that is running. The
// executor sets it around every run, so a custom node that calls
// Engine.AfterAction passes it on and loops are caught by options.stackLimit.
func WithStack(ctx context.Context, stack []StackFrame) context.Context {
	return context.WithValue(ctx, stackKey{}, stack)
}

// StackFrom returns the chain of executions ctx runs inside (nil outside any).
func StackFrom(ctx context.Context) []StackFrame {
	s, _ := ctx.Value(stackKey{}).([]StackFrame)
	return s
}

// Execution is one run of one workflow version for one event.
type Execution struct {
	ID         string `json:"id"`
	WorkflowID string `json:"workflowId"`
	// Key copies the workflow key.
	Key string `json:"key"`
	// EventKey identifies the event; executions with the same event key and workflow
	// are created once.
	EventKey string `json:"eventKey,omitempty"`
	// Context is the trigger payload: {"data", "user", "roleName"}.
	Context map[string]any  `json:"context"`
	Status  ExecutionStatus `json:"status"`
	// Reason is set when the execution was aborted ("timeout", "manual_cancel").
	Reason string `json:"reason,omitempty"`
	// Sync marks executions that ran inline in AfterAction or Execute.
	Sync bool `json:"sync,omitempty"`
	// Manually marks executions started through Engine.Execute.
	Manually bool `json:"manually,omitempty"`
	// Stack lists the executions that led to this one, oldest first (loop protection).
	Stack []StackFrame `json:"stack,omitempty"`

	// Queue state. Runnable executions are waiting for a worker: QUEUEING ones to
	// start, STARTED ones to resume (ResumeJobID set) or to be recovered after a
	// crash. A claim sets LeaseOwner and LeaseUntil.
	Runnable    bool      `json:"-"`
	ResumeJobID string    `json:"-"`
	LeaseOwner  string    `json:"-"`
	LeaseUntil  time.Time `json:"-"`
	// Attempt counts the claims of the current run (Config.MaxClaims); it
	// is reset when a run pauses or waits out a node's retry backoff.
	Attempt int `json:"attempt,omitempty"`
	// RunAfter, if set, is the earliest time a Runnable execution may be
	// claimed: a durable timer (a node's retry backoff, an approval
	// deadline, the workflow's timeout while it waits).
	RunAfter time.Time `json:"runAfter,omitzero"`
	// Trace is the trace context of the request that queued the execution,
	// as Config.Observer encoded it (observe.Observer.Trace: a W3C
	// traceparent, say), so that its runs on the workers join that trace.
	// Opaque to the engine and the stores, which keep it as written; ""
	// for none. Not part of the API's JSON.
	Trace string `json:"-"`

	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	StartedAt time.Time `json:"startedAt,omitzero"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	EndedAt   time.Time `json:"endedAt,omitzero"`
}

// Dequeue takes e off the queue: not runnable, no timer, no job to resume,
// no lease.
func (e *Execution) Dequeue() {
	e.Runnable, e.RunAfter, e.ResumeJobID = false, time.Time{}, ""
	e.LeaseOwner, e.LeaseUntil = "", time.Time{}
}

// Requeue makes e runnable at once, resuming the job resumeJobID ("" for
// none), with no timer and no lease: a worker holding one loses it, and so
// writes nothing over this change.
func (e *Execution) Requeue(resumeJobID string) {
	e.Runnable, e.RunAfter, e.ResumeJobID = true, time.Time{}, resumeJobID
	e.LeaseOwner, e.LeaseUntil = "", time.Time{}
}

// Clone returns a copy that shares the (immutable) Context and Stack.
func (e *Execution) Clone() *Execution {
	c := *e
	return &c
}

// Job is the record of one node run within an execution.
type Job struct {
	ID          string `json:"id"`
	ExecutionID string `json:"executionId"`
	NodeKey     string `json:"nodeKey"`
	NodeType    string `json:"nodeType"`
	// Seq orders the jobs of one execution (1, 2, ...). The job with the highest Seq
	// of a node is that node's current job.
	Seq int `json:"seq"`
	// UpstreamID is the job this node's run followed, if any.
	UpstreamID string         `json:"upstreamId,omitempty"`
	Status     JobStatus      `json:"status"`
	Result     any            `json:"result"`
	Meta       map[string]any `json:"meta,omitempty"`
	Log        string         `json:"log,omitempty"`
	// Branch is the branch a branching node chose (nil: none).
	Branch *int `json:"branch,omitempty"`
	// End marks a job that ended the whole execution (end nodes).
	End bool `json:"end,omitempty"`
	// Attempts lists the failed runs of the node before this one (a retry
	// policy ran it again), oldest first. A job that ended ERROR after its
	// last attempt lists that one too.
	Attempts []Attempt `json:"attempts,omitempty"`
	// Snoozes counts the times the node asked to run again later
	// (nodes.Snooze) without using an attempt.
	Snoozes   int       `json:"snoozes,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Clone returns a copy that shares Result and Meta (treated as immutable).
func (j *Job) Clone() *Job {
	c := *j
	return &c
}
