// Package storage defines the ports of actiontrigger: Store, the engine's own
// state (workflows, executions, jobs, the queue, tasks, the unit of work),
// which every store (storage/memory, storage/sqlstore, or a third party's)
// implements; and the records of the host's collections, which a store may
// keep (RecordStore) and the host may serve with its own code (Records).
//
// The contracts are pinned by the conformance suites in storage/storagetest
// rather than by prose: an adapter that passes storagetest.Run is a valid
// Store, and one that also passes storagetest.RunRecords a valid RecordStore.
//
// Objects passed in and returned are owned by the caller: a store never keeps a
// pointer to a struct it was given and never hands out a pointer to its own
// state. The maps and slices inside them (Execution.Context and Stack, Job.Result,
// Meta and Attempts, Task.Result, node configs, record field values) are treated
// as immutable by everyone and may be shared.
// Errors wrap the sentinels of package flow (flow.ErrNotFound, flow.ErrDuplicate,
// flow.ErrConflict, flow.ErrLeaseLost, flow.ErrUnknownCollection,
// flow.ErrUnknownField, flow.ErrInvalidRecord); failures of the underlying
// database wrap flow.ErrStorage.
package storage

import (
	"context"
	"errors"
	"reflect"
	"time"

	"github.com/actiontrigger/actiontrigger/flow"
)

// Store is the storage port. Every method may be called concurrently.
type Store interface {
	// InTx runs fn in one unit of work: everything fn writes through tx commits
	// together when fn returns nil and is discarded when it returns an error (or
	// panics). Reads through tx see tx's own writes. Calling InTx on a tx joins it.
	// A write that fails inside fn (a duplicate, a conflict) leaves the unit of
	// work usable, with its other writes in place.
	InTx(ctx context.Context, fn func(ctx context.Context, tx Store) error) error
	// Durable reports whether committed writes survive a process crash. The engine
	// commits after every node on durable stores and once per run otherwise.
	Durable() bool

	WorkflowStore
	ExecutionStore
	Queue
	TaskStore
}

// WorkflowFilter selects workflow versions. Zero fields do not filter.
type WorkflowFilter struct {
	Key     string
	Enabled *bool
	Current *bool
	// Type, if set, must equal the workflow type.
	Type string
	// Limit caps the result (0: no limit); Offset skips that many first.
	// CountWorkflows ignores both.
	Limit, Offset int
}

// WorkflowCounter is implemented by stores that count workflow versions
// without loading them (storage/memory and storage/sqlstore do): the HTTP
// API's workflows:list pages with WorkflowFilter.Limit and Offset and takes
// its count from it. It is separate from WorkflowStore so that existing
// Store implementations and wrappers keep compiling.
type WorkflowCounter interface {
	// CountWorkflows returns the number of versions matching f, ignoring
	// f.Limit and f.Offset.
	CountWorkflows(ctx context.Context, f WorkflowFilter) (int, error)
}

// WorkflowStore keeps workflow versions.
type WorkflowStore interface {
	// InsertWorkflow stores a new version. w.ID must be set; an existing ID, or a
	// second current version of w.Key, is flow.ErrDuplicate. Executed counters start at 0.
	InsertWorkflow(ctx context.Context, w *flow.Workflow) error
	// UpdateWorkflow replaces the version w.ID (flow.ErrNotFound if missing); the
	// store keeps its own Executed counters. A second current version of the key is
	// flow.ErrDuplicate.
	UpdateWorkflow(ctx context.Context, w *flow.Workflow) error
	// GetWorkflow returns the version with its Executed and AllExecuted counters.
	GetWorkflow(ctx context.Context, id string) (*flow.Workflow, error)
	// ListWorkflows returns matching versions ordered by creation (oldest
	// first), f.Offset of them skipped and at most f.Limit (when not 0).
	ListWorkflows(ctx context.Context, f WorkflowFilter) ([]*flow.Workflow, error)
	// DeleteWorkflow removes a version (flow.ErrNotFound if missing).
	DeleteWorkflow(ctx context.Context, id string) error
}

// ExecutionFilter selects executions. Zero fields do not filter.
type ExecutionFilter struct {
	WorkflowID string
	Key        string
	Statuses   []flow.ExecutionStatus
	// ExpiresBefore selects executions whose non-zero ExpiresAt is before it.
	ExpiresBefore time.Time
	// CreatedFrom and CreatedBefore, when not zero, select executions created
	// at or after CreatedFrom and before CreatedBefore (a half-open range).
	CreatedFrom, CreatedBefore time.Time
	// NewestFirst lists in reverse creation order (default: oldest first);
	// Limit and Offset then page from the newest.
	NewestFirst bool
	// Limit caps the result (0: no limit); Offset skips that many first.
	Limit, Offset int
}

// ExecutionExpect is the compare-and-set condition of UpdateExecution.
type ExecutionExpect struct {
	// Status the stored execution must have.
	Status flow.ExecutionStatus
	// LeaseOwner, if not empty, must hold the stored execution's lease
	// (flow.ErrLeaseLost otherwise).
	LeaseOwner string
}

// ExecutionStore keeps executions and their jobs.
//
// Every field of an execution and of a job is stored and returned as written,
// RunAfter, Attempts and Snoozes included; times, Attempt.At among them, keep
// at least millisecond precision (the built-in stores keep microseconds) and
// come back in UTC. A job without attempts returns a nil Attempts.
type ExecutionStore interface {
	// InsertExecution stores a new execution and counts it in its workflow's
	// Executed counters (flow.ErrNotFound if the workflow version does not
	// exist). An existing ID, or an existing execution of the same
	// workflow with the same non-empty EventKey, is flow.ErrDuplicate. A Runnable
	// execution becomes claimable once the insert commits, or from its
	// RunAfter on if that is set (Queue).
	InsertExecution(ctx context.Context, e *flow.Execution) error
	// GetExecution returns the execution id, RunAfter included.
	GetExecution(ctx context.Context, id string) (*flow.Execution, error)
	// ListExecutions returns matching executions ordered by creation (oldest
	// first; newest first with f.NewestFirst).
	ListExecutions(ctx context.Context, f ExecutionFilter) ([]*flow.Execution, error)
	// UpdateExecution replaces the stored execution e.ID if it still matches
	// expect: flow.ErrNotFound if missing, flow.ErrLeaseLost if expect.LeaseOwner
	// is set and does not hold the lease, flow.ErrConflict if the status differs.
	// Every field is replaced: a RunAfter set re-arms the execution's timer, a
	// zero one clears it.
	UpdateExecution(ctx context.Context, e *flow.Execution, expect ExecutionExpect) error
	// DeleteExecution removes an execution and its jobs (flow.ErrNotFound if missing).
	DeleteExecution(ctx context.Context, id string) error

	// InsertJobs stores new jobs, all or none (flow.ErrDuplicate for an existing
	// ID, flow.ErrNotFound if an execution does not exist), with their Attempts
	// and Snoozes. Jobs of one execution should be passed together: a store may
	// write them at once.
	InsertJobs(ctx context.Context, jobs ...*flow.Job) error
	// UpdateJob replaces the stored job j.ID, Attempts and Snoozes included, if
	// its status is still expect (flow.ErrConflict otherwise, flow.ErrNotFound
	// if missing).
	UpdateJob(ctx context.Context, j *flow.Job, expect flow.JobStatus) error
	// GetJob returns the job id with its Attempts and Snoozes.
	GetJob(ctx context.Context, id string) (*flow.Job, error)
	// LockJob returns the job id, as GetJob does, and inside InTx holds it
	// for the rest of the unit of work: a LockJob of the same job in another
	// unit of work waits until this one commits or rolls back, then returns
	// the job as committed, and reads it makes after that see what this one
	// committed. Outside InTx it is GetJob. A unit of work that decides a job
	// from other rows (the tasks of a manual node) locks the job before
	// reading them, so that concurrent deciders run one after the other.
	LockJob(ctx context.Context, id string) (*flow.Job, error)
	// ListJobs returns the jobs of an execution ordered by Seq.
	ListJobs(ctx context.Context, executionID string) ([]*flow.Job, error)
}

// ExecutionUpdate is one update of BatchUpdater.UpdateExecutions.
type ExecutionUpdate struct {
	Execution *flow.Execution
	Expect    ExecutionExpect
	// Prev, if set, is the execution as the caller read it (claimed it). When
	// Execution's Context is the same map as Prev's, and its Stack the same
	// slice, the store may leave the stored context and stack as they are
	// instead of writing them again: the caller vouches that they have not
	// changed since it read them (the engine never changes an execution's
	// context or stack after inserting it).
	Prev *flow.Execution
}

// BatchUpdater is implemented by stores (and the stores their InTx hands out)
// that update many executions in fewer round trips. It is optional: callers
// fall back to UpdateExecution when a store does not implement it.
type BatchUpdater interface {
	// UpdateExecutions does what UpdateExecution does for each update, one
	// after the other, in the store's unit of work (or each on its own outside
	// one), RunAfter included. The executions must be distinct. errs has one entry per update:
	// nil when it was written, else the error UpdateExecution would have
	// returned for it (flow.ErrLeaseLost, flow.ErrConflict, flow.ErrNotFound,
	// flow.ErrDuplicate...); inside a unit of work of WithAllOrNothing any of
	// them fails the unit, as a failed UpdateExecution does. err reports a
	// failure of the call as a whole (a database error): which updates were
	// written is then unknown, and the caller rolls its unit of work back.
	UpdateExecutions(ctx context.Context, us []ExecutionUpdate) (errs []error, err error)
}

// ExecutionJobsInserter is implemented by stores (and the stores their InTx
// hands out) that insert a new execution together with its first jobs in fewer
// round trips (one statement on PostgreSQL). It is optional: callers fall back
// to InsertExecution and then InsertJobs when a store does not implement it.
type ExecutionJobsInserter interface {
	// InsertExecutionJobs does what InsertExecution(e) and then
	// InsertJobs(jobs...) do, all or nothing: on any error neither the
	// execution, nor its count, nor any of the jobs is stored. Every job
	// belongs to e (ExecutionID == e.ID); jobs may be empty. The errors are
	// theirs: flow.ErrNotFound (no such workflow), flow.ErrDuplicate (the
	// execution, its event or a job exists).
	InsertExecutionJobs(ctx context.Context, e *flow.Execution, jobs ...*flow.Job) error
}

// SameDocument reports whether u's Context and Stack are the very ones of
// u.Prev (same map, same slice), which UpdateExecutions may then leave as
// stored.
func (u ExecutionUpdate) SameDocument() bool {
	if u.Prev == nil || u.Execution == nil {
		return false
	}
	a, b := u.Execution, u.Prev
	if (a.Context == nil) != (b.Context == nil) || reflect.ValueOf(a.Context).UnsafePointer() != reflect.ValueOf(b.Context).UnsafePointer() {
		return false
	}
	if len(a.Stack) != len(b.Stack) {
		return false
	}
	return len(a.Stack) == 0 || &a.Stack[0] == &b.Stack[0]
}

// ClaimParams describes one claim.
type ClaimParams struct {
	// Owner names the claiming worker pool (unique per process).
	Owner string
	// Limit is the most executions to claim.
	Limit int
	// Now is the current time; leases that end before it are expired, and
	// timers (RunAfter) not after it are due.
	Now time.Time
	// LeaseUntil is when the new leases end.
	LeaseUntil time.Time
}

// Queue hands runnable executions to workers under a lease.
//
// An execution's RunAfter is a durable timer: a Runnable execution whose
// RunAfter is set is not claimed before that time (a node's retry backoff, an
// approval deadline). It is written with the execution (InsertExecution,
// UpdateExecution, BatchUpdater.UpdateExecutions) and read back with it; a
// claim leaves it as it is. Setting it to a later time after a claim (with
// the lease, by UpdateExecution) re-arms the timer; the zero time clears it.
type Queue interface {
	// ClaimExecutions claims up to p.Limit runnable executions whose lease is
	// empty or expired and whose RunAfter is zero or not after p.Now, oldest
	// (by creation) first: it sets LeaseOwner, LeaseUntil, increments Attempt
	// and returns the claimed executions. Two concurrent claims never return
	// the same execution while its lease is valid.
	ClaimExecutions(ctx context.Context, p ClaimParams) ([]*flow.Execution, error)
	// ExtendLeases moves the lease end of the executions owner still holds to
	// until and returns the ids it no longer holds.
	ExtendLeases(ctx context.Context, owner string, ids []string, until time.Time) (lost []string, err error)
	// ReleaseLeases gives back executions owner claimed but did not run (a
	// worker pool that stops): it clears their lease, so any process may claim
	// them at once, and takes back the Attempt their claim counted. Executions
	// whose lease owner no longer holds, or that are gone, are left alone.
	ReleaseLeases(ctx context.Context, owner string, ids []string) error
}

// QueueStat is a snapshot of the queue and of the tasks waiting for a
// decision (QueueStats).
type QueueStat struct {
	// Depth counts the executions a claim could take at the time asked:
	// runnable, due (no RunAfter, or one not after that time) and held by
	// no valid lease.
	Depth int
	// Oldest is when the longest-waiting of them became due: its RunAfter,
	// or, without one, when it was queued (its UpdatedAt, which the engine
	// sets whenever it makes an execution runnable). Zero when Depth is 0.
	Oldest time.Time
	// Leased counts the runnable executions a worker pool holds: running,
	// or claimed and waiting for a worker.
	Leased int
	// Scheduled counts the runnable executions waiting on a timer that is
	// not due yet (RunAfter after the time asked).
	Scheduled int
	// PendingTasks counts the manual-approval tasks waiting for a decision
	// (flow.TaskPending).
	PendingTasks int
}

// QueueStats is implemented by stores that tell the state of their queue
// cheaply (storage/memory and storage/sqlstore do), for metrics: package
// otelobserve reads it at most once per collection of its gauges. It is
// optional and separate from Queue, so that existing Store implementations
// and wrappers keep compiling.
type QueueStats interface {
	// QueueStats counts the queue as of now (the time a claim would be
	// made at), outside any unit of work.
	QueueStats(ctx context.Context, now time.Time) (QueueStat, error)
}

// Filter selects records: each field must equal the value, or be one of the values
// when the value is a []any.
type Filter map[string]any

// RecordStore is implemented by stores that also keep the records of the
// host's collections (storage/memory and storage/sqlstore do): the engine
// uses it for every declared collection that Config.Records does not back
// with the host's own code. It is not part of Store: a store of the engine's
// state alone is a valid Store. The units of work of a store that implements
// it (what InTx hands its function) implement it too.
type RecordStore interface {
	// DeclareCollections tells the store the host's schema. Calling it again with
	// the same collections is a no-op.
	DeclareCollections(ctx context.Context, cs []flow.Collection) error
	// CreateRecord validates values against the schema (flow.ErrUnknownCollection,
	// flow.ErrUnknownField), assigns an integer "id" to auto-id collections, stores
	// the record and returns it as stored. A taken primary key is flow.ErrDuplicate.
	// Foreign keys implied by associations (belongsTo on this collection,
	// hasOne/hasMany on the target, both keys of a through collection) are fields.
	// Declared date fields named createdAt and updatedAt are filled when absent
	// (UpdateRecords refreshes updatedAt). Integer keys are int64.
	// Association values link records: a belongsTo given as a scalar sets the
	// foreign key, as a map creates the target first; hasMany and belongsToMany
	// given as key lists link existing targets.
	CreateRecord(ctx context.Context, collection string, values flow.Record) (flow.Record, error)
	// GetRecord returns the record with the given primary key values, with the
	// association paths in appends loaded ("category", "category.posts"): a to-one
	// association as a flow.Record or nil (the key always present), a to-many one
	// as a non-nil []any of flow.Record in primary key order.
	GetRecord(ctx context.Context, collection string, key flow.Record, appends []string) (flow.Record, error)
	// ListRecords returns matching records (primary key order) with appends
	// loaded. It returns every match: to list one page, sorted and counted in
	// the store, a store implements RecordPager too (the built-in ones do).
	ListRecords(ctx context.Context, collection string, f Filter, appends []string) ([]flow.Record, error)
	// UpdateRecords sets values on every matching record and returns them as stored.
	UpdateRecords(ctx context.Context, collection string, f Filter, values flow.Record) ([]flow.Record, error)
}

// TaskFilter selects manual-approval tasks. Zero fields do not filter.
type TaskFilter struct {
	UserID      string
	Statuses    []flow.TaskStatus
	WorkflowKey string
	JobID       string
	ExecutionID string
	// Limit caps the result (0: no limit); Offset skips that many first.
	Limit, Offset int
}

// TaskStore keeps manual-approval tasks. Listing one user's tasks by status must
// not scan other users' tasks.
type TaskStore interface {
	// InsertTask stores a new task (flow.ErrDuplicate for an existing ID).
	InsertTask(ctx context.Context, t *flow.Task) error
	GetTask(ctx context.Context, id string) (*flow.Task, error)
	// ListTasks returns matching tasks ordered by creation (oldest first).
	ListTasks(ctx context.Context, f TaskFilter) ([]*flow.Task, error)
	// UpdateTask replaces the stored task t.ID if its status is still expect
	// (flow.ErrConflict otherwise, flow.ErrNotFound if missing).
	UpdateTask(ctx context.Context, t *flow.Task, expect flow.TaskStatus) error
}

type txKey struct{}

type allOrNothingKey struct{}

// ErrUnitFailed is returned (wrapped) by InTx called with a context from
// WithAllOrNothing when a write inside the unit of work failed.
var ErrUnitFailed = errors.New("storage: a write of the unit of work failed")

// WithAllOrNothing returns ctx asking InTx for a unit of work that need not
// survive a failed write. A store may then skip what keeps a unit of work
// usable after a failed write (savepoints): if a write inside fails, InTx
// rolls everything back and returns an error wrapping ErrUnitFailed, even when
// fn returned nil. A store may also ignore the request and keep the usual
// contract. The engine uses it to run several executions in one transaction,
// and runs each again in a transaction of its own when the shared one fails.
func WithAllOrNothing(ctx context.Context) context.Context {
	return context.WithValue(ctx, allOrNothingKey{}, true)
}

// AllOrNothing reports whether ctx comes from WithAllOrNothing.
func AllOrNothing(ctx context.Context) bool {
	v, _ := ctx.Value(allOrNothingKey{}).(bool)
	return v
}

type sharedCommitKey struct{}

// WithSharedCommit returns ctx allowing InTx to commit fn's writes in one
// database transaction with other units of work running at the same time
// (group commit): each unit still commits or rolls back as a whole (a failed
// one is undone alone, under a savepoint), InTx still returns only after its
// writes are durable, but a unit's writes become visible, and its InTx
// returns, when the shared transaction commits. It pays where commits are
// serialised (SQLite's single writer). The caller must not hold, across InTx,
// a lock that another unit of work may need, since it now waits for the
// others to finish. A store may ignore it.
func WithSharedCommit(ctx context.Context) context.Context {
	return context.WithValue(ctx, sharedCommitKey{}, true)
}

// SharedCommit reports whether ctx comes from WithSharedCommit.
func SharedCommit(ctx context.Context) bool {
	v, _ := ctx.Value(sharedCommitKey{}).(bool)
	return v
}

// WithTx returns ctx carrying a unit of work: engine calls made with it (for
// example AfterAction from inside a custom node, whose run holds a transaction)
// write through tx and commit with it, instead of starting their own.
func WithTx(ctx context.Context, tx Store) context.Context {
	return context.WithValue(ctx, txKey{}, tx)
}

// TxFrom returns the unit of work ctx carries, if any.
func TxFrom(ctx context.Context) (Store, bool) {
	tx, ok := ctx.Value(txKey{}).(Store)
	return tx, ok && tx != nil
}

// KeyLocker is implemented by stores whose units of work can run at the same
// time on one database (PostgreSQL): LockWorkflowKey, called inside InTx,
// makes every other unit of work that locks the same workflow key wait until
// this one ends, so that two processes saving one key do not both see it
// missing and both create a first version. Stores that serialise their
// writers (SQLite, memory) need not implement it.
type KeyLocker interface {
	LockWorkflowKey(ctx context.Context, key string) error
}
