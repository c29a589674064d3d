package expression

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/vm/runtime"
)

// Default bounds of Limits. A workflow definition is written by users of
// the host application, so what one evaluation may build is capped: an
// expression like `reduce(1..32, #acc + #acc, "x")` would otherwise build a
// 4 GiB string, and a template with many placeholders over a long value
// renders megabytes on every run.
const (
	// DefaultMaxStringBytes is the default length, in bytes, of the
	// longest string an expression may build.
	DefaultMaxStringBytes = 1 << 20
	// DefaultMaxArrayLen is the default length of the longest array an
	// expression may build.
	DefaultMaxArrayLen = 1_000_000
	// DefaultMaxRunBytes is the default total size, in bytes, of the
	// strings and arrays one Program.Run may build.
	DefaultMaxRunBytes = 32 << 20
	// DefaultMaxRenderBytes is the default total length, in bytes, of the
	// text one template render may build.
	DefaultMaxRenderBytes = 1 << 20
	// DefaultMaxTemplatePlaceholders is the default number of placeholders
	// a template (or all the operands of a calculation) may contain.
	DefaultMaxTemplatePlaceholders = 1000
	// DefaultMaxSteps is the default number of predicate evaluations (loop
	// iterations of map, filter, all, reduce, ...) of one Program.Run.
	DefaultMaxSteps = 1_000_000
)

// Limits bounds what an evaluation may build. A zero field takes its
// default (the Default* constants); a negative field disables that bound.
// Pass Limits to Compile, CompileTemplate and CompileCalculation with
// WithLimits.
//
// Exceeding a bound is an error wrapping ErrBudget (and ErrExpression,
// ErrTemplate or ErrCalculation) whose message names the bound. Bounds that
// can be checked on the definition (MaxTemplatePlaceholders) fail at
// compile time; the others fail the evaluation before the oversized value
// is allocated where its size can be computed in advance (string
// concatenation, repeat, join, replace, toJSON, string, concat, flatten),
// and right after it otherwise.
type Limits struct {
	// MaxStringBytes caps the length of any single string an expression
	// builds ("+" on strings, repeat, join, replace, upper, lower, toJSON,
	// string, toBase64, ...).
	MaxStringBytes int
	// MaxArrayLen caps the length of any single array an expression builds
	// with concat, flatten, split, map, filter, keys, values, ...
	// Ranges and array literals are also bounded by the VM memory budget
	// (WithMemoryBudget).
	MaxArrayLen int
	// MaxRunBytes caps the total size of the strings and arrays built by
	// one Program.Run: a string counts its length, an array or map 16
	// bytes per element. It bounds loops that build many values each
	// under the per-value bounds.
	MaxRunBytes int
	// MaxRenderBytes caps the total length of the text one
	// Template.RenderChecked (or Calculation.Evaluate) builds by
	// substituting placeholders into strings. Values returned whole (a
	// string that is exactly one placeholder) are not copied and do not
	// count.
	MaxRenderBytes int
	// MaxTemplatePlaceholders caps the number of placeholders of a
	// template, or of all the operands of a calculation, counted at
	// compile time.
	MaxTemplatePlaceholders int
	// MaxSteps caps the number of predicate evaluations (the iterations
	// of map, filter, all, any, reduce, sortBy, ...) of one Program.Run,
	// nested loops included. expr cannot be interrupted, and a loop that
	// builds nothing escapes the other bounds.
	MaxSteps int
}

// DefaultLimits returns the default bounds.
func DefaultLimits() Limits {
	return Limits{
		MaxStringBytes:          DefaultMaxStringBytes,
		MaxArrayLen:             DefaultMaxArrayLen,
		MaxRunBytes:             DefaultMaxRunBytes,
		MaxRenderBytes:          DefaultMaxRenderBytes,
		MaxTemplatePlaceholders: DefaultMaxTemplatePlaceholders,
		MaxSteps:                DefaultMaxSteps,
	}
}

// resolved replaces zero fields by their defaults and negative ones by
// "unbounded".
func (l Limits) resolved() Limits {
	d := DefaultLimits()
	fix := func(v *int, def int) {
		switch {
		case *v == 0:
			*v = def
		case *v < 0:
			*v = math.MaxInt
		}
	}
	fix(&l.MaxStringBytes, d.MaxStringBytes)
	fix(&l.MaxArrayLen, d.MaxArrayLen)
	fix(&l.MaxRunBytes, d.MaxRunBytes)
	fix(&l.MaxRenderBytes, d.MaxRenderBytes)
	fix(&l.MaxTemplatePlaceholders, d.MaxTemplatePlaceholders)
	fix(&l.MaxSteps, d.MaxSteps)
	return l
}

// defaultLimits are the resolved defaults, shared by everything compiled
// without WithLimits.
var defaultLimits = DefaultLimits()

// BudgetError reports an exceeded bound of Limits (or of the VM memory
// budget, Bound "MemoryBudget"). It wraps ErrBudget; the errors of this
// package that carry it also wrap the sentinel of what was being evaluated
// (ErrExpression, ErrTemplate or ErrCalculation).
type BudgetError struct {
	// Bound names the exceeded field of Limits, such as "MaxStringBytes".
	Bound string
	// Limit is the bound's value.
	Limit int
	// Detail says what would have exceeded it.
	Detail string
}

// Error implements error, for example "budget exceeded: string of 2097152
// bytes exceeds MaxStringBytes (1048576)".
func (e *BudgetError) Error() string {
	return fmt.Sprintf("budget exceeded: %s exceeds %s (%d)", e.Detail, e.Bound, e.Limit)
}

// Unwrap returns ErrBudget.
func (e *BudgetError) Unwrap() error { return ErrBudget }

func budgetErr(bound string, limit int, format string, args ...any) *BudgetError {
	return &BudgetError{Bound: bound, Limit: limit, Detail: fmt.Sprintf(format, args...)}
}

// runState is the environment a Program runs against: the scope and what
// the run has built so far. It is pooled with the VM.
type runState struct {
	scope map[string]any
	lim   *Limits
	used  int
	steps int
}

// scopeOf returns the scope of a run environment.
func scopeOf(env any) map[string]any {
	switch e := env.(type) {
	case *runState:
		return e.scope
	case map[string]any:
		return e
	}
	return nil
}

// stateOf returns the run state of env; a program run outside Run (raw
// expr.Run in benchmarks) gets a fresh state with default bounds.
func stateOf(env any) *runState {
	if st, ok := env.(*runState); ok {
		return st
	}
	return &runState{scope: scopeOf(env), lim: &defaultLimits}
}

// chargeString accounts for a string of n bytes about to be built.
func (st *runState) chargeString(n int) {
	if n > st.lim.MaxStringBytes {
		panic(budgetErr("MaxStringBytes", st.lim.MaxStringBytes, "string of %d bytes", n))
	}
	st.charge(n)
}

// chargeArray accounts for an array or map of n elements about to be
// built.
func (st *runState) chargeArray(n int) {
	if n > st.lim.MaxArrayLen {
		panic(budgetErr("MaxArrayLen", st.lim.MaxArrayLen, "array of %d elements", n))
	}
	st.charge(16 * n)
}

func (st *runState) charge(n int) {
	if n > st.lim.MaxRunBytes-st.used {
		panic(budgetErr("MaxRunBytes", st.lim.MaxRunBytes,
			"building %d more bytes after %d", n, st.used))
	}
	st.used += n
}

// chargeValue accounts for a value a builtin has built (strings by length,
// arrays and maps by element count); other values are free.
func (st *runState) chargeValue(v any) {
	switch x := v.(type) {
	case string:
		st.chargeString(len(x))
	case []any:
		st.chargeArray(len(x))
	case map[string]any:
		st.chargeArray(len(x))
	case nil, bool, int, float64, time.Time, time.Duration:
	default:
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.String:
			st.chargeString(rv.Len())
		case reflect.Slice, reflect.Array, reflect.Map:
			st.chargeArray(rv.Len())
		}
	}
}

// checkedAdd returns "+" for operands that are not both known to be
// numbers: a string concatenation longer than MaxStringBytes fails before
// it happens. The result is then charged to the run by chargeResult (the
// typed two-argument calls of the VM do not allocate, so the run state is
// not passed here).
func checkedAdd(lim *Limits) func(a, b any) any {
	return func(a, b any) any {
		if x, ok := a.(string); ok {
			if y, ok := b.(string); ok {
				if n := len(x) + len(y); n > lim.MaxStringBytes {
					panic(budgetErr("MaxStringBytes", lim.MaxStringBytes, "string of %d bytes", n))
				}
				return x + y
			}
		}
		return runtime.Add(a, b)
	}
}

// countStep is wrapped around every predicate body: it counts the iteration and
// returns the body's value.
func countStep(env, v any) any {
	st := stateOf(env)
	st.steps++
	if st.steps > st.lim.MaxSteps {
		panic(budgetErr("MaxSteps", st.lim.MaxSteps, "%d loop iterations", st.steps))
	}
	return v
}

// chargeResult is wrapped around "+" and the builtins whose result is
// proportional to their input (upper, split, map, keys, ...): the result is
// accounted once built.
func chargeResult(env, v any) any {
	stateOf(env).chargeValue(v)
	return v
}

// resultBuiltins are the builtins wrapped in chargeResult.
var resultBuiltins = map[string]bool{
	"map": true, "filter": true, "groupBy": true, "sortBy": true, "sort": true,
	"upper": true, "lower": true, "split": true, "splitAfter": true,
	"fromJSON": true, "toBase64": true, "fromBase64": true,
	"keys": true, "values": true, "toPairs": true, "fromPairs": true,
	"reverse": true, "uniq": true, "take": true,
}

// checkedBuiltins replace builtins whose result can be much larger than
// their input: the size is computed and accounted before the original
// builtin runs. Each takes the run environment first.
var checkedBuiltins = map[string]func(st *runState, orig func(...any) (any, error), args []any) (any, error){
	"repeat":  checkedRepeat,
	"join":    checkedJoin,
	"replace": checkedReplace,
	"toJSON":  checkedFormat,
	"string":  checkedFormat,
	"concat":  checkedConcat,
	"flatten": checkedFlatten,
}

// checkedBuiltin returns the replacement of the builtin name, a
// func(env, args...) for a call node, or nil.
func checkedBuiltin(name string) func(...any) any {
	check, ok := checkedBuiltins[name]
	if !ok {
		return nil
	}
	orig := originalBuiltin(name)
	if orig == nil {
		return nil
	}
	return func(args ...any) any {
		out, err := check(stateOf(args[0]), orig, args[1:])
		if err != nil {
			panic(err)
		}
		return out
	}
}

// originalBuiltin returns expr's implementation of a builtin as a plain
// function.
func originalBuiltin(name string) func(...any) (any, error) {
	i, ok := builtin.Index[name]
	if !ok {
		return nil
	}
	f := builtin.Builtins[i]
	switch {
	case f.Fast != nil:
		return func(args ...any) (any, error) {
			if len(args) != 1 {
				return nil, fmt.Errorf("invalid number of arguments for %s (expected 1, got %d)", name, len(args))
			}
			return f.Fast(args[0]), nil
		}
	case f.Func != nil:
		return f.Func
	case f.Safe != nil:
		return func(args ...any) (any, error) {
			out, _, err := f.Safe(args...)
			return out, err
		}
	}
	return nil
}

func checkedRepeat(st *runState, orig func(...any) (any, error), args []any) (any, error) {
	if len(args) == 2 {
		if s, ok := args[0].(string); ok {
			n := runtime.ToInt(args[1])
			if n > 0 {
				st.chargeString(mulSat(n, len(s)))
			}
		}
	}
	return orig(args...)
}

func checkedJoin(st *runState, orig func(...any) (any, error), args []any) (any, error) {
	if len(args) == 0 || len(args) > 2 {
		return orig(args...)
	}
	glue := 0
	if len(args) == 2 {
		if g, ok := args[1].(string); ok {
			glue = len(g)
		}
	}
	size, n := 0, 0
	add := func(s string) bool {
		if n > 0 {
			size += glue
		}
		size += len(s)
		n++
		return size <= st.lim.MaxStringBytes
	}
	switch x := args[0].(type) {
	case []string:
		for _, s := range x {
			if !add(s) {
				break
			}
		}
	case []any:
		for _, v := range x {
			if s, ok := v.(string); ok && !add(s) {
				break
			}
		}
	}
	st.chargeString(size)
	return orig(args...)
}

func checkedReplace(st *runState, orig func(...any) (any, error), args []any) (any, error) {
	if len(args) == 3 || len(args) == 4 {
		s, ok1 := args[0].(string)
		old, ok2 := args[1].(string)
		repl, ok3 := args[2].(string)
		if ok1 && ok2 && ok3 {
			n := strings.Count(s, old)
			if old == "" {
				n = utf8.RuneCountInString(s) + 1
			}
			if len(args) == 4 {
				if limit := runtime.ToInt(args[3]); limit >= 0 && limit < n {
					n = limit
				}
			}
			if grow := len(repl) - len(old); grow > 0 && n > 0 {
				st.chargeString(addSat(len(s), mulSat(n, grow)))
			} else {
				st.chargeString(len(s))
			}
		}
	}
	return orig(args...)
}

// checkedFormat guards toJSON and string: the text of the value is
// estimated (without escapes) before formatting, and the exact result is
// checked after.
func checkedFormat(st *runState, orig func(...any) (any, error), args []any) (any, error) {
	if len(args) == 1 {
		if _, isString := args[0].(string); !isString {
			st.chargeString(textSize(args[0], 0, st.lim.MaxStringBytes))
		}
	}
	out, err := orig(args...)
	if err == nil {
		if s, ok := out.(string); ok && len(s) > st.lim.MaxStringBytes {
			st.chargeString(len(s))
		}
	}
	return out, err
}

// textSize estimates the length of v formatted as JSON or with %v, giving
// up as soon as it exceeds limit (the result is then limit+1).
func textSize(v any, depth, limit int) int {
	size := 0
	var walk func(v any, depth int) bool
	walk = func(v any, depth int) bool {
		if depth > 100 {
			return true
		}
		switch x := v.(type) {
		case string:
			size += len(x) + 2
		case []any:
			size += 2
			for _, e := range x {
				size += 2*depth + 4
				if !walk(e, depth+1) {
					return false
				}
			}
		case map[string]any:
			size += 2
			for k, e := range x {
				size += len(k) + 2*depth + 6
				if !walk(e, depth+1) {
					return false
				}
			}
		default:
			rv := reflect.ValueOf(v)
			switch rv.Kind() {
			case reflect.String:
				size += rv.Len() + 2
			case reflect.Slice, reflect.Array:
				size += 2
				for i := range rv.Len() {
					size += 2*depth + 4
					if !walk(rv.Index(i).Interface(), depth+1) {
						return false
					}
				}
			case reflect.Map:
				size += 2
				for it := rv.MapRange(); it.Next(); {
					size += 2*depth + 6
					if !walk(it.Key().Interface(), depth+1) || !walk(it.Value().Interface(), depth+1) {
						return false
					}
				}
			default:
				size += 24
			}
		}
		return size <= limit
	}
	if !walk(v, depth) {
		return limit + 1
	}
	return size
}

func checkedConcat(st *runState, orig func(...any) (any, error), args []any) (any, error) {
	n := 0
	for _, a := range args {
		if rv := reflect.ValueOf(a); rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
			n += rv.Len()
		}
	}
	st.chargeArray(n)
	return orig(args...)
}

func checkedFlatten(st *runState, orig func(...any) (any, error), args []any) (any, error) {
	if len(args) == 1 {
		st.chargeArray(flatLen(reflect.ValueOf(args[0]), st.lim.MaxArrayLen))
	}
	return orig(args...)
}

// flatLen counts the elements of a nested array, giving up past limit.
func flatLen(rv reflect.Value, limit int) int {
	for rv.Kind() == reflect.Interface && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() == reflect.Slice && rv.Type() == anySliceType {
		return flatLenAny(rv.Interface().([]any), limit)
	}
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return 1
	}
	n := 0
	for i := range rv.Len() {
		n += flatLen(rv.Index(i), limit-n)
		if n > limit {
			return n
		}
	}
	return n
}

var anySliceType = reflect.TypeFor[[]any]()

// flatLenAny is flatLen for []any, without reflection.
func flatLenAny(a []any, limit int) int {
	n := 0
	for _, e := range a {
		switch x := e.(type) {
		case []any:
			n += flatLenAny(x, limit-n)
		case nil, string, int, float64, bool, map[string]any:
			n++
		default:
			n += flatLen(reflect.ValueOf(e), limit-n)
		}
		if n > limit {
			return n
		}
	}
	return n
}

// mulSat returns a*b for non-negative a and b, or math.MaxInt when that
// overflows.
func mulSat(a, b int) int {
	if a != 0 && b > math.MaxInt/a {
		return math.MaxInt
	}
	return a * b
}

// addSat returns a+b for non-negative a and b, or math.MaxInt when that
// overflows.
func addSat(a, b int) int {
	if a > math.MaxInt-b {
		return math.MaxInt
	}
	return a + b
}
