package expression_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/expression"
)

// jsonValue decodes s the way workflow configs and records arrive.
func jsonValue(t testing.TB, s string) any {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal([]byte(s), &v))
	return v
}

func contextScope(t testing.TB, data string) expression.Scope {
	return expression.Scope{"$context": map[string]any{"data": jsonValue(t, data)}}
}

// Behavior spec F.4 (condition.test.ts), scenarios 44-54, at the
// calculation level; 55/56 (math.js/formula.js "1 == 1") map to the expr
// engine and are in program_test.go.
func TestConditionScenarios(t *testing.T) {
	post := `{"id": 1, "title": "t1", "read": 1}`
	cases := []struct {
		name        string
		calculation string
		data        string
		want        bool
	}{
		{"44 group and true", `{"group": {"type": "and", "calculations": [
			{"calculator": "equal", "operands": [1, 1]}, {"calculator": "equal", "operands": [1, 1]}]}}`, post, true},
		{"45 group and false", `{"group": {"type": "and", "calculations": [
			{"calculator": "equal", "operands": [1, 1]}, {"calculator": "equal", "operands": [0, 1]}]}}`, post, false},
		{"46 group or true", `{"group": {"type": "or", "calculations": [
			{"calculator": "equal", "operands": [1, 1]}, {"calculator": "equal", "operands": [0, 1]}]}}`, post, true},
		{"47 group and of two false", `{"group": {"type": "and", "calculations": [
			{"calculator": "equal", "operands": [0, 1]}, {"calculator": "equal", "operands": [0, 1]}]}}`, post, false},
		{"48 nested", `{"group": {"type": "and", "calculations": [
			{"calculator": "equal", "operands": [1, 1]},
			{"group": {"type": "or", "calculations": [
				{"calculator": "equal", "operands": [0, 1]}, {"calculator": "equal", "operands": [0, 1]}]}}]}}`, post, false},
		{"49 default engine basic", `{"calculator": "equal", "operands": [1, "{{$context.data.read}}"]}`, post, true},
		{"50 null title", `{"calculator": "equal", "operands": [0, "{{$context.data.title}}"]}`,
			`{"id": 1, "title": null, "read": 0}`, false},
		{"51 false == 0", `{"calculator": "equal", "operands": [false, "{{$context.data.read}}"]}`,
			`{"id": 1, "title": "t1", "read": 0}`, true},
		{"52 1 == read", `{"calculator": "equal", "operands": [1, "{{$context.data.read}}"]}`, post, true},
		{"53 \"1\" == read", `{"calculator": "equal", "operands": ["1", "{{$context.data.read}}"]}`, post, true},
		{"54 missing association == null", `{"calculator": "equal", "operands": ["{{$context.data.category.id}}", null]}`,
			`{"id": 1, "title": "t1"}`, true},
		{"54b null association == null", `{"calculator": "equal", "operands": ["{{$context.data.category.id}}", null]}`,
			`{"id": 1, "category": null}`, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			calc, err := expression.CompileCalculation(jsonValue(t, c.calculation), nil)
			require.NoError(t, err)
			got, err := calc.Evaluate(contextScope(t, c.data))
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

func TestCompileCalculationMalformed(t *testing.T) {
	cases := []struct {
		calculation string
		path        string
	}{
		{`"equal"`, "calculation"},
		{`[1, 2]`, "calculation"},
		{`{"group": null}`, "group"},
		{`{"group": {"type": "xor", "calculations": []}}`, "group.type"},
		{`{"group": {"calculations": []}}`, "group.type"},
		{`{"group": {"type": "and", "calculations": {}}}`, "group.calculations"},
		{`{"group": {"type": "and", "calculations": [
			{"calculator": "equal", "operands": [1, 1]},
			{"calculator": "equal", "operands": "1,1"}]}}`, "group.calculations[1].operands"},
		{`{"group": {"type": "and", "calculations": [
			{"group": {"type": "or", "calculations": [7]}}]}}`, "group.calculations[0].group.calculations[0]"},
		{`{"calculator": 5, "operands": [1, 1]}`, "calculator"},
	}
	for _, c := range cases {
		_, err := expression.CompileCalculation(jsonValue(t, c.calculation), nil)
		require.Error(t, err, c.calculation)
		assert.ErrorIs(t, err, expression.ErrCalculation, c.calculation)
		assert.Contains(t, err.Error(), c.path+":", c.calculation)
	}

	// Unknown calculators are a compile-time error, even when nested.
	_, err := expression.CompileCalculation(jsonValue(t, `{"group": {"type": "or", "calculations": [
		{"calculator": "equal", "operands": [1, 1]}, {"calculator": "nope", "operands": [1]}]}}`), nil)
	assert.ErrorIs(t, err, expression.ErrUnknownCalculator)
	assert.EqualError(t, err, `no calculator function registered for "nope"`)

	// Bad placeholders in operands are template errors naming the operand.
	_, err = expression.CompileCalculation(jsonValue(t, `{"calculator": "equal", "operands": [1, "{{$context.data.x"]}`), nil)
	assert.ErrorIs(t, err, expression.ErrTemplate)
	assert.Contains(t, err.Error(), "operands[1]")
}

func TestCalculationRefsAndTypes(t *testing.T) {
	calc, err := expression.CompileCalculation(map[string]any{"group": map[string]any{
		"type": "and",
		"calculations": []map[string]any{
			{"calculator": "gt", "operands": []any{"{{$context.data.amount}}", 500}},
			{"calculator": "equal", "operands": []string{"{{$context.user.id}}", "{{$context.data.amount}}"}},
			{"calculator": "includes", "operands": []any{"{{$jobsMapByNodeKey.n1.tags}}", "x"}},
		},
	}}, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"$context.data.amount", "$context.user.id", "$jobsMapByNodeKey.n1.tags"}, calc.Refs())

	var nilCalc *expression.Calculation
	ok, err := nilCalc.Evaluate(nil)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Empty(t, nilCalc.Refs())
}

func TestCalculationConcurrent(t *testing.T) {
	calc, err := expression.CompileCalculation(jsonValue(t, `{"group": {"type": "and", "calculations": [
		{"calculator": "gt", "operands": ["{{$context.data.amount}}", 500]},
		{"calculator": "startsWith", "operands": ["{{$context.data.title}}", "big"]}]}}`), nil)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				amount := 400 + g*10 + i
				ok, err := calc.Evaluate(contextScope(t, fmt.Sprintf(`{"amount": %d, "title": "big order"}`, amount)))
				if err != nil || ok != (amount > 500) {
					t.Errorf("amount %d: ok=%v err=%v", amount, ok, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
