package expression_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/expression"
)

// Port of NocoBase WF/src/server/__tests__/logicCalculate.test.ts (F.5,
// scenarios 60-63), plus the Date rows of the behavior spec.

func leaf(calculator string, operands ...any) map[string]any {
	return map[string]any{"calculator": calculator, "operands": operands}
}

func group(typ string, calculations ...any) map[string]any {
	if calculations == nil {
		calculations = []any{}
	}
	return map[string]any{"group": map[string]any{"type": typ, "calculations": calculations}}
}

// Scenario 60.
func TestCalculateEmptyAndUnknown(t *testing.T) {
	for _, c := range []any{nil, map[string]any{}} {
		ok, err := expression.Calculate(c, nil, nil)
		require.NoError(t, err)
		assert.True(t, ok, "%#v", c)
	}

	_, err := expression.Calculate(leaf("foo", 1, 1), nil, nil)
	require.Error(t, err)
	assert.True(t, errors.Is(err, expression.ErrUnknownCalculator))
	assert.EqualError(t, err, `no calculator function registered for "foo"`)

	// NocoBase checks for an empty leaf before looking the calculator up.
	ok, err := expression.Calculate(map[string]any{"calculator": "foo", "operands": []any{}}, nil, nil)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = expression.Calculate(map[string]any{"operands": []any{1, 2}}, nil, nil)
	require.NoError(t, err)
	assert.True(t, ok)
}

// Scenario 61.
func TestCalculateSingle(t *testing.T) {
	now := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	nowISO := now.Format("2006-01-02T15:04:05.000Z07:00")
	nowMs := now.UnixMilli()
	yesterday := now.AddDate(0, 0, -1)
	tomorrow := now.AddDate(0, 0, 1)
	yesterdayISO := yesterday.Format(time.RFC3339Nano)
	tomorrowISO := tomorrow.Format(time.RFC3339Nano)

	cases := []struct {
		calc string
		a, b any
		want bool
	}{
		// logicCalculate.test.ts
		{"equal", 1, 1, true},
		{"equal", 1, "1", true},
		{"equal", 1, 2, false},
		{"==", 1, 1, true},
		{"notEqual", 1, 2, true},
		{"notEqual", 1, 1, false},
		{"!=", 1, 2, true},
		{"gt", 2, 1, true},
		{"gt", 1, 2, false},
		{">", 2, 1, true},
		{"gte", 2, 1, true},
		{"gte", 2, 2, true},
		{"gte", 1, 2, false},
		{">=", 2, 2, true},
		{"lt", 1, 2, true},
		{"lt", 2, 1, false},
		{"<", 1, 2, true},
		{"lte", 1, 2, true},
		{"lte", 2, 2, true},
		{"lte", 2, 1, false},
		{"<=", 2, 2, true},
		{"includes", []any{1, 2, 3}, 2, true},
		{"includes", []any{1, 2, 3}, 4, false},
		{"includes", "abc", "b", true},
		{"notIncludes", []any{1, 2, 3}, 4, true},
		{"notIncludes", []any{1, 2, 3}, 2, false},
		{"startsWith", "abc", "a", true},
		{"startsWith", "abc", "b", false},
		{"notStartsWith", "abc", "b", true},
		{"notStartsWith", "abc", "a", false},
		{"endsWith", "abc", "c", true},
		{"endsWith", "abc", "b", false},
		{"notEndsWith", "abc", "b", true},
		{"notEndsWith", "abc", "c", false},

		// Behavior spec F.5 #61 (Date rule and null handling).
		{"equal", now, nowISO, true},
		{"equal", now, nowMs, true},
		{"equal", now, nowMs + 1, false},
		{"equal", now, "abc", false},
		{"==", 1, nil, false},
		{"==", 0, nil, false},
		{"==", "", nil, false},
		{"==", false, nil, false},
		{"==", true, nil, false},
		{"==", nil, nil, true},
		{"notEqual", now, nowMs, false},
		{"notEqual", now, "abc", true},
		{"notEqual", now, true, true},
		{"notEqual", now, false, true},
		{"notEqual", now, nil, true},
		{"notEqual", now, 0, true},
		{"!=", nil, nil, false},
		{"gt", now, nowMs, false},
		{"gt", now, "", false},
		{"gt", now, true, false},
		{"gt", now, nil, false},
		{"gt", now, 0, true},
		{"gt", now, yesterday, true},
		{"gt", now, yesterdayISO, true},
		{"gt", now, tomorrow, false},
		{"gte", 2, 2, true},
		{"gte", 1, 2, false},
		{"lt", 1, 2, true},
		{"lt", now, 0, false},
		{"lt", now, 1, false},
		{"lt", now, tomorrowISO, true},
		{"lt", now, nil, false},
		{"lte", 2, 2, true},
		{"lte", 2, 1, false},
		{"includes", []any{1, 2, 3}, 2, true},
		{"includes", []any{1, 2, 3}, 4, false},
		{"includes", "abc", "b", true},
		{"notIncludes", []any{1, 2, 3}, 4, true},
		{"startsWith", "abc", "a", true},
		{"notStartsWith", "abc", "a", false},
		{"endsWith", "abc", "c", true},
		{"notEndsWith", "abc", "b", true},

		// JavaScript coercions beyond the upstream table.
		{"equal", 0, false, true},
		{"equal", 1, true, true},
		{"equal", "1", true, true},
		{"equal", "", 0, true},
		{"equal", " 2 ", 2.0, true},
		{"equal", "abc", "abc", true},
		{"equal", int64(3), 3.0, true},
		{"equal", []any{1}, "1", true},
		{"equal", map[string]any{}, "[object Object]", true},
		{"equal", map[string]any{}, map[string]any{}, false},
		{"equal", now, now.Add(time.Microsecond), true}, // millisecond precision
		{"equal", now, now.Format("2006-01-02"), false},
		{"equal", time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC), "2024-05-06", true},
		{"equal", now, []any{}, false},
		{"gt", "b", "a", true},
		{"gt", "10", "9", false}, // two strings: lexicographic
		{"gt", "10", 9, true},    // string vs number: numeric
		{"gt", "abc", 1, false},
		{"lt", "abc", 1, false},
		{"gte", "abc", 1, false},
		{"gt", 1, nil, true}, // nil is null: Number(null) == 0
		{"gte", nil, 0, true},
		{"lt", nil, 1, true},
		{"gt", true, 0, true},
		{"includes", []any{"1", "2"}, 2, true},
		{"includes", []any{1.0, 2.0}, 2, true},
		{"includes", []string{"a", "b"}, "b", true},
		{"includes", "a1b", 1, true},
		{"includes", 123, 2, false},
		{"notIncludes", 123, 2, false},
		{"includes", nil, 2, false},
		{"startsWith", 123, 1, true},
		{"endsWith", 12.5, ".5", true},
		{"startsWith", nil, "n", false},
		{"notStartsWith", nil, "n", false},
		{"endsWith", "abc", nil, false},
		{"startsWith", []any{1, 2}, "1,", true},
	}
	for _, c := range cases {
		ok, err := expression.Calculate(leaf(c.calc, c.a, c.b), nil, nil)
		require.NoError(t, err)
		assert.Equal(t, c.want, ok, "%s(%#v, %#v)", c.calc, c.a, c.b)
	}
}

// Scenario 62.
func TestCalculateGroups(t *testing.T) {
	calc := func(c any) bool {
		t.Helper()
		ok, err := expression.Calculate(c, nil, nil)
		require.NoError(t, err)
		return ok
	}

	and := []any{leaf("equal", 1, 1), leaf("gt", 2, 1)}
	assert.True(t, calc(group("and", and...)))
	assert.False(t, calc(group("and", append(and, leaf("lt", 1, 0))...)))

	or := []any{leaf("equal", 1, 2), leaf("gt", 1, 2)}
	assert.False(t, calc(group("or", or...)))
	assert.True(t, calc(group("or", append(or, leaf("lt", 1, 2))...)))

	assert.True(t, calc(group("and")))
	assert.False(t, calc(group("or")))
	assert.True(t, calc(map[string]any{"group": map[string]any{"type": "and"}}))
	assert.False(t, calc(map[string]any{"group": map[string]any{"type": "or", "calculations": nil}}))

	assert.True(t, calc(group("and", leaf("equal", 1, 1), group("or", leaf("gt", 1, 2), leaf("lt", 1, 2)))))
	assert.False(t, calc(group("and", leaf("equal", 1, 1), group("or", leaf("gt", 1, 2), leaf("lt", 2, 1)))))
}

// Scenario 63.
func TestCalculateCustomCalculator(t *testing.T) {
	calcs := expression.DefaultCalculators()
	isOdd := func(args ...any) bool {
		switch n := args[0].(type) {
		case int:
			return n%2 != 0
		case float64:
			return int64(n)%2 != 0
		}
		return false
	}
	require.NoError(t, calcs.Register("isOdd", isOdd))

	ok, err := expression.Calculate(leaf("isOdd", 3), calcs, nil)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = expression.Calculate(leaf("isOdd", 2), calcs, nil)
	require.NoError(t, err)
	assert.False(t, ok)

	// The default registry is untouched.
	_, err = expression.Calculate(leaf("isOdd", 3), nil, nil)
	assert.ErrorIs(t, err, expression.ErrUnknownCalculator)
	_, found := expression.DefaultCalculators().Lookup("isOdd")
	assert.False(t, found)
}

func TestCalculatorsRegistry(t *testing.T) {
	calcs := expression.DefaultCalculators()
	for _, name := range []string{"equal", "==", "notEqual", "!=", "gt", ">", "gte", ">=", "lt", "<", "lte", "<=",
		"includes", "notIncludes", "startsWith", "notStartsWith", "endsWith", "notEndsWith"} {
		fn, ok := calcs.Lookup(name)
		assert.True(t, ok, name)
		assert.NotNil(t, fn, name)
	}
	eq, _ := calcs.Lookup("==")
	assert.True(t, eq(1, "1"))
	assert.True(t, eq()) // both operands missing: nil == nil

	always := func(...any) bool { return true }
	assert.ErrorIs(t, calcs.Register("equal", always), expression.ErrCalculation)
	assert.ErrorIs(t, calcs.Register("mine", always, "=="), expression.ErrCalculation)
	assert.ErrorIs(t, calcs.Register("", always), expression.ErrCalculation)
	assert.ErrorIs(t, calcs.Register("nilfn", nil), expression.ErrCalculation)
	assert.ErrorIs(t, calcs.Register("twice", always, "twice"), expression.ErrCalculation)
	_, found := calcs.Lookup("mine")
	assert.False(t, found, "a failed registration registers nothing")

	require.NoError(t, calcs.Register("always", always, "yes"))
	fn, ok := calcs.Lookup("yes")
	require.True(t, ok)
	assert.True(t, fn())

	var nilRegistry *expression.Calculators
	_, ok = nilRegistry.Lookup("equal")
	assert.True(t, ok, "a nil registry has the built-ins")
	assert.Error(t, nilRegistry.Register("x", always))
}

func TestCalculatorPanicIsError(t *testing.T) {
	calcs := expression.DefaultCalculators()
	require.NoError(t, calcs.Register("boom", func(args ...any) bool { return args[5] == nil }))
	_, err := expression.Calculate(leaf("boom", 1), calcs, nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, expression.ErrCalculation)
	assert.Contains(t, err.Error(), `"boom"`)
}
