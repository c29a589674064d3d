package actiontrigger

import (
	"errors"
	"fmt"
	"strings"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
)

// Sentinel errors of the engine. Storage and validation errors wrap the
// sentinels of package flow (flow.ErrNotFound, flow.ErrInvalidWorkflow, ...).
var (
	// ErrBinding: triggerWorkflows names workflows that cannot run for this
	// action (strict policy). The error is a *BindingError listing every bad key.
	ErrBinding = errors.New("bad workflow binding")
	// ErrSync: a sync workflow did not let the action pass. The error is a *SyncError.
	ErrSync = errors.New("sync workflow stopped the action")
	// ErrNotStarted: Start was not called, or Stop was.
	ErrNotStarted = errors.New("engine not started")
	// ErrExecutionEnded: the execution already reached a final status.
	ErrExecutionEnded = errors.New("execution already ended")
	// ErrNotRetryable: Engine.Retry was asked to continue an execution that
	// did not end by a fault: one still running, or one that ended by a
	// decision (RESOLVED, FAILED, REJECTED, CANCELED, ABORTED other than by
	// its timeout).
	ErrNotRetryable = errors.New("execution cannot be retried")
	// ErrStackLimit: a workflow would run inside a chain of executions it already
	// appears in options.stackLimit times.
	ErrStackLimit = errors.New("workflow stack limit reached")
	// ErrStore: the engine's store failed while handling an action (reading
	// records for the event, writing an execution or its jobs, queueing). It
	// is not a workflow outcome: AfterAction returns it wrapped with the
	// store's error (which wraps flow.ErrStorage for a database failure), never
	// as a *SyncError, so a database outage does not read as a workflow that
	// failed. Nothing the engine wrote for the action is kept: the unit of
	// work it ran in rolls back.
	ErrStore = errors.New("engine store failed")
	// ErrUnknownAction: an action that names workflows (TriggerWorkflows or
	// Button) has a Name that is no action: neither create and update, which
	// trigger, nor another of the reference system's resource actions
	// (destroy, list, get, updateOrCreate, firstOrCreate, ...), which trigger
	// nothing. "Create" (a typo) and "" are such names.
	ErrUnknownAction = errors.New("unknown action name")
	// ErrNoHostTx: the engine's store cannot join the host's transaction
	// (it does not implement storage.SQLTxBinder), or the transaction is nil.
	ErrNoHostTx = errors.New("the engine's store cannot join a host transaction")
)

// BindingProblem is one bad entry of triggerWorkflows.
type BindingProblem struct {
	Key    string `json:"key"`
	Path   string `json:"path,omitempty"`
	Reason string `json:"reason"`
	// Err is the cause, when there is one (flow.ErrUnknownField for a path
	// through a field that does not exist, ...).
	Err error `json:"-"`
	// malformed problems fail the call under both policies.
	malformed bool
}

// BindingError lists every bad entry of one triggerWorkflows value. It wraps
// ErrBinding.
type BindingError struct {
	Collection string
	Problems   []BindingProblem
}

func (e *BindingError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bad workflow binding for %q:", e.Collection)
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte(';')
		}
		if p.Path != "" {
			fmt.Fprintf(&b, " %q (path %q): %s", p.Key, p.Path, p.Reason)
		} else {
			fmt.Fprintf(&b, " %q: %s", p.Key, p.Reason)
		}
	}
	return b.String()
}

// Unwrap returns ErrBinding and the problems' causes.
func (e *BindingError) Unwrap() []error {
	out := []error{ErrBinding}
	for _, p := range e.Problems {
		if p.Err != nil {
			out = append(out, p.Err)
		}
	}
	return out
}

// SyncErrorKind tells how a sync workflow stopped the action.
type SyncErrorKind string

// Sync error kinds, mapped by the HTTP layer as the reference system does.
const (
	// SyncRejected: the workflow ended at an end node with endStatus -1 (HTTP 400,
	// with the response messages).
	SyncRejected SyncErrorKind = "rejected"
	// SyncFailed: the workflow failed elsewhere, or could not start (HTTP 500).
	SyncFailed SyncErrorKind = "failed"
	// SyncPending: the workflow paused at a pending job (HTTP 500); the execution
	// stays STARTED and can be resumed.
	SyncPending SyncErrorKind = "pending"
)

// SyncError reports a sync workflow that stopped the action. It wraps ErrSync
// and, for executions that could not start, the cause.
type SyncError struct {
	Kind SyncErrorKind
	// Workflow is the key of the workflow that stopped the action.
	Workflow string
	// Execution is the stopped execution (nil if it could not start).
	Execution *flow.Execution
	// Messages holds the response messages added before the stop.
	Messages []nodes.Message
	// Err is the cause when the execution could not start.
	Err error
}

func (e *SyncError) Error() string {
	s := fmt.Sprintf("sync workflow %q %s", e.Workflow, e.Kind)
	if e.Execution != nil {
		s += fmt.Sprintf(" (execution %s, %s)", e.Execution.ID, e.Execution.Status)
	}
	for _, m := range e.Messages {
		s += ": " + m.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns ErrSync and the cause.
func (e *SyncError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrSync, e.Err}
	}
	return []error{ErrSync}
}
