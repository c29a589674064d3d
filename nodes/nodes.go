// Package nodes defines the Instruction interface every workflow node type
// implements, the Registry that maps node type names to instructions, and the
// built-in nodes: condition, create, end, manual and response-message.
//
// Custom nodes use exactly the same interfaces as the built-ins: implement
// Instruction (or write a Func), and, for a node that can pause, Pauser,
// Resumer, Submitter (its tasks take submissions) and Aborter (it releases
// what a paused job holds); Register it before creating the engine. The
// engine names no node type.
package nodes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/actiontrigger/actiontrigger/expression"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// ErrDuplicateInstruction is returned when a node type name is registered twice.
var ErrDuplicateInstruction = errors.New("node type already registered")

// Instruction is one node type.
type Instruction interface {
	// Compile validates a node's config when its workflow is saved and returns
	// the compiled form (expressions, templates) that the engine caches and hands
	// to Run through RunContext.Compiled. Errors should be *flow.ValidationError
	// or wrap flow.ErrInvalidWorkflow; use CompileContext.Invalid to build them.
	Compile(c *CompileContext, node *flow.Node) (any, error)
	// Run executes the node. prev is the job of the node that ran before it on the
	// path (nil for the first node). A returned error becomes a job with status
	// ERROR whose result holds the message.
	Run(ctx context.Context, r *RunContext, prev *flow.Job) (Result, error)
}

// Pauser is implemented by instructions that can return a PENDING job (manual
// approval, prompts), to say for which nodes. Sync workflows may not contain a
// node that can pause (CanPause): they are rejected when saved, since a sync run
// cannot wait. An instruction without Pauser can pause when it implements
// Resumer.
type Pauser interface {
	CanPause(node *flow.Node) bool
}

// Resumer is implemented by instructions whose pending jobs are resumed. Resume
// receives the job as the resuming party updated it and returns the job's final
// outcome. Instructions without Resume keep the job's updated status and result.
type Resumer interface {
	Resume(ctx context.Context, r *RunContext, job *flow.Job) (Result, error)
}

// Atomic is implemented by instructions whose Run only computes and does quick
// writes through RunContext.Records and RunContext.Tasks (all built-ins). The
// engine may run a whole execution of atomic nodes in one unit of work. A node
// without it (a custom node that calls a service, sleeps or waits) runs outside
// any transaction, so it never holds the store's writer lock and executions
// keep running in parallel; its writes commit on their own, before its job.
// Whether a workflow's runs are one unit of work is reported on every saved
// version (flow.Workflow.Atomic).
type Atomic interface {
	Atomic() bool
}

// Brancher is implemented by instructions whose nodes hold branches; it lists the
// branch indexes the node accepts. Nodes of other types may not have branches.
type Brancher interface {
	BranchIndexes() []int
}

// Result is what an instruction's run produced; the engine saves it as a job.
// Build it with the constructors (Resolved, Failed, Rejected, Errored, Pending,
// Ended, WithStatus) rather than as a literal: the zero Status is PENDING, so a
// literal that forgets Status asks to pause. A node that cannot pause (see
// CanPause) and returns PENDING anyway gets an ERROR job that says so.
type Result struct {
	// Status of the job; PENDING pauses the execution (only for nodes that can
	// pause, see CanPause).
	Status flow.JobStatus
	// Result is the job's result, visible to later nodes as $jobsMapByNodeKey.<key>.
	Result any
	// Meta is stored with the job.
	Meta map[string]any
	// Log is stored with the job.
	Log string
	// Branch selects the branch to run next (branching nodes); nil runs none.
	Branch *int
	// End ends the whole execution with Status, even from inside a branch.
	End bool
}

// Resolved is a RESOLVED outcome whose job result is value: the execution goes
// on with the next node.
func Resolved(value any) Result { return Result{Status: flow.JobResolved, Result: value} }

// Failed is a FAILED outcome (the node decided the run must not go on, as the
// condition node's rejectOnFalse does): the execution ends FAILED.
func Failed(value any) Result { return Result{Status: flow.JobFailed, Result: value} }

// Rejected is a REJECTED outcome (an approver said no): the execution ends
// REJECTED.
func Rejected(value any) Result { return Result{Status: flow.JobRejected, Result: value} }

// Errored is an ERROR outcome with value as the job result, for a node that
// reports its error as data; returning a non-nil error from Run does the same
// with {"message": err.Error()} as the result. The execution ends ERROR.
func Errored(value any) Result { return Result{Status: flow.JobError, Result: value} }

// Pending pauses the execution with a PENDING job holding meta, until the job
// is resumed (Engine.Resume, or a task submission the node decides through
// Submitter). Only a node that can pause (CanPause) may return it.
func Pending(meta map[string]any) Result { return Result{Status: flow.JobPending, Meta: meta} }

// Ended ends the whole execution with status, even from inside a branch, as the
// end node does (RESOLVED or FAILED).
func Ended(status flow.JobStatus) Result { return Result{Status: status, End: true} }

// WithStatus is an outcome with a custom job status: a positive one resolves
// the execution, a negative one fails it (as in the reference system).
func WithStatus(status flow.JobStatus, value any) Result {
	return Result{Status: status, Result: value}
}

// OnBranch returns r choosing branch i of a branching node (Brancher).
func (r Result) OnBranch(i int) Result {
	r.Branch = &i
	return r
}

// WithResult returns r with value as the job result.
func (r Result) WithResult(value any) Result {
	r.Result = value
	return r
}

// WithMeta returns r with meta stored with the job.
func (r Result) WithMeta(meta map[string]any) Result {
	r.Meta = meta
	return r
}

// WithLog returns r with log stored with the job.
func (r Result) WithLog(log string) Result {
	r.Log = log
	return r
}

// CanPause reports whether instruction in may leave node n's job PENDING: when
// it implements Pauser, what its CanPause says; otherwise whether it implements
// Resumer. A sync workflow holding such a node is refused when saved, and a
// node that cannot pause but returns PENDING gets an ERROR job (ErrCannotPause).
func CanPause(in Instruction, n *flow.Node) bool {
	if pz, ok := in.(Pauser); ok {
		return pz.CanPause(n)
	}
	_, ok := in.(Resumer)
	return ok
}

// Faults of a node's run that the engine records as an ERROR job (the message
// of the job's result says which node and why); errors.Is matches them on the
// error the executor builds.
var (
	// ErrPanic: the node's Compile, Run, Resume or Submit panicked.
	ErrPanic = errors.New("node panicked")
	// ErrTimeout: the node ran past its timeout.
	ErrTimeout = errors.New("node exceeded its timeout")
	// ErrCannotPause: the node returned a PENDING result but cannot pause.
	ErrCannotPause = errors.New("node returned PENDING but cannot pause")
)

// Message is a response message produced by a response-message node during a
// sync run; it comes back with the sync outcome.
type Message struct {
	Message string `json:"message"`
}

// RunContext is what an instruction sees while it runs.
type RunContext struct {
	// Node being run, and the compiled form its instruction's Compile returned.
	Node     *flow.Node
	Compiled any
	// Workflow version and execution being run. Read only.
	Workflow  *flow.Workflow
	Execution *flow.Execution
	// JobID is the id of the job this run saves (tasks and other rows a node
	// creates can point at it).
	JobID string
	// Scope holds the variables templates and expressions read: $context,
	// $jobsMapByNodeKey, $system, $scopes, $env. Read only.
	Scope expression.Scope
	// Tasks are the approval tasks of the unit of work the node's job is saved
	// in, for nodes that keep tasks while paused (see Submitter).
	Tasks Tasks
	// Records reaches every declared collection's records, whichever
	// implementation backs each one (the store, or the host's
	// storage.Records). Calls made with the ctx Run receives run in the unit
	// of work the node's job is saved in.
	Records storage.RecordAccess
	// Collections looks up declared collections.
	Collections CollectionLookup
	// Logger is the engine's logger.
	Logger *slog.Logger
	// Now is the engine's clock reading when the node started.
	Now time.Time

	messages *[]Message
	attempt  int
}

// AddMessage adds a response message to the sync outcome of the current action.
func (r *RunContext) AddMessage(m Message) {
	if r.messages != nil {
		*r.messages = append(*r.messages, m)
	}
}

// records returns Records, or a records access that fails every call when
// the run context has none (one built by hand in a test).
func (r *RunContext) records() storage.RecordAccess {
	if r.Records != nil {
		return r.Records
	}
	return noRecords{}
}

// noRecords fails every call: the run context reaches no records.
type noRecords struct{}

var errNoRecords = fmt.Errorf("nodes: the run context reaches no records: %w", storage.ErrNotSupported)

func (noRecords) CreateRecord(context.Context, string, flow.Record) (flow.Record, error) {
	return nil, errNoRecords
}
func (noRecords) GetRecord(context.Context, string, flow.Record, []string) (flow.Record, error) {
	return nil, errNoRecords
}
func (noRecords) ListRecords(context.Context, string, storage.Filter, []string) ([]flow.Record, error) {
	return nil, errNoRecords
}
func (noRecords) UpdateRecords(context.Context, string, storage.Filter, flow.Record) ([]flow.Record, error) {
	return nil, errNoRecords
}

// SetMessageSink directs AddMessage into dst. The executor calls it; instructions
// do not need it.
func (r *RunContext) SetMessageSink(dst *[]Message) { r.messages = dst }

// CollectionLookup finds a declared collection by its full name
// ("posts", "another:posts").
type CollectionLookup interface {
	Collection(name string) (*flow.Collection, bool)
}

// CompileContext is what an instruction sees while its node is validated.
type CompileContext struct {
	// Workflow being saved.
	Workflow *flow.Workflow
	// Collections declared by the host.
	Collections CollectionLookup
	// Calculators used by the basic condition engine.
	Calculators *expression.Calculators
	// NodeKeys lists every node key of the workflow.
	NodeKeys map[string]bool
}

// Invalid builds the validation error for a node's config field.
func (c *CompileContext) Invalid(node *flow.Node, field, msg string, cause error) error {
	return &flow.ValidationError{Workflow: c.Workflow.Key, Node: node.Key, Field: field, Message: msg, Err: cause}
}

// Registry maps node type names to instructions. Register every custom node
// before handing the registry to the engine; lookups are safe for concurrent use.
type Registry struct {
	mu sync.RWMutex
	m  map[string]Instruction
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{m: map[string]Instruction{}} }

// DefaultRegistry returns a new registry holding the built-in nodes.
func DefaultRegistry() *Registry {
	r := NewRegistry()
	r.MustRegister("condition", Condition{})
	r.MustRegister("create", Create{})
	r.MustRegister("end", End{})
	r.MustRegister("manual", Manual{})
	r.MustRegister("response-message", ResponseMessage{})
	return r
}

// Register adds an instruction under name. A taken name is ErrDuplicateInstruction.
func (r *Registry) Register(name string, in Instruction) error {
	if name == "" || in == nil {
		return fmt.Errorf("nodes: register: empty name or nil instruction")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[name]; ok {
		return fmt.Errorf("nodes: register %q: %w", name, ErrDuplicateInstruction)
	}
	r.m[name] = in
	return nil
}

// MustRegister is Register for static wiring: it panics on error.
func (r *Registry) MustRegister(name string, in Instruction) {
	if err := r.Register(name, in); err != nil {
		panic(err)
	}
}

// Lookup returns the instruction registered under name.
func (r *Registry) Lookup(name string) (Instruction, bool) {
	r.mu.RLock()
	in, ok := r.m[name]
	r.mu.RUnlock()
	return in, ok
}

// Names lists the registered node types, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.m))
	for k := range r.m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
