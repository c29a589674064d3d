package expression

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
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
type Program struct {
	src    string
	prog   *vm.Program
	refs   []string
	budget uint
}

// Option configures Compile.
type Option func(*programConfig)

type programConfig struct {
	maxNodes     uint
	memoryBudget uint
	exprOpts     []expr.Option
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
	cfg := programConfig{maxNodes: DefaultMaxNodes, memoryBudget: DefaultMemoryBudget}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	return compile(src, cfg)
}

func compile(src string, cfg programConfig) (p *Program, err error) {
	rewritten, placeholders := substitutePlaceholders(src)
	pt := &patcher{
		placeholders: placeholders,
		callees:      map[ast.Node]bool{},
		locals:       map[string]bool{},
		paths:        map[*ast.CallNode]*pathRef{},
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
	return &Program{src: src, prog: prog, refs: pt.liveRefs(), budget: cfg.memoryBudget}, nil
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

var vmPool = sync.Pool{New: func() any { return new(vm.VM) }}

// Run evaluates the program against s using a pooled VM. Run-time errors
// (type errors, exceeded memory budget, ...) wrap ErrExpression. A NaN or
// infinite float64 result is returned as nil.
func (p *Program) Run(s Scope) (any, error) {
	if p == nil || p.prog == nil {
		return nil, fmt.Errorf("%w: nil program", ErrExpression)
	}
	m := vmPool.Get().(*vm.VM)
	m.MemoryBudget = p.budget
	out, err := m.Run(p.prog, map[string]any(s))
	// Drop references to scope values before pooling the VM.
	clear(m.Stack[:cap(m.Stack)])
	clear(m.Variables)
	vmPool.Put(m)
	if err != nil {
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
	paths        map[*ast.CallNode]*pathRef
	order        []*pathRef
}

type pathRef struct {
	path *keyPath
	dead bool // merged into a longer path
}

func (pt *patcher) liveRefs() []string {
	var refs []string
	seen := map[string]bool{}
	for _, r := range pt.order {
		if !r.dead && !seen[r.path.raw] {
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
		if !strings.HasPrefix(n.Value, "$") || pt.callees[n] || pt.locals[n.Value] {
			return
		}
		raw := n.Value
		if strings.HasPrefix(raw, placeholderPrefix) {
			if i, err := strconv.Atoi(raw[len(placeholderPrefix):]); err == nil && i >= 0 && i < len(pt.placeholders) {
				raw = pt.placeholders[i]
			}
		}
		pt.replace(node, compilePath(raw))
	case *ast.MemberNode:
		if pt.callees[n] || n.Method {
			return
		}
		if call, ok := n.Node.(*ast.CallNode); ok {
			if ref, ours := pt.paths[call]; ours {
				if seg, static := staticSegment(n.Property); static {
					ref.dead = true
					pt.replace(node, ref.path.extend(seg))
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

func (pt *patcher) replace(node *ast.Node, kp *keyPath) {
	loc := (*node).Location()
	env := &ast.IdentifierNode{Value: "$env"} // expr's whole-environment variable
	env.SetLocation(loc)
	callee := &ast.ConstantNode{Value: func(env any) any { return kp.get(env) }}
	callee.SetLocation(loc)
	call := &ast.CallNode{Callee: callee, Arguments: []ast.Node{env}}
	ast.Patch(node, call)
	ref := &pathRef{path: kp}
	pt.paths[call] = ref
	pt.order = append(pt.order, ref)
}
