// Package executor runs executions: it compiles a workflow version into a Plan
// (validating every node once, when the workflow is saved), walks the node graph
// with the reference system's branch semantics, persists one job per node run,
// pauses on PENDING jobs and resumes them, and runs claimed executions on a
// bounded pool of workers.
package executor

import (
	"fmt"
	"sort"
	"time"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
)

// maxDepth bounds branch nesting so a hostile document cannot blow the stack.
const maxDepth = 64

// Plan is a compiled workflow version: every node validated and compiled, linked
// into lines and branches. Plans are immutable and safe for concurrent use.
type Plan struct {
	Workflow *flow.Workflow
	head     *Step
	steps    map[string]*Step
	canPause bool
	// atomic: every node is nodes.Atomic, so a run may be one unit of work.
	atomic bool
}

// Atomic reports whether every node of the plan is atomic (nodes.Atomic), so
// that a run is one unit of work.
func (p *Plan) Atomic() bool { return p.atomic }

// Step is one compiled node of a plan.
type Step struct {
	Node        *flow.Node
	Instruction nodes.Instruction
	Compiled    any
	atomic      bool
	// canPause: the node may leave its job PENDING (nodes.CanPause).
	canPause bool
	// timeout is the node's own timeout (flow.Node.Timeout; 0: the default).
	timeout time.Duration
	// retry is the node's retry policy (its own, else the workflow's; nil:
	// none).
	retry *flow.RetryPolicy
	// waker: the node's pending jobs act at a time of their own.
	waker    nodes.Waker
	next     *Step
	parent   *Step
	branches map[int]*Step
}

// Step returns the compiled node with the given key.
func (p *Plan) Step(key string) (*Step, bool) {
	s, ok := p.steps[key]
	return s, ok
}

// RetryPolicy is the node's retry policy: its own, else its workflow's (nil:
// none). A job of a node with one that ended ERROR lists its last attempt.
func (s *Step) RetryPolicy() *flow.RetryPolicy { return s.retry }

// CanPause reports whether some node of the plan can leave a PENDING job.
func (p *Plan) CanPause() bool { return p.canPause }

// Len is the number of nodes.
func (p *Plan) Len() int { return len(p.steps) }

// compile validates wf and compiles it into a Plan. Errors are
// *flow.ValidationError values naming the node and the field.
func compile(wf *flow.Workflow, reg *nodes.Registry, cc *nodes.CompileContext) (*Plan, error) {
	p := &Plan{Workflow: wf, steps: map[string]*Step{}, atomic: true}
	keys := map[string]bool{}
	if err := collectKeys(wf, wf.Nodes, keys, 0); err != nil {
		return nil, err
	}
	cc.NodeKeys = keys
	cc.Workflow = wf
	if r := wf.Options.Retry; r != nil {
		if err := r.Validate(); err != nil {
			return nil, &flow.ValidationError{Workflow: wf.Key, Field: "options.retry", Message: err.Error()}
		}
		if wf.Sync {
			return nil, &flow.ValidationError{Workflow: wf.Key, Field: "options.retry", Message: "a sync workflow is never retried (its run fails the request at once); remove options.retry or make the workflow async"}
		}
	}
	head, err := p.compileLine(wf, reg, cc, wf.Nodes, nil)
	if err != nil {
		return nil, err
	}
	p.head = head
	if wf.Sync && p.canPause {
		for _, key := range sortedKeys(p.steps) {
			if s := p.steps[key]; s.canPause {
				return nil, &flow.ValidationError{Workflow: wf.Key, Node: s.Node.Key, Field: "type",
					Message: fmt.Sprintf("node type %q can pause, which a sync workflow cannot wait for; make the workflow async", s.Node.Type)}
			}
		}
	}
	return p, nil
}

func collectKeys(wf *flow.Workflow, line []flow.Node, keys map[string]bool, depth int) error {
	if depth > maxDepth {
		return &flow.ValidationError{Workflow: wf.Key, Message: fmt.Sprintf("branches nest deeper than %d levels", maxDepth)}
	}
	for i := range line {
		n := &line[i]
		if n.Key == "" {
			return &flow.ValidationError{Workflow: wf.Key, Field: "nodes", Message: fmt.Sprintf("node #%d (type %q) has no key", i+1, n.Type)}
		}
		if keys[n.Key] {
			return &flow.ValidationError{Workflow: wf.Key, Node: n.Key, Field: "key", Message: "duplicate node key", Err: flow.ErrDuplicate}
		}
		keys[n.Key] = true
		for _, b := range sortedBranches(n.Branches) {
			if err := collectKeys(wf, n.Branches[b], keys, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *Plan) compileLine(wf *flow.Workflow, reg *nodes.Registry, cc *nodes.CompileContext, line []flow.Node, parent *Step) (*Step, error) {
	var head, prev *Step
	for i := range line {
		n := &line[i]
		in, ok := reg.Lookup(n.Type)
		if !ok {
			return nil, &flow.ValidationError{Workflow: wf.Key, Node: n.Key, Field: "type",
				Message: fmt.Sprintf("unknown node type %q (registered: %v)", n.Type, reg.Names())}
		}
		if n.Timeout < 0 {
			return nil, &flow.ValidationError{Workflow: wf.Key, Node: n.Key, Field: "timeout",
				Message: fmt.Sprintf("timeout must be 0 (the engine's default) or a positive number of milliseconds, not %d", n.Timeout)}
		}
		if n.Retry != nil {
			if err := n.Retry.Validate(); err != nil {
				return nil, &flow.ValidationError{Workflow: wf.Key, Node: n.Key, Field: "retry", Message: err.Error()}
			}
			if wf.Sync {
				return nil, &flow.ValidationError{Workflow: wf.Key, Node: n.Key, Field: "retry", Message: "a sync workflow is never retried (its run fails the request at once); remove the node's retry or make the workflow async"}
			}
		}
		compiled, err := compileNode(in, cc, wf, n)
		if err != nil {
			return nil, err
		}
		s := &Step{Node: n, Instruction: in, Compiled: compiled, parent: parent, timeout: time.Duration(n.Timeout) * time.Millisecond, retry: n.Retry}
		if s.retry == nil {
			s.retry = wf.Options.Retry
		}
		s.waker, _ = in.(nodes.Waker)
		if a, ok := in.(nodes.Atomic); ok && a.Atomic() {
			s.atomic = true
		} else {
			p.atomic = false
		}
		if nodes.CanPause(in, n) {
			s.canPause, p.canPause = true, true
		}
		if len(n.Branches) > 0 {
			br, ok := in.(nodes.Brancher)
			if !ok {
				return nil, &flow.ValidationError{Workflow: wf.Key, Node: n.Key, Field: "branches",
					Message: fmt.Sprintf("node type %q has no branches", n.Type)}
			}
			allowed := map[int]bool{}
			for _, b := range br.BranchIndexes() {
				allowed[b] = true
			}
			s.branches = map[int]*Step{}
			for _, b := range sortedBranches(n.Branches) {
				if !allowed[b] {
					return nil, &flow.ValidationError{Workflow: wf.Key, Node: n.Key, Field: "branches",
						Message: fmt.Sprintf("node type %q has no branch %d (allowed: %v)", n.Type, b, br.BranchIndexes())}
				}
				bh, err := p.compileLine(wf, reg, cc, n.Branches[b], s)
				if err != nil {
					return nil, err
				}
				if bh != nil {
					s.branches[b] = bh
				}
			}
		}
		p.steps[n.Key] = s
		if prev == nil {
			head = s
		} else {
			prev.next = s
		}
		prev = s
	}
	return head, nil
}

func sortedKeys(m map[string]*Step) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedBranches(m map[int][]flow.Node) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

// compileNode runs an instruction's Compile, turning a panic into the
// validation error of the node (wrapping nodes.ErrPanic), so that a faulty
// custom node refuses the save instead of crashing its caller.
func compileNode(in nodes.Instruction, cc *nodes.CompileContext, wf *flow.Workflow, n *flow.Node) (compiled any, err error) {
	defer func() {
		if v := recover(); v != nil {
			compiled, err = nil, &flow.ValidationError{Workflow: wf.Key, Node: n.Key, Field: "config",
				Message: fmt.Sprintf("node type %q panicked compiling it: %v", n.Type, v), Err: nodes.ErrPanic}
		}
	}()
	return in.Compile(cc, n)
}
