// Package expression evaluates the dynamic parts of a workflow definition
// against a variable [Scope]: NocoBase-style "{{path}}" templates,
// expr-lang programs and the "basic" calculation trees used by condition
// nodes.
//
// Everything is compiled once (when a workflow is saved or loaded) and then
// evaluated many times; compiled values are immutable and safe for
// concurrent use. Compilation reports malformed input as errors wrapping
// [ErrTemplate], [ErrExpression], [ErrCalculation] or
// [ErrUnknownCalculator]; evaluation never panics on bad data.
//
// What an evaluation may build is bounded by [Limits] (strings, arrays,
// the total of one program run, loop iterations, rendered text, and the
// placeholders of a template, which are counted at compile time). The
// defaults apply unless [WithLimits] says otherwise; an exceeded bound is a
// [*BudgetError] wrapping [ErrBudget].
//
// Values in a scope are plain Go JSON-like values: map[string]any, []any,
// string, numbers (float64 and the other Go number types), bool, nil and
// time.Time. A value of type func() any is called lazily when a path reaches
// it (this is how "$system.now" is provided). Go has a single nil, so
// JavaScript's null and undefined are both represented by nil and follow the
// null rules (for example nil == nil, and nil compares as 0 in relational
// comparisons).
package expression

import "errors"

// Scope is the variable scope a template, program or calculation is
// evaluated against. The engine builds it with root keys such as
// "$context", "$jobsMapByNodeKey", "$system", "$scopes" and "$env"; this
// package makes no assumption about which roots exist.
type Scope map[string]any

// Sentinel errors. Every error returned by this package wraps exactly one of
// the first four, so callers can classify failures with errors.Is; an
// exceeded bound of Limits (a *BudgetError) wraps ErrBudget as well.
var (
	// ErrTemplate reports a malformed "{{...}}" placeholder.
	ErrTemplate = errors.New("expression: invalid template")
	// ErrExpression reports an expr-lang program that does not compile or
	// that failed at run time.
	ErrExpression = errors.New("expression: invalid expression")
	// ErrCalculation reports a malformed calculation tree, an invalid
	// calculator registration, or a calculator that failed while running.
	ErrCalculation = errors.New("expression: invalid calculation")
	// ErrUnknownCalculator reports a calculation that names a calculator
	// that is not registered.
	ErrUnknownCalculator = errors.New("expression: unknown calculator")
	// ErrBudget reports an evaluation or a definition that exceeds a bound
	// of Limits (see BudgetError).
	ErrBudget = errors.New("expression: budget exceeded")
)
