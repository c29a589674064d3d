package actiontrigger

import (
	"fmt"
	"slices"
	"strings"

	"github.com/actiontrigger/actiontrigger/flow"
)

// BindingPolicy decides what happens to triggerWorkflows entries that cannot run.
type BindingPolicy int

const (
	// Strict (the default): an entry naming an unknown or disabled workflow, or one
	// whose collection does not match, fails the whole call with a *BindingError
	// listing every bad entry, and nothing runs.
	Strict BindingPolicy = iota
	// Lenient ignores such entries silently, as the reference system does.
	Lenient
)

// Binding is one entry of triggerWorkflows: a workflow key and an optional
// to-one association path ("category", "post.category") from the action's
// collection to the record the workflow runs on.
type Binding struct {
	Key  string `json:"workflowKey"`
	Path string `json:"context,omitempty"`
}

// String formats the binding as in triggerWorkflows: "key" or "key!path".
func (b Binding) String() string {
	if b.Path == "" {
		return b.Key
	}
	return b.Key + "!" + b.Path
}

// ParseTriggerWorkflows parses "key1,key2!path,..." into bindings, in order.
// Keys are not trimmed. Further "!" parts of an entry are ignored, as in the
// reference. Duplicate keys are returned once, at their first position, with
// the path of their last occurrence. An empty string yields no bindings.
//
// Problems are reported for entries with an empty key (dropped), an empty path
// after "!" (kept without a path, as the reference reads it) and a path with an
// empty segment (dropped).
func ParseTriggerWorkflows(s string) ([]Binding, []BindingProblem) {
	if s == "" {
		return nil, nil
	}
	var out []Binding
	var problems []BindingProblem
	pos := map[string]int{}
	for _, item := range strings.Split(s, ",") {
		key, path, hasPath := strings.Cut(item, "!")
		if i := strings.IndexByte(path, '!'); i >= 0 {
			path = path[:i]
		}
		if key == "" {
			problems = append(problems, BindingProblem{Key: key, Path: path, Reason: "empty workflow key"})
			continue
		}
		if hasPath && path == "" {
			problems = append(problems, BindingProblem{Key: key, Reason: "empty association path after \"!\""})
		}
		if path != "" && slices.Contains(strings.Split(path, "."), "") {
			problems = append(problems, BindingProblem{Key: key, Path: path, Reason: "association path has an empty segment"})
			continue
		}
		if i, ok := pos[key]; ok {
			out[i].Path = path
			continue
		}
		pos[key] = len(out)
		out = append(out, Binding{Key: key, Path: path})
	}
	return out, problems
}

// FormatTriggerWorkflows is the inverse of ParseTriggerWorkflows.
func FormatTriggerWorkflows(bs []Binding) string {
	parts := make([]string, len(bs))
	for i, b := range bs {
		parts[i] = b.String()
	}
	return strings.Join(parts, ",")
}

// walkPath resolves a to-one association path from coll and returns the
// collection it reaches and the associations walked.
func (e *Engine) walkPath(coll *flow.Collection, path string) (*flow.Collection, []*flow.Association, error) {
	if path == "" {
		return coll, nil, nil
	}
	cur := coll
	var walked []*flow.Association
	for _, seg := range strings.Split(path, ".") {
		cs, _ := e.schema.Collection(cur.FullName())
		a := cs.Assocs[seg]
		if a == nil {
			if _, ok := cs.Columns[seg]; ok {
				return nil, nil, fmt.Errorf("field %q of %q is not an association: %w", seg, cur.FullName(), flow.ErrUnknownField)
			}
			return nil, nil, fmt.Errorf("%q has no field %q: %w", cur.FullName(), seg, flow.ErrUnknownField)
		}
		if !a.Kind.ToOne() {
			return nil, nil, fmt.Errorf("association %q of %q is to-many (%s); only to-one paths (belongsTo, hasOne) can carry event data: %w", seg, cur.FullName(), a.Kind, ErrBinding)
		}
		walked = append(walked, a)
		cur = e.collections[a.Target] // CompileSchema checked it is declared
	}
	return cur, walked, nil
}
