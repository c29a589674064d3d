package expression

import (
	"fmt"
	"strings"
	"sync"
)

// Calculator is a comparison function of the "basic" condition engine. It
// receives the rendered operands of a calculation (usually two; custom
// calculators may take one or more) and reports whether the condition holds.
type Calculator func(args ...any) bool

// Calculators is a registry of named calculators. It is safe for concurrent
// use; calculations look calculators up once, at compile time. The zero
// value is an empty registry; DefaultCalculators returns one holding the
// built-ins.
type Calculators struct {
	mu      sync.RWMutex
	entries map[string]calcEntry
}

// calcEntry keeps, for built-ins, a two-argument form that avoids the
// variadic slice allocation at evaluation time.
type calcEntry struct {
	fn  Calculator
	bin func(a, b any) bool
}

// DefaultCalculators returns a fresh registry holding the built-in
// calculators, with their aliases in parentheses: equal (==), notEqual (!=),
// gt (>), gte (>=), lt (<), lte (<=), includes, notIncludes, startsWith,
// notStartsWith, endsWith and notEndsWith.
//
// Semantics follow NocoBase's logicCalculate:
//   - Date rule: when either operand is a time.Time, the comparison is false
//     (true for notEqual) if the other operand is a bool or nil; otherwise
//     both operands are converted to epoch milliseconds (strings parsed as
//     ISO-8601/RFC 3339 dates, date-only and zone-less forms as UTC, numbers
//     read as epoch milliseconds; anything unparsable never compares);
//   - equal/notEqual otherwise use JavaScript loose equality (1 == "1",
//     0 == false, nil == nil; nil equals nothing else);
//   - gt/gte/lt/lte otherwise use JavaScript relational comparison: two
//     strings compare lexicographically, anything else numerically (nil is
//     0, numeric strings are numbers, non-numeric strings never compare);
//   - includes/notIncludes test array membership (with loose equality) or
//     substring containment (the needle converted with String()); any other
//     haystack makes both false;
//   - startsWith/endsWith and their negations compare the String() forms of
//     both operands; a nil operand makes all four false.
func DefaultCalculators() *Calculators {
	c := &Calculators{entries: make(map[string]calcEntry, 24)}
	for _, b := range builtins {
		e := calcEntry{fn: binary(b.fn), bin: b.fn}
		c.entries[b.name] = e
		if b.alias != "" {
			c.entries[b.alias] = e
		}
	}
	return c
}

var builtins = []struct {
	name, alias string
	fn          func(a, b any) bool
}{
	{"equal", "==", calcEqual},
	{"notEqual", "!=", calcNotEqual},
	{"gt", ">", calcGt},
	{"gte", ">=", calcGte},
	{"lt", "<", calcLt},
	{"lte", "<=", calcLte},
	{"includes", "", calcIncludes},
	{"notIncludes", "", calcNotIncludes},
	{"startsWith", "", calcStartsWith},
	{"notStartsWith", "", calcNotStartsWith},
	{"endsWith", "", calcEndsWith},
	{"notEndsWith", "", calcNotEndsWith},
}

// binary adapts a two-operand function to a Calculator; missing operands
// are nil.
func binary(fn func(a, b any) bool) Calculator {
	return func(args ...any) bool {
		var a, b any
		if len(args) > 0 {
			a = args[0]
		}
		if len(args) > 1 {
			b = args[1]
		}
		return fn(a, b)
	}
}

// defaultRegistry backs a nil *Calculators.
var defaultRegistry = sync.OnceValue(DefaultCalculators)

// Register adds fn under name and every alias. It fails, wrapping
// ErrCalculation, when a name is empty, fn is nil, or a name (or alias) is
// already registered; nothing is registered in that case.
func (c *Calculators) Register(name string, fn Calculator, aliases ...string) error {
	if c == nil {
		return fmt.Errorf("%w: register %q on a nil registry", ErrCalculation, name)
	}
	if fn == nil {
		return fmt.Errorf("%w: calculator %q is nil", ErrCalculation, name)
	}
	names := append([]string{name}, aliases...)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]calcEntry)
	}
	for i, n := range names {
		if n == "" {
			return fmt.Errorf("%w: empty calculator name", ErrCalculation)
		}
		if _, dup := c.entries[n]; dup {
			return fmt.Errorf("%w: calculator %q is already registered", ErrCalculation, n)
		}
		for _, m := range names[:i] {
			if m == n {
				return fmt.Errorf("%w: calculator %q is listed twice", ErrCalculation, n)
			}
		}
	}
	for _, n := range names {
		c.entries[n] = calcEntry{fn: fn}
	}
	return nil
}

// Lookup returns the calculator registered under name (or alias). A nil
// registry behaves like DefaultCalculators().
func (c *Calculators) Lookup(name string) (Calculator, bool) {
	e, ok := c.lookup(name)
	return e.fn, ok
}

func (c *Calculators) lookup(name string) (calcEntry, bool) {
	if c == nil {
		c = defaultRegistry()
	}
	c.mu.RLock()
	e, ok := c.entries[name]
	c.mu.RUnlock()
	return e, ok
}

// dateRule applies NocoBase's Date rule. applies is false when neither
// operand is a date; otherwise, when cmp is false, one side is a bool or
// nil; else ma and mb are the epoch milliseconds (possibly NaN).
func dateRule(a, b jsVal) (applies, cmp bool, ma, mb float64) {
	if a.kind != kindDate && b.kind != kindDate {
		return false, false, 0, 0
	}
	if a.kind == kindBool || b.kind == kindBool || a.kind == kindNull || b.kind == kindNull {
		return true, false, 0, 0
	}
	return true, true, a.dateMillis(), b.dateMillis()
}

func calcEqual(a, b any) bool {
	va, vb := classify(a), classify(b)
	if d, cmp, ma, mb := dateRule(va, vb); d {
		return cmp && ma == mb
	}
	return va.looseEqual(vb)
}

func calcNotEqual(a, b any) bool {
	va, vb := classify(a), classify(b)
	if d, cmp, ma, mb := dateRule(va, vb); d {
		return !cmp || ma != mb // NaN never equals
	}
	return !va.looseEqual(vb)
}

func calcGt(a, b any) bool {
	va, vb := classify(a), classify(b)
	if d, cmp, ma, mb := dateRule(va, vb); d {
		return cmp && ma > mb
	}
	r, ok := jsLess(vb, va)
	return ok && r
}

func calcGte(a, b any) bool {
	va, vb := classify(a), classify(b)
	if d, cmp, ma, mb := dateRule(va, vb); d {
		return cmp && ma >= mb
	}
	r, ok := jsLess(va, vb)
	return ok && !r
}

func calcLt(a, b any) bool {
	va, vb := classify(a), classify(b)
	if d, cmp, ma, mb := dateRule(va, vb); d {
		return cmp && ma < mb
	}
	r, ok := jsLess(va, vb)
	return ok && r
}

func calcLte(a, b any) bool {
	va, vb := classify(a), classify(b)
	if d, cmp, ma, mb := dateRule(va, vb); d {
		return cmp && ma <= mb
	}
	r, ok := jsLess(vb, va)
	return ok && !r
}

// includes reports (found, valid): valid is false when a is neither an
// array nor a string.
func includes(a, b any) (bool, bool) {
	va := classify(a)
	switch va.kind {
	case kindString:
		return strings.Contains(va.str, toText(b, false)), true
	case kindArray:
		vb := classify(b)
		for i, n := 0, listLen(va.obj); i < n; i++ {
			if classify(listAt(va.obj, i)).looseEqual(vb) {
				return true, true
			}
		}
		return false, true
	}
	return false, false
}

func calcIncludes(a, b any) bool {
	r, _ := includes(a, b)
	return r
}

func calcNotIncludes(a, b any) bool {
	r, ok := includes(a, b)
	return ok && !r
}

// stringForms returns String(a), String(b); ok is false when either is nil
// (JavaScript would throw calling toString on null/undefined).
func stringForms(a, b any) (string, string, bool) {
	va, vb := classify(a), classify(b)
	if va.kind == kindNull || vb.kind == kindNull {
		return "", "", false
	}
	return va.text(false), vb.text(false), true
}

func calcStartsWith(a, b any) bool {
	sa, sb, ok := stringForms(a, b)
	return ok && strings.HasPrefix(sa, sb)
}

func calcNotStartsWith(a, b any) bool {
	sa, sb, ok := stringForms(a, b)
	return ok && !strings.HasPrefix(sa, sb)
}

func calcEndsWith(a, b any) bool {
	sa, sb, ok := stringForms(a, b)
	return ok && strings.HasSuffix(sa, sb)
}

func calcNotEndsWith(a, b any) bool {
	sa, sb, ok := stringForms(a, b)
	return ok && !strings.HasSuffix(sa, sb)
}
