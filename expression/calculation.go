package expression

import (
	"fmt"
	"reflect"
	"strconv"
)

// Calculation is a compiled "basic" condition: a tree of calculator leaves
// and and/or groups, as stored in a condition node's config:
//
//	{"calculator": "equal", "operands": ["{{$context.data.read}}", 1]}
//	{"group": {"type": "and", "calculations": [ ...leaves or groups ]}}
//
// Operands are templates rendered against the scope at evaluation time.
// A Calculation is immutable and safe for concurrent use.
type Calculation struct {
	root      calcNode
	refs      []string
	maxRender int
}

// calcNode is a compiled calculation node. eval returns used plus the
// bytes of text its operands rendered (see tnode).
type calcNode interface {
	eval(s map[string]any, used, limit int) (bool, int, error)
}

// trueNode is a missing or empty calculation.
type trueNode struct{}

func (trueNode) eval(_ map[string]any, used, _ int) (bool, int, error) { return true, used, nil }

type groupNode struct {
	or    bool
	items []calcNode
}

func (g *groupNode) eval(s map[string]any, used, limit int) (bool, int, error) {
	for _, it := range g.items {
		r, u, err := it.eval(s, used, limit)
		if err != nil {
			return false, u, err
		}
		used = u
		if r == g.or {
			return r, used, nil // or: first true; and: first false
		}
	}
	return !g.or, used, nil
}

type leafNode struct {
	name     string
	fn       Calculator
	bin      func(a, b any) bool
	operands []tnode
}

func (l *leafNode) eval(s map[string]any, used, limit int) (bool, int, error) {
	if l.bin != nil {
		var a, b any
		if a, used = l.operands[0].render(s, used, limit); used > limit {
			return false, used, renderErr(used, limit)
		}
		if len(l.operands) > 1 {
			if b, used = l.operands[1].render(s, used, limit); used > limit {
				return false, used, renderErr(used, limit)
			}
		}
		return l.bin(a, b), used, nil
	}
	args := make([]any, len(l.operands))
	for i, o := range l.operands {
		if args[i], used = o.render(s, used, limit); used > limit {
			return false, used, renderErr(used, limit)
		}
	}
	r, err := l.call(args)
	return r, used, err
}

// call runs a custom calculator, turning a panic into an error.
func (l *leafNode) call(args []any) (r bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			r, err = false, fmt.Errorf("%w: calculator %q panicked: %v", ErrCalculation, l.name, p)
		}
	}()
	return l.fn(args...), nil
}

// unknownCalculatorError carries NocoBase's exact message.
type unknownCalculatorError struct{ name string }

func (e *unknownCalculatorError) Error() string {
	return fmt.Sprintf("no calculator function registered for %q", e.name)
}

func (e *unknownCalculatorError) Unwrap() error { return ErrUnknownCalculator }

// CompileCalculation parses a calculation tree once, compiling operands as
// templates and looking calculators up in calcs (nil means the built-ins).
//
// Rules (NocoBase logicCalculate): a nil calculation, an empty object, a
// leaf without calculator and a leaf with empty operands are always true;
// an "and" group of nothing is true, an "or" group of nothing is false.
//
// Errors: an unknown calculator wraps ErrUnknownCalculator and its message
// is exactly `no calculator function registered for "<name>"`; a malformed
// shape (not an object, a group type other than "and"/"or", calculations or
// operands that are not arrays, a calculator that is not a string) wraps
// ErrCalculation and names the JSON path of the problem, such as
// "group.calculations[1].operands"; a bad placeholder in an operand wraps
// ErrTemplate, and so do more placeholders in all the operands than
// Limits.MaxTemplatePlaceholders (see WithLimits; other options are
// ignored), with ErrBudget.
func CompileCalculation(v any, calcs *Calculators, opts ...Option) (*Calculation, error) {
	lim := &defaultLimits
	if len(opts) > 0 {
		l := newConfig(opts).limits
		lim = &l
	}
	c := &ccompiler{calcs: calcs, t: &tcompiler{seen: map[string]bool{}}}
	root, err := c.compile(v, "")
	if err != nil {
		return nil, err
	}
	if err := c.t.checkCount(lim); err != nil {
		return nil, err
	}
	return &Calculation{root: root, refs: c.t.refs, maxRender: lim.MaxRenderBytes}, nil
}

// Evaluate renders the operands against s and evaluates the tree. It fails
// when a custom calculator panics (the error wraps ErrCalculation) and
// when the text the operands render exceeds Limits.MaxRenderBytes (a
// *BudgetError; the error wraps ErrTemplate and ErrBudget).
func (c *Calculation) Evaluate(s Scope) (bool, error) {
	if c == nil || c.root == nil {
		return true, nil
	}
	r, _, err := c.root.eval(map[string]any(s), 0, c.maxRender)
	return r, err
}

// Refs returns the key paths of all placeholders in the operands,
// deduplicated, in order of appearance.
func (c *Calculation) Refs() []string {
	if c == nil {
		return nil
	}
	return append([]string(nil), c.refs...)
}

// Calculate compiles and evaluates calculation in one step, with the
// default Limits.
func Calculate(calculation any, calcs *Calculators, s Scope) (bool, error) {
	c, err := CompileCalculation(calculation, calcs)
	if err != nil {
		return false, err
	}
	return c.Evaluate(s)
}

type ccompiler struct {
	calcs *Calculators
	t     *tcompiler
}

func pathErr(at, format string, args ...any) error {
	if at == "" {
		at = "calculation"
	}
	return fmt.Errorf("%w: %s: %s", ErrCalculation, at, fmt.Sprintf(format, args...))
}

func (c *ccompiler) compile(v any, at string) (calcNode, error) {
	if v == nil {
		return trueNode{}, nil
	}
	obj, ok := asObject(v)
	if !ok {
		return nil, pathErr(at, "expected an object, got %T", v)
	}
	if g, has := obj["group"]; has {
		return c.compileGroup(g, joinAt(at, "group"))
	}
	return c.compileLeaf(obj, at)
}

func (c *ccompiler) compileGroup(v any, at string) (calcNode, error) {
	obj, ok := asObject(v)
	if !ok {
		return nil, pathErr(at, "expected an object, got %T", v)
	}
	g := &groupNode{}
	switch t := obj["type"]; t {
	case "and":
	case "or":
		g.or = true
	default:
		return nil, pathErr(joinAt(at, "type"), "group type must be \"and\" or \"or\", got %#v", t)
	}
	items, ok := asList(obj["calculations"])
	if !ok {
		return nil, pathErr(joinAt(at, "calculations"), "expected an array, got %T", obj["calculations"])
	}
	for i, it := range items {
		n, err := c.compile(it, joinAt(at, "calculations")+"["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		g.items = append(g.items, n)
	}
	return g, nil
}

func (c *ccompiler) compileLeaf(obj map[string]any, at string) (calcNode, error) {
	var name string
	switch x := obj["calculator"].(type) {
	case nil:
	case string:
		name = x
	default:
		return nil, pathErr(joinAt(at, "calculator"), "expected a string, got %T", x)
	}
	ops, ok := asList(obj["operands"])
	if !ok {
		return nil, pathErr(joinAt(at, "operands"), "expected an array, got %T", obj["operands"])
	}
	if name == "" || len(ops) == 0 {
		return trueNode{}, nil
	}
	e, found := c.calcs.lookup(name)
	if !found {
		return nil, &unknownCalculatorError{name: name}
	}
	l := &leafNode{name: name, fn: e.fn, operands: make([]tnode, len(ops))}
	if len(ops) <= 2 {
		l.bin = e.bin
	}
	for i, o := range ops {
		n, err := c.t.compile(o, joinAt(at, "operands")+"["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		l.operands[i] = n
	}
	return l, nil
}

// asObject accepts map[string]any and other maps with string keys.
func asObject(v any) (map[string]any, bool) {
	if m, ok := v.(map[string]any); ok {
		return m, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String {
		return nil, false
	}
	m := make(map[string]any, rv.Len())
	for it := rv.MapRange(); it.Next(); {
		m[it.Key().String()] = it.Value().Interface()
	}
	return m, true
}

// asList accepts nil (empty), []any and other slices or arrays.
func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case []any:
		return x, true
	}
	rv := reflect.ValueOf(v)
	if !isList(rv) {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}
