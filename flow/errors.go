package flow

import "errors"

// Sentinel errors. Every error the library returns for one of these conditions
// wraps the matching sentinel, so callers test with errors.Is.
var (
	// ErrNotFound: the workflow, execution, job, task or record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrDuplicate: an object with the same identity already exists.
	ErrDuplicate = errors.New("duplicate")
	// ErrConflict: a compare-and-set lost (the object changed since it was read).
	ErrConflict = errors.New("conflict")
	// ErrLeaseLost: a worker touched an execution whose lease it no longer holds.
	ErrLeaseLost = errors.New("lease lost")
	// ErrInvalidWorkflow: a workflow document failed validation.
	ErrInvalidWorkflow = errors.New("invalid workflow")
	// ErrFrozen: a workflow version that has run can no longer change its config or nodes.
	ErrFrozen = errors.New("workflow version is frozen")
	// ErrUnknownCollection: a collection name that was not declared.
	ErrUnknownCollection = errors.New("unknown collection")
	// ErrUnknownField: a field name that the collection does not declare.
	ErrUnknownField = errors.New("unknown field")
	// ErrInvalidCollection: a collection declaration that cannot be compiled
	// (no name, a field declared twice, an association missing its keys...).
	ErrInvalidCollection = errors.New("invalid collection")
	// ErrInvalidRecord: data that is not a record of the collection.
	ErrInvalidRecord = errors.New("invalid record")
	// ErrStorage: the store failed; the underlying error is wrapped too.
	ErrStorage = errors.New("storage error")
)

// ValidationError names what is wrong and where in a workflow document.
// It wraps ErrInvalidWorkflow and, when there is one, the underlying cause
// (for example ErrUnknownField or an expression compile error).
type ValidationError struct {
	Workflow string // workflow key, if known
	Node     string // node key, empty for workflow-level problems
	Field    string // the config field, e.g. "config.expression"
	Message  string
	Err      error // underlying cause, may be nil
}

func (e *ValidationError) Error() string {
	s := "invalid workflow"
	if e.Workflow != "" {
		s += " " + quote(e.Workflow)
	}
	if e.Node != "" {
		s += ": node " + quote(e.Node)
	}
	if e.Field != "" {
		s += ": " + e.Field
	}
	s += ": " + e.Message
	if e.Err != nil && e.Message != e.Err.Error() {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns ErrInvalidWorkflow and the underlying cause.
func (e *ValidationError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalidWorkflow, e.Err}
	}
	return []error{ErrInvalidWorkflow}
}

func quote(s string) string { return "\"" + s + "\"" }
