package flow

import "strconv"

// ExecutionStatus is the state of one workflow execution. The numbers follow the
// reference system (NocoBase), except that QUEUEING is stored as its own value
// instead of NULL.
type ExecutionStatus int

// Execution statuses.
const (
	// ExecutionQueueing: created, waiting for a worker. The reference stores NULL;
	// we store -100 so every store can index and compare it. Use Ended, never a sign
	// test, to tell whether an execution is over.
	ExecutionQueueing ExecutionStatus = -100
	// ExecutionStarted: claimed and running, or paused at a pending job.
	ExecutionStarted ExecutionStatus = 0
	// ExecutionResolved: finished successfully.
	ExecutionResolved ExecutionStatus = 1
	// ExecutionFailed: a node failed on purpose (condition rejectOnFalse, end node -1, custom negative status).
	ExecutionFailed ExecutionStatus = -1
	// ExecutionError: a node raised an error.
	ExecutionError ExecutionStatus = -2
	// ExecutionAborted: stopped from outside (timeout, cancel).
	ExecutionAborted ExecutionStatus = -3
	// ExecutionCanceled: canceled.
	ExecutionCanceled ExecutionStatus = -4
	// ExecutionRejected: rejected (for example by an approver).
	ExecutionRejected ExecutionStatus = -5
	// ExecutionRetryNeeded: needs a retry.
	ExecutionRetryNeeded ExecutionStatus = -6
)

// Ended reports whether the execution reached a final status.
func (s ExecutionStatus) Ended() bool {
	return s != ExecutionQueueing && s != ExecutionStarted
}

// String returns the reference system's name of the status.
func (s ExecutionStatus) String() string {
	switch s {
	case ExecutionQueueing:
		return "QUEUEING"
	case ExecutionStarted:
		return "STARTED"
	case ExecutionResolved:
		return "RESOLVED"
	case ExecutionFailed:
		return "FAILED"
	case ExecutionError:
		return "ERROR"
	case ExecutionAborted:
		return "ABORTED"
	case ExecutionCanceled:
		return "CANCELED"
	case ExecutionRejected:
		return "REJECTED"
	case ExecutionRetryNeeded:
		return "RETRY_NEEDED"
	}
	return "ExecutionStatus(" + strconv.Itoa(int(s)) + ")"
}

// JobStatus is the state of one node run. Instructions may return custom statuses:
// a positive one resolves the execution, a negative one fails it.
type JobStatus int

// Job statuses.
const (
	JobPending     JobStatus = 0
	JobResolved    JobStatus = 1
	JobFailed      JobStatus = -1
	JobError       JobStatus = -2
	JobAborted     JobStatus = -3
	JobCanceled    JobStatus = -4
	JobRejected    JobStatus = -5
	JobRetryNeeded JobStatus = -6
)

// String returns the reference system's name of the status.
func (s JobStatus) String() string {
	switch s {
	case JobPending:
		return "PENDING"
	case JobResolved:
		return "RESOLVED"
	case JobFailed:
		return "FAILED"
	case JobError:
		return "ERROR"
	case JobAborted:
		return "ABORTED"
	case JobCanceled:
		return "CANCELED"
	case JobRejected:
		return "REJECTED"
	case JobRetryNeeded:
		return "RETRY_NEEDED"
	}
	return "JobStatus(" + strconv.Itoa(int(s)) + ")"
}

// ExecutionStatus maps the status of the job an execution ended on to the
// execution's status (the reference's StatusMap): the listed values map to the
// same number, PENDING to STARTED, and any custom status to the sign of it.
func (s JobStatus) ExecutionStatus() ExecutionStatus {
	switch {
	case s >= JobRetryNeeded && s <= JobResolved:
		return ExecutionStatus(s)
	case s > 0:
		return ExecutionResolved
	default:
		return ExecutionFailed
	}
}

// TaskStatus is the state of a manual-approval task.
type TaskStatus int

// Task statuses.
const (
	TaskPending  TaskStatus = 0
	TaskResolved TaskStatus = 1
	TaskAborted  TaskStatus = -3
	TaskRejected TaskStatus = -5
)

// Execution reasons, set when an execution is aborted.
const (
	ReasonTimeout       = "timeout"
	ReasonManualCancel  = "manual_cancel"
	ReasonParentAborted = "parent_aborted"
	// ReasonWorkflowDeleted: the workflow was deleted while the execution waited.
	ReasonWorkflowDeleted = "workflow_deleted"
	// ReasonQuarantined starts the reason of an execution ended ERROR because
	// workers claimed it too many times without its run finishing (a run that
	// kills the process, or keeps failing): "quarantined: claimed 6 times ...".
	ReasonQuarantined = "quarantined"
)
