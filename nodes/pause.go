package nodes

import (
	"context"
	"time"

	"github.com/actiontrigger/actiontrigger/expression"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// Pausing is a capability any node can have, the manual node being one such
// node. A node pauses by returning Pending from Run; it is resumed by one of:
//
//   - Engine.Resume, with the job's new status and result (a "wait for a
//     webhook" or "wait for payment" node: the host resumes it when the event
//     arrives); the node's Resume, if it implements Resumer, decides the
//     outcome;
//   - Engine.SubmitTask, for a node that implements Submitter: it keeps tasks
//     for its assignees (RunContext.Tasks) and decides its job from their
//     submissions.
//
// When a paused execution is canceled or times out, the engine aborts the
// paused job and calls the node's Abort, if it implements Aborter, in the
// same unit of work, so that it releases what it holds (its tasks, a
// subscription, a reservation).

// Tasks is what a node reaches of the engine's approval tasks: those of the
// unit of work it runs in. A task names the job it belongs to (RunContext.JobID).
type Tasks interface {
	InsertTask(ctx context.Context, t *flow.Task) error
	GetTask(ctx context.Context, id string) (*flow.Task, error)
	ListTasks(ctx context.Context, f storage.TaskFilter) ([]*flow.Task, error)
	// UpdateTask replaces the task if its status is still expect
	// (flow.ErrConflict otherwise).
	UpdateTask(ctx context.Context, t *flow.Task, expect flow.TaskStatus) error
}

// Submitter is implemented by instructions whose paused jobs take
// submissions on their tasks (Engine.SubmitTask). Submit runs in the unit of
// work of the submission, with the job locked: however many submissions race,
// they reach Submit one at a time, each seeing what the ones before it
// committed. It records the task's decision (through SubmitContext.Tasks) and
// returns the job as it is after the submission; the engine writes the job,
// and resumes the execution when the job left PENDING.
type Submitter interface {
	Submit(ctx context.Context, s *SubmitContext) (*Decision, error)
}

// SubmitContext is what Submitter.Submit receives.
type SubmitContext struct {
	// Node and Compiled are the paused node and its compiled config.
	Node     *flow.Node
	Compiled any
	Workflow *flow.Workflow
	// Task is the submitted task, Job its (locked) job, Execution the paused
	// execution, all as stored in the unit of work.
	Task      *flow.Task
	Job       *flow.Job
	Execution *flow.Execution
	// Scope is the execution's scope ($context, $jobsMapByNodeKey, $system,
	// $scopes, $env), as a run of the node sees it.
	Scope expression.Scope
	// UserID is the submitting user's key (flow.UserKey), User the user's
	// fields without hidden ones.
	UserID string
	User   map[string]any
	// Submission is what the user submitted; Submit may keep it.
	Submission Submission
	// Tasks and Records are those of the submission's unit of work.
	Tasks   Tasks
	Records storage.RecordAccess
	Now     time.Time
}

// Decision is the outcome of one submission.
type Decision struct {
	// Task is the task as the submission left it.
	Task *flow.Task
	// Job is the job after the submission; the engine writes it with a
	// compare-and-set on PENDING. Resume is true when it left PENDING (the
	// execution must be resumed).
	Job    *flow.Job
	Resume bool
}

// Aborter is implemented by instructions whose paused jobs hold something
// that must be released when the job is aborted (the execution canceled or
// timed out). Abort runs in the unit of work that aborts the job, after the
// job was marked ABORTED; an error fails that unit of work.
type Aborter interface {
	Abort(ctx context.Context, a *AbortContext) error
}

// AbortContext is what Aborter.Abort receives.
type AbortContext struct {
	Node     *flow.Node
	Compiled any
	// Job is the aborted job.
	Job   *flow.Job
	Tasks Tasks
	Now   time.Time
}
