package nodes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/actiontrigger/actiontrigger/expression"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// Retries. A node whose run fails (an error from Run, an Errored result, a
// panic, a run past its timeout) in an async execution whose workflow or node
// sets a retry policy (flow.RetryPolicy) is run again after a backoff, until
// the policy's attempts run out; the execution then ends ERROR with the last
// error. Sync runs are never retried: they fail the caller's request at once.
//
// Side effects are therefore at-least-once: a node that calls a service
// should pass RunContext.IdempotencyKey along (an Idempotency-Key header), so
// the service can tell a retry from a new request.

// ErrPermanent is matched (errors.Is) by errors made with Permanent.
var ErrPermanent = errors.New("permanent error")

// ErrSnoozeCap is the error of a node that asked to run again later
// (Snooze) more times than its policy's maxSnoozes allows.
var ErrSnoozeCap = errors.New("node snoozed too many times")

type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() []error { return []error{e.err, ErrPermanent} }

// Permanent marks err as not worth retrying: the execution ends ERROR with it
// at once, whatever the retry policy (a 4xx answer, a record that fails
// validation). errors.Is(err, ErrPermanent) reports it; the message is err's.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// Retryable reports whether a retry policy may run a node again after it
// returned err: every error is, except those marked Permanent, a snooze
// (which is not a failure) and a node returning PENDING without being able
// to pause.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var s *SnoozeError
	return !errors.Is(err, ErrPermanent) && !errors.Is(err, ErrCannotPause) && !errors.As(err, &s)
}

// SnoozeError is the error Snooze returns.
type SnoozeError struct {
	// After is how long to wait before the next run.
	After time.Duration
}

func (e *SnoozeError) Error() string { return fmt.Sprintf("snoozed for %s", e.After) }

// Snooze, returned by Run as its error, asks for the node to run again after
// d without using an attempt of its retry policy (a 429 answer's
// Retry-After): the job is RETRY_NEEDED meanwhile, and the execution waits on
// a durable timer. A node may snooze its policy's maxSnoozes times
// (flow.DefaultRetryMaxSnoozes without a policy); one more is a failed
// attempt (ErrSnoozeCap). A sync run cannot wait: a snooze fails it at once.
func Snooze(d time.Duration) error {
	return &SnoozeError{After: max(d, 0)}
}

// Attempt is the number of this run of the node, from 1: the first run is 1,
// its first retry 2. Engine.Retry of a failed execution goes on counting.
func (r *RunContext) Attempt() int {
	if r.attempt < 1 {
		return 1
	}
	return r.attempt
}

// SetAttempt sets the number Attempt returns (the executor sets it; tests
// of a node may too).
func (r *RunContext) SetAttempt(n int) { r.attempt = n }

// IdempotencyKey identifies this node's work in this execution: the
// execution id and the node key, the same across attempts and across
// Engine.Retry, different for every other node and execution.
func (r *RunContext) IdempotencyKey() string {
	var id, key string
	if r.Execution != nil {
		id = r.Execution.ID
	}
	if r.Node != nil {
		key = r.Node.Key
	}
	return id + "/" + key
}

// Waker is implemented by node types whose PENDING jobs act on their own at a
// time (the manual node's deadline and reminder). The executor keeps the
// execution on a durable timer for the earliest WakeAt of its pending jobs,
// and when it fires, on whichever process claims the execution, calls Wake
// in a unit of work that holds the job (LockJob), so that a submission
// deciding the job at the same time runs before or after it, never both.
type Waker interface {
	// WakeAt returns when job (PENDING, of this node) needs Wake next; the
	// zero time: never.
	WakeAt(job *flow.Job) time.Time
	// Wake returns job's new state (a copy: never change job). A PENDING one
	// keeps the execution waiting (its Meta gives the next WakeAt); any other
	// decides the job, and the execution goes on as a submission deciding it
	// would (resolved: after the node; rejected: ends REJECTED).
	Wake(ctx context.Context, wc *WakeContext) (*flow.Job, error)
}

// WakeContext is what Waker.Wake receives.
type WakeContext struct {
	// Node and Compiled are the job's node and its compiled config.
	Node     *flow.Node
	Compiled any
	// Workflow and Execution the job belongs to. Read only.
	Workflow  *flow.Workflow
	Execution *flow.Execution
	// Job is the PENDING job, as locked. Read only.
	Job *flow.Job
	// Tasks of the unit of work (the node's tasks, to close or create).
	Tasks Tasks
	// Scope of the execution (for templates of escalated tasks).
	Scope expression.Scope
	// Records reaches the declared collections, in the unit of work.
	Records storage.RecordAccess
	// Now is the engine's clock reading.
	Now time.Time
	// Remind, if not nil, is the host's reminder hook (Config.OnTaskReminder):
	// a node calls it once for each task it reminds.
	Remind func(ctx context.Context, t *flow.Task)
	// Logger is the engine's logger.
	Logger *slog.Logger
}
