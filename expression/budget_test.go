package expression_test

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/expression"
)

// runBudget compiles and runs src and returns the run error, checking that
// the run stayed fast and small.
func runBudget(t *testing.T, src string, s expression.Scope, opts ...expression.Option) (any, error) {
	t.Helper()
	p, err := expression.Compile(src, opts...)
	require.NoError(t, err, src)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	v, err := p.Run(s)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	assert.Less(t, elapsed, time.Duration(fastRun), src)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(256<<20), "%s allocated too much", src)
	return v, err
}

func TestProgramBudgetBombs(t *testing.T) {
	title := strings.Repeat("t", 2000)
	s := expression.Scope{"$context": map[string]any{"data": map[string]any{"title": title, "n": 1e12}}}
	for _, tc := range []struct{ src, bound string }{
		{`len(reduce(1..32, #acc + #acc, "x")) > 0`, "MaxStringBytes"},
		{`len(reduce(1..64, #acc + #acc, $context.data.title)) > 0`, "MaxStringBytes"},
		{`len(repeat(repeat("x", 999999), 999999))`, "MaxStringBytes"},
		{`len(repeat("x", $context.data.n))`, "MaxStringBytes"},
		{`len(map(1..999999, repeat("x", 1000000-1)))`, "MaxRunBytes"},
		{`len(map(1..999999, upper($context.data.title)))`, "MaxRunBytes"},
		{`len(map(1..999999, $context.data.title + "!"))`, "MaxRunBytes"},
		{`len(join(map(1..99999, $context.data.title), ","))`, "MaxStringBytes"},
		{`len(toJSON(map(1..99999, $context.data.title)))`, "MaxStringBytes"},
		{`len(string(map(1..99999, $context.data.title)))`, "MaxStringBytes"},
		{`len(replace(repeat("a", 100000), "a", repeat("b", 1000)))`, "MaxStringBytes"},
		{`len(replace(repeat("a", 100000), "", repeat("b", 100)))`, "MaxStringBytes"},
		{`len(reduce(1..40, concat(#acc, #acc), [1]))`, "MaxArrayLen"},
		{`len(flatten(reduce(1..25, [#acc, #acc], [1])))`, "MaxArrayLen"},
		{`len(map(1..$context.data.n, #))`, "MemoryBudget"},
		{`len(reduce(1..40, [#acc, #acc], [1]) | toJSON())`, "MaxStringBytes"},
	} {
		_, err := runBudget(t, tc.src, s)
		require.Error(t, err, tc.src)
		assert.ErrorIs(t, err, expression.ErrBudget, tc.src)
		assert.ErrorIs(t, err, expression.ErrExpression, tc.src)
		var be *expression.BudgetError
		require.True(t, errors.As(err, &be), tc.src)
		assert.Equal(t, tc.bound, be.Bound, "%s: %v", tc.src, err)
		assert.Contains(t, err.Error(), "budget exceeded", tc.src)
		assert.Contains(t, err.Error(), tc.bound, tc.src)
	}
}

func TestProgramBudgetAllowsOrdinaryWork(t *testing.T) {
	s := expression.Scope{"$context": map[string]any{"data": map[string]any{"title": "big order",
		"tags": []any{"a", "b"}, "amount": 600.0}}}
	for src, want := range map[string]any{
		`$context.data.title + "!"`:                       "big order!",
		`1 + 2`:                                           3,
		`$context.data.amount + 1`:                        601.0,
		`repeat("ab", 3)`:                                 "ababab",
		`join($context.data.tags, "-")`:                   "a-b",
		`replace("aXbX", "X", "yy")`:                      "ayybyy",
		`upper($context.data.title)`:                      "BIG ORDER",
		`toJSON([1, "a"])`:                                "[\n  1,\n  \"a\"\n]",
		`string(1)`:                                       "1",
		`len(concat([1, 2], [3]))`:                        3,
		`len(flatten([[1], [2, [3]]]))`:                   3,
		`len(reduce(1..10, #acc + #acc, "x"))`:            1024,
		`len(map(1..1000, $context.data.title + "!"))`:    1000,
		`len(filter($context.data.tags, # == "a"))`:       1,
		`sum(map(1..100, #))`:                             5050,
		`len(split("a,b,c", ","))`:                        3,
		`len(reduce(1..10, concat(#acc, #acc), [1]))`:     1024,
		`$context.data.title startsWith "big" ? "y" : ""`: "y",
	} {
		v, err := runBudget(t, src, s)
		require.NoError(t, err, src)
		assert.Equal(t, want, v, src)
	}
	// A time plus a duration is still an addition.
	v, err := runBudget(t, `date("2024-01-01") + duration("1h")`, nil)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2024, 1, 1, 1, 0, 0, 0, time.UTC), v)
	// So are type errors.
	_, err = runBudget(t, `"a" + 1`, nil)
	require.Error(t, err)
	assert.NotErrorIs(t, err, expression.ErrBudget)
}

func TestProgramLimitsOption(t *testing.T) {
	src := `repeat("x", 100)`
	_, err := runBudget(t, src, nil, expression.WithLimits(expression.Limits{MaxStringBytes: 50}))
	assert.ErrorIs(t, err, expression.ErrBudget)
	v, err := runBudget(t, src, nil, expression.WithLimits(expression.Limits{MaxStringBytes: 100}))
	require.NoError(t, err)
	assert.Len(t, v, 100)

	// The run budget is per run: a pooled VM starts the next run afresh.
	// 10 strings of 10 bytes and an array of 10 (160 bytes).
	p, err := expression.Compile(`len(map(1..10, repeat("x", 10)))`,
		expression.WithLimits(expression.Limits{MaxRunBytes: 300}))
	require.NoError(t, err)
	for range 3 {
		v, err := p.Run(nil)
		require.NoError(t, err)
		assert.Equal(t, 10, v)
	}
	p, err = expression.Compile(`len(map(1..20, repeat("x", 10)))`,
		expression.WithLimits(expression.Limits{MaxRunBytes: 300}))
	require.NoError(t, err)
	_, err = p.Run(nil)
	var be *expression.BudgetError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, "MaxRunBytes", be.Bound)
	assert.Equal(t, 300, be.Limit)

	// A negative bound disables it.
	v, err = runBudget(t, `len(repeat("xx", 1000000))`, nil,
		expression.WithLimits(expression.Limits{MaxStringBytes: -1, MaxRunBytes: -1}))
	require.NoError(t, err)
	assert.Equal(t, 2000000, v)
}

func TestProgramPlainIdentifiers(t *testing.T) {
	s := expression.Scope{"plain": map[string]any{"a": 1.0}, "fn": func(args ...any) any { return len(args) }}
	v, err := runBudget(t, `plain.a + 1`, s)
	require.NoError(t, err)
	assert.Equal(t, 2.0, v)
	v, err = runBudget(t, `fn(1, 2)`, s)
	require.NoError(t, err)
	assert.Equal(t, 2, v)
	p, err := expression.Compile(`plain.a + $context.x`)
	require.NoError(t, err)
	assert.Equal(t, []string{"$context.x"}, p.Refs(), "plain identifiers are not refs")
}

// manyPlaceholders is a template string with n placeholders over the
// member's title.
func manyPlaceholders(n int) string {
	return strings.Repeat("{{$context.data.title}}", n)
}

func TestTemplatePlaceholderBound(t *testing.T) {
	_, err := expression.CompileTemplate(map[string]any{"title": manyPlaceholders(40_000)})
	require.Error(t, err)
	assert.ErrorIs(t, err, expression.ErrTemplate)
	assert.ErrorIs(t, err, expression.ErrBudget)
	var be *expression.BudgetError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, "MaxTemplatePlaceholders", be.Bound)
	assert.Equal(t, expression.DefaultMaxTemplatePlaceholders, be.Limit)
	assert.Contains(t, err.Error(), "a template with 40000 placeholders exceeds MaxTemplatePlaceholders (1000)")

	// Placeholders are counted over the whole value, keys included.
	_, err = expression.CompileTemplate([]any{manyPlaceholders(600), map[string]any{manyPlaceholders(401): 1}})
	assert.ErrorIs(t, err, expression.ErrBudget)
	_, err = expression.CompileTemplate([]any{manyPlaceholders(600), manyPlaceholders(400)})
	assert.NoError(t, err)
	_, err = expression.CompileTemplate(manyPlaceholders(1001), expression.WithLimits(expression.Limits{MaxTemplatePlaceholders: 2000}))
	assert.NoError(t, err)

	// And over all the operands of a calculation.
	calc := map[string]any{"group": map[string]any{"type": "or", "calculations": []any{
		map[string]any{"calculator": "equal", "operands": []any{manyPlaceholders(700), "x"}},
		map[string]any{"calculator": "equal", "operands": []any{manyPlaceholders(700), "x"}},
	}}}
	_, err = expression.CompileCalculation(calc, nil)
	assert.ErrorIs(t, err, expression.ErrTemplate)
	assert.ErrorIs(t, err, expression.ErrBudget)
	_, err = expression.CompileCalculation(calc, nil, expression.WithLimits(expression.Limits{MaxTemplatePlaceholders: 1400}))
	assert.NoError(t, err)
}

func TestTemplateRenderBound(t *testing.T) {
	title := strings.Repeat("t", 2000)
	s := expression.Scope{"$context": map[string]any{"data": map[string]any{"title": title}}}

	// 1,000 placeholders over a 2,000-character title: 2 MB of text.
	tpl, err := expression.CompileTemplate(map[string]any{"a": "ok", "b": []any{manyPlaceholders(1000)}})
	require.NoError(t, err)
	start := time.Now()
	v, err := tpl.RenderChecked(s)
	assert.Less(t, time.Since(start), time.Duration(fastRun))
	require.Error(t, err)
	assert.Nil(t, v)
	assert.ErrorIs(t, err, expression.ErrTemplate)
	assert.ErrorIs(t, err, expression.ErrBudget)
	var be *expression.BudgetError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, "MaxRenderBytes", be.Bound)
	assert.Contains(t, err.Error(), "exceeds MaxRenderBytes (1048576)")
	assert.Nil(t, tpl.Render(s), "Render returns nil past the bound")

	// The bound is on the total of all strings (and keys) of one render.
	tpl, err = expression.CompileTemplate(map[string]any{
		"a": manyPlaceholders(300), "b": manyPlaceholders(300), "{{$context.data.title}}": "x"})
	require.NoError(t, err)
	_, err = tpl.RenderChecked(s)
	assert.ErrorIs(t, err, expression.ErrBudget)
	tpl, err = expression.CompileTemplate(map[string]any{"a": manyPlaceholders(250), "b": manyPlaceholders(250)})
	require.NoError(t, err)
	for range 3 { // 1 MB each time: every render starts afresh
		v, err = tpl.RenderChecked(s)
		require.NoError(t, err)
		assert.Len(t, v.(map[string]any)["a"], 500_000)
	}

	// A whole-value placeholder is not copied and does not count.
	big := strings.Repeat("x", 4<<20)
	tpl, err = expression.CompileTemplate([]any{"{{$context.data.big}}"})
	require.NoError(t, err)
	v, err = tpl.RenderChecked(expression.Scope{"$context": map[string]any{"data": map[string]any{"big": big}}})
	require.NoError(t, err)
	assert.Equal(t, []any{big}, v)

	// WithLimits raises the bound.
	tpl, err = expression.CompileTemplate(manyPlaceholders(1000), expression.WithLimits(expression.Limits{MaxRenderBytes: 4 << 20}))
	require.NoError(t, err)
	v, err = tpl.RenderChecked(s)
	require.NoError(t, err)
	assert.Len(t, v, 2_000_000)

	// The one-step Render reports it too.
	_, err = expression.Render(manyPlaceholders(1000), s)
	assert.ErrorIs(t, err, expression.ErrBudget)
}

func TestCalculationRenderBound(t *testing.T) {
	title := strings.Repeat("t", 2000)
	s := expression.Scope{"$context": map[string]any{"data": map[string]any{"title": title}}}
	leaf := map[string]any{"calculator": "equal", "operands": []any{manyPlaceholders(300), "x"}}
	calc, err := expression.CompileCalculation(map[string]any{"group": map[string]any{"type": "or",
		"calculations": []any{leaf, leaf}}}, nil)
	require.NoError(t, err)
	_, err = calc.Evaluate(s)
	assert.ErrorIs(t, err, expression.ErrBudget)
	assert.ErrorIs(t, err, expression.ErrTemplate)
	assert.Contains(t, err.Error(), "MaxRenderBytes")

	calc, err = expression.CompileCalculation(leaf, nil)
	require.NoError(t, err)
	ok, err := calc.Evaluate(s)
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestProgramStepBound(t *testing.T) {
	_, err := runBudget(t, `let r = 1..999; all(r, all(r, all(r, true)))`, nil)
	var be *expression.BudgetError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, "MaxSteps", be.Bound)
	assert.Contains(t, err.Error(), "exceeds MaxSteps (1000000)")

	s := expression.Scope{"$context": map[string]any{"data": map[string]any{"tags": []any{"a", "b"}}}}
	for src, want := range map[string]any{
		`let r = 1..99; all(r, all(r, all(r, true)))`:   true,
		`count(1..1000, # % 2 == 0)`:                    500,
		`reduce(1..100, #acc + #, 0)`:                   5050,
		`sortBy([3, 1, 2], #)`:                          []any{1, 2, 3},
		`len(groupBy(1..10, # % 3))`:                    3,
		`find(1..10, # > 4)`:                            5,
		`map(filter(1..6, # > 3), # * 2)`:               []any{8, 10, 12},
		`sum(1..4, # * 2)`:                              20,
		`any(1..3, # == 2) && none(1..3, # == 4)`:       true,
		`len(filter(1..10, # > 2 && # < 5))`:            2,
		`first(map([{"a": 1}], .a))`:                    1,
		`one([1, 2], # == 1) ? "one" : "not one"`:       "one",
		`findIndex(1..10, # == 3)`:                      2,
		`count(map(1..4, # > 2))`:                       2,
		`mean(map(1..3, #))`:                            2.0,
		`len(uniq(map(1..10, # % 2)))`:                  2,
		`reduce(["a", "b"], #acc + #, "")`:              "ab",
		`filter(1..3, # > 1) | len()`:                   2,
		`sortBy(["bb", "a"], len(#))`:                   []any{"a", "bb"},
		`all($context.data.tags, # in ["a", "b"])`:      true,
		`$context.data.tags | filter(# == "b") | len()`: 1,
	} {
		v, err := runBudget(t, src, s)
		require.NoError(t, err, src)
		assert.EqualValues(t, want, v, src)
	}

	p, err := expression.Compile(`count(1..100, true)`, expression.WithLimits(expression.Limits{MaxSteps: 50}))
	require.NoError(t, err)
	_, err = p.Run(nil)
	assert.ErrorIs(t, err, expression.ErrBudget)
}
