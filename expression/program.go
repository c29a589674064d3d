package expression

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// DefaultMaxNodes is the default AST size limit of a Program.
const DefaultMaxNodes = 1000

// DefaultMemoryBudget is the default VM memory budget of a Program (the
// same as expr's own default).
const DefaultMemoryBudget uint = 1e6

// Program is a compiled expr-lang expression (https://expr-lang.org)
// evaluated against a Scope. It is immutable and safe for concurrent use.
//
// Scope roots are identifiers: "$context.data.amount > 500 &&
// $context.user.id == 2". Every member chain rooted at an identifier that
// starts with "$" is resolved with Get semantics: a missing key or index
// yields nil instead of a run-time error, func() any values are called
// ($system.now) and arrays expand columns. Note that "$env" therefore
// denotes the scope's "$env" root, not expr's built-in $env variable.
// Other member accesses are made nil-safe with optional chaining.
//
// NocoBase-style placeholders are accepted too: "{{$context.data.amount}} >
// 500"; each "{{path}}" (path made of letters, digits, "_", "$", "." and
// "-") is bound at run time to Get(scope, path).
//
// What a run builds is bounded (see Limits and WithLimits): string
// concatenation, repeat, join, replace, toJSON and string are checked
// before they allocate, and the results of the other builtins that build
// strings, arrays or maps are accounted for once built. Ranges, array and
// map literals are bounded by the VM memory budget (WithMemoryBudget).
type Program struct {
	src    string
	prog   *vm.Program
	refs   []string
	budget uint
	limits Limits
}

// Option configures Compile.
type Option func(*programConfig)

type programConfig struct {
	maxNodes     uint
	memoryBudget uint
	limits       Limits
	exprOpts     []expr.Option
}

// WithLimits sets the bounds of what an evaluation may build (default
// DefaultLimits; zero fields take their default). It applies to Compile,
// CompileTemplate and CompileCalculation.
func WithLimits(l Limits) Option {
	return func(c *programConfig) { c.limits = l }
}

// newConfig applies opts over the defaults.
func newConfig(opts []Option) programConfig {
	cfg := programConfig{maxNodes: DefaultMaxNodes, memoryBudget: DefaultMemoryBudget}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	cfg.limits = cfg.limits.resolved()
	return cfg
}

// WithMaxNodes limits the size of the expression's syntax tree (default
// DefaultMaxNodes). Zero is ignored.
func WithMaxNodes(n uint) Option {
	return func(c *programConfig) {
		if n > 0 {
			c.maxNodes = n
		}
	}
}

// WithMemoryBudget caps the memory a single Run may allocate for ranges,
// arrays and maps, in expr's units (default DefaultMemoryBudget). Zero is
// ignored.
func WithMemoryBudget(n uint) Option {
	return func(c *programConfig) {
		if n > 0 {
			c.memoryBudget = n
		}
	}
}

// WithExprOptions passes extra options (custom functions, operators, ...)
// to expr.Compile. Options that replace the environment or the node budget
// may break the guarantees of this package.
func WithExprOptions(opts ...expr.Option) Option {
	return func(c *programConfig) { c.exprOpts = append(c.exprOpts, opts...) }
}

// Compile compiles src once. Errors wrap ErrExpression and carry expr's
// message with line, column and a caret snippet of src; an expression
// larger than the node budget is an error.
func Compile(src string, opts ...Option) (*Program, error) {
	return compile(src, newConfig(opts))
}

func compile(src string, cfg programConfig) (p *Program, err error) {
	rewritten, placeholders := substitutePlaceholders(src)
	pt := &patcher{
		placeholders: placeholders,
		callees:      map[ast.Node]bool{},
		locals:       map[string]bool{},
		paths:        map[*ast.CallNode]*pathRef{},
		functions:    map[string]bool{},
		add:          checkedAdd(&cfg.limits),
	}
	if len(cfg.exprOpts) > 0 {
		// Functions added by options are called by name, not looked up
		// in the scope.
		ec := conf.CreateNew()
		for _, o := range cfg.exprOpts {
			o(ec)
		}
		for name := range ec.Functions {
			pt.functions[name] = true
		}
	}
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("%w: %v", ErrExpression, r)
		}
	}()
	eopts := []expr.Option{
		expr.Env(map[string]any{}),
		expr.AllowUndefinedVariables(),
		expr.MaxNodes(cfg.maxNodes),
	}
	eopts = append(eopts, cfg.exprOpts...)
	// expr runs each patch over the whole tree in order: first collect
	// call targets and let names, then rewrite.
	eopts = append(eopts, expr.Patch(collector{pt}), expr.Patch(pt))
	prog, err := expr.Compile(rewritten, eopts...)
	if err != nil {
		return nil, wrapExprError(err, src)
	}
	return &Program{src: src, prog: prog, refs: pt.liveRefs(), budget: cfg.memoryBudget, limits: cfg.limits}, nil
}

// wrapExprError wraps err in ErrExpression, re-binding positioned errors to
// the original source so the snippet shows what the user wrote.
func wrapExprError(err error, src string) error {
	var fe *file.Error
	if errors.As(err, &fe) {
		fe.Bind(file.NewSource(src))
	}
	return fmt.Errorf("%w: %w", ErrExpression, err)
}

// machine is a pooled VM with the state of its current run.
type machine struct {
	vm vm.VM
	st runState
}

var vmPool = sync.Pool{New: func() any { return new(machine) }}

// Run evaluates the program against s using a pooled VM. Run-time errors
// (type errors, exceeded memory budget, ...) wrap ErrExpression; an
// exceeded bound of Limits wraps ErrBudget too. A NaN or infinite float64
// result is returned as nil.
func (p *Program) Run(s Scope) (any, error) {
	if p == nil || p.prog == nil {
		return nil, fmt.Errorf("%w: nil program", ErrExpression)
	}
	m := vmPool.Get().(*machine)
	m.vm.MemoryBudget = p.budget
	m.st = runState{scope: s, lim: &p.limits}
	out, err := m.vm.Run(p.prog, &m.st)
	// Drop references to scope values before pooling the VM.
	clear(m.vm.Stack[:cap(m.vm.Stack)])
	clear(m.vm.Variables)
	m.st = runState{}
	vmPool.Put(m)
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) && fe.Prev == nil && fe.Message == "memory budget exceeded" {
			be := budgetErr("MemoryBudget", int(min(p.budget, math.MaxInt)),
				"allocation of ranges, array and map literals")
			fe.Message = be.Error()
			fe.Wrap(be)
		}
		return nil, wrapExprError(err, p.src)
	}
	if f, ok := out.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
		return nil, nil
	}
	return out, nil
}

// Refs returns the scope paths the program reads ("$context.data.amount"),
// deduplicated, in order of appearance. Dynamic parts (computed indexes)
// end a path.
func (p *Program) Refs() []string {
	if p == nil {
		return nil
	}
	return append([]string(nil), p.refs...)
}

// Source returns the expression as given to Compile.
func (p *Program) Source() string {
	if p == nil {
		return ""
	}
	return p.src
}

// placeholderPrefix names the variables substituted for "{{path}}".
const placeholderPrefix = "$$"

// isPlaceholderPathByte reports whether c may appear in a "{{path}}" of an
// expression (NocoBase: word characters, "$", "." and "-").
func isPlaceholderPathByte(c byte) bool {
	return c == '_' || c == '$' || c == '.' || c == '-' ||
		(c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// substitutePlaceholders replaces every "{{ path }}" by a variable "$$N"
// padded with spaces to the placeholder's length, so error positions stay
// valid. "{{this.x}}" and bodies with other characters are left untouched.
func substitutePlaceholders(src string) (string, []string) {
	if !strings.Contains(src, "{{") {
		return src, nil
	}
	var b strings.Builder
	var paths []string
	index := map[string]int{}
	i := 0
	for {
		j := strings.Index(src[i:], "{{")
		if j < 0 {
			break
		}
		start := i + j
		k := strings.Index(src[start+2:], "}}")
		if k < 0 {
			break
		}
		end := start + 2 + k + 2
		body := strings.TrimSpace(src[start+2 : end-2])
		ok := body != "" && !strings.HasPrefix(body, "this.")
		for n := 0; ok && n < len(body); n++ {
			ok = isPlaceholderPathByte(body[n])
		}
		if !ok {
			b.WriteString(src[i : start+2])
			i = start + 2
			continue
		}
		n, seen := index[body]
		if !seen {
			n = len(paths)
			index[body] = n
			paths = append(paths, body)
		}
		name := placeholderPrefix + strconv.Itoa(n)
		b.WriteString(src[i:start])
		b.WriteString(name)
		for pad := end - start - len(name); pad > 0; pad-- {
			b.WriteByte(' ')
		}
		i = end
	}
	b.WriteString(src[i:])
	return b.String(), paths
}

// patcher rewrites "$"-rooted member chains into calls of a constant
// func(env any) any resolving the path (compiled by expr to a typed call:
// no reflection, no argument slice), and makes the remaining member
// accesses nil-safe.
type patcher struct {
	placeholders []string
	callees      map[ast.Node]bool
	locals       map[string]bool
	functions    map[string]bool // added with expr.Function
	add          func(a, b any) any
	paths        map[*ast.CallNode]*pathRef
	order        []*pathRef
}

type pathRef struct {
	path   *keyPath
	dead   bool // merged into a longer path
	hidden bool // rooted at a plain identifier: not reported by Refs
}

func (pt *patcher) liveRefs() []string {
	var refs []string
	seen := map[string]bool{}
	for _, r := range pt.order {
		if !r.dead && !r.hidden && !seen[r.path.raw] {
			seen[r.path.raw] = true
			refs = append(refs, r.path.raw)
		}
	}
	return refs
}

// collector finds call targets and let-declared names before patching (the
// patcher visits children before parents, so it cannot see them itself).
type collector struct{ pt *patcher }

func (c collector) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.CallNode:
		c.pt.callees[n.Callee] = true
	case *ast.VariableDeclaratorNode:
		c.pt.locals[n.Name] = true
	}
}

func (pt *patcher) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		if pt.locals[n.Value] {
			return
		}
		if !strings.HasPrefix(n.Value, "$") {
			// The run environment is not the scope map: plain
			// identifiers are scope lookups too (not reported by Refs).
			if !pt.functions[n.Value] {
				pt.replace(node, compilePath(n.Value), true)
			}
			return
		}
		raw := n.Value
		if strings.HasPrefix(raw, placeholderPrefix) {
			if i, err := strconv.Atoi(raw[len(placeholderPrefix):]); err == nil && i >= 0 && i < len(pt.placeholders) {
				raw = pt.placeholders[i]
			}
		}
		pt.replace(node, compilePath(raw), false)
	case *ast.BinaryNode:
		if n.Operator == "+" && !(isNumber(n.Left) && isNumber(n.Right)) {
			pt.call(node, pt.add, n.Left, n.Right)
			pt.call(node, chargeResult, pt.env(*node), *node)
		}
	case *ast.PredicateNode:
		pt.call(&n.Node, countStep, pt.env(n.Node), n.Node)
	case *ast.BuiltinNode:
		if fn := checkedBuiltin(n.Name); fn != nil {
			pt.call(node, fn, append([]ast.Node{pt.env(n)}, n.Arguments...)...)
		} else if resultBuiltins[n.Name] {
			pt.call(node, chargeResult, pt.env(n), n)
		}
	case *ast.MemberNode:
		if pt.callees[n] || n.Method {
			return
		}
		if call, ok := n.Node.(*ast.CallNode); ok {
			if ref, ours := pt.paths[call]; ours {
				if seg, static := staticSegment(n.Property); static {
					ref.dead = true
					pt.replace(node, ref.path.extend(seg), ref.hidden)
					return
				}
			}
		}
		n.Optional = true
		ast.Patch(node, &ast.ChainNode{Node: n})
	}
}

// staticSegment returns the path segment of a constant member property.
func staticSegment(prop ast.Node) (string, bool) {
	switch p := prop.(type) {
	case *ast.StringNode:
		if strings.IndexByte(p.Value, '.') >= 0 {
			return "", false
		}
		return p.Value, true
	case *ast.IntegerNode:
		if p.Value >= 0 {
			return strconv.Itoa(p.Value), true
		}
	}
	return "", false
}

func (pt *patcher) replace(node *ast.Node, kp *keyPath, hidden bool) {
	loc := (*node).Location()
	env := &ast.IdentifierNode{Value: "$env"} // expr's whole-environment variable
	env.SetLocation(loc)
	callee := &ast.ConstantNode{Value: func(env any) any { return kp.get(scopeOf(env)) }}
	callee.SetLocation(loc)
	call := &ast.CallNode{Callee: callee, Arguments: []ast.Node{env}}
	ast.Patch(node, call)
	ref := &pathRef{path: kp, hidden: hidden}
	pt.paths[call] = ref
	pt.order = append(pt.order, ref)
}

// call replaces node by a call of the function fn with args. A
// func(any, any) any is compiled to a typed call, which does not allocate;
// a func(...any) any to a fast call, which may allocate its arguments.
func (pt *patcher) call(node *ast.Node, fn any, args ...ast.Node) {
	loc := (*node).Location()
	callee := &ast.ConstantNode{Value: fn}
	callee.SetLocation(loc)
	call := &ast.CallNode{Callee: callee, Arguments: args}
	call.SetLocation(loc)
	ast.Patch(node, call)
}

// env returns expr's whole-environment variable (the run state), located
// at at.
func (pt *patcher) env(at ast.Node) ast.Node {
	env := &ast.IdentifierNode{Value: "$env"}
	env.SetLocation(at.Location())
	return env
}

// isNumber reports whether the checker typed n as a number.
func isNumber(n ast.Node) bool {
	t := n.Type()
	if t == nil {
		return false
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}
