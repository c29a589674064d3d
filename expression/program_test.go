package expression_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/expr-lang/expr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/expression"
)

func run(t *testing.T, src string, s expression.Scope) any {
	t.Helper()
	p, err := expression.Compile(src)
	require.NoError(t, err, src)
	v, err := p.Run(s)
	require.NoError(t, err, src)
	return v
}

func orderScope(amount float64, userID float64) expression.Scope {
	return expression.Scope{
		"$context": map[string]any{
			"data": map[string]any{"amount": amount, "title": "big order",
				"lines": []any{map[string]any{"sku": "a", "qty": float64(2)}, map[string]any{"sku": "b", "qty": float64(5)}},
				"field": "amount"},
			"user": map[string]any{"id": userID},
		},
		"$jobsMapByNodeKey": map[string]any{"calc-1": map[string]any{"total": float64(9)}},
		"$system":           map[string]any{"now": func() any { return fixedNow }},
		"$env":              map[string]any{"LIMIT": float64(100)},
		"plain":             map[string]any{"a": float64(1)},
	}
}

func TestProgramScopeIdentifiers(t *testing.T) {
	src := "$context.data.amount > 500 && $context.user.id == 2"
	assert.Equal(t, true, run(t, src, orderScope(600, 2)))
	assert.Equal(t, false, run(t, src, orderScope(400, 2)))
	assert.Equal(t, false, run(t, src, orderScope(600, 3)))

	p, err := expression.Compile(src)
	require.NoError(t, err)
	assert.Equal(t, src, p.Source())
	assert.Equal(t, []string{"$context.data.amount", "$context.user.id"}, p.Refs())
}

func TestProgramPlaceholders(t *testing.T) {
	src := "{{$context.data.amount}} > 500 && {{ $context.user.id }} == 2 && {{$context.data.amount}} < 1000"
	assert.Equal(t, true, run(t, src, orderScope(600, 2)))
	assert.Equal(t, false, run(t, src, orderScope(400, 2)))
	p, err := expression.Compile(src)
	require.NoError(t, err)
	assert.Equal(t, []string{"$context.data.amount", "$context.user.id"}, p.Refs())

	// Node keys with hyphens only work as placeholders.
	assert.Equal(t, float64(18), run(t, "{{$jobsMapByNodeKey.calc-1.total}} * 2", orderScope(1, 1)))
	assert.Equal(t, float64(600), run(t, "{{$context.data}}.amount", orderScope(600, 1)))
	assert.Equal(t, []any{float64(2), float64(5)}, run(t, "{{$context.data.lines.qty}}", orderScope(1, 1)))
	// Missing placeholders are nil.
	assert.Nil(t, run(t, "{{$context.data.nope.deeper}}", orderScope(1, 1)))
}

func TestProgramMissingIsNil(t *testing.T) {
	s := orderScope(600, 2)
	for _, src := range []string{
		"$context.data.missing",
		"$context.data.missing.x.y",
		"$context.nothing.data[0].x",
		"$context.data.lines[9].sku",
		"$nope",
		"$nope.a.b",
		"$context.data[$context.data.missing]",
		"$context.missing[$context.data.field]",
		"plain.b.c",
		"undefinedRoot.b.c",
		"$context?.data?.missing?.x",
		"map($context.data.lines, .missing.deeper)[0]",
	} {
		assert.Nil(t, run(t, src, s), src)
	}
	assert.Equal(t, true, run(t, "$context.data.missing == nil", s))
	assert.Equal(t, 0, run(t, "$context.data.missing ?? 0", s))
	assert.Equal(t, true, run(t, "$context.data.missing?.x == nil", s))
	// A nil scope is an empty scope.
	assert.Nil(t, run(t, "$context.data.amount", nil))
}

func TestProgramSemantics(t *testing.T) {
	s := orderScope(600, 2)
	assert.Equal(t, []any{"a", "b"}, run(t, "$context.data.lines.sku", s))
	assert.Equal(t, "b", run(t, "$context.data.lines[1].sku", s))
	assert.Equal(t, "b", run(t, "$context.data.lines[-1].sku", s))
	assert.Equal(t, float64(600), run(t, "$context.data[$context.data.field]", s))
	assert.Equal(t, 2, run(t, "len($context.data.lines)", s))
	assert.Equal(t, float64(7), run(t, "sum(map($context.data.lines, .qty))", s))
	assert.Equal(t, true, run(t, "$system.now < now()", s), "$system.now is called lazily")
	assert.Equal(t, fixedNow, run(t, "$system.now", s))
	assert.Equal(t, float64(100), run(t, "$env.LIMIT", s), "$env is the scope root")
	assert.Equal(t, float64(1), run(t, "plain.a", s))
	assert.Equal(t, 7, run(t, "let $x = 5; $x + 2", s), "let variables are not scope paths")
	assert.Equal(t, true, run(t, `$context.data.title startsWith "big"`, s))
	assert.Nil(t, run(t, "$context.data.amount / 0", s), "Inf becomes nil")
	assert.Nil(t, run(t, "0.0 / 0", s), "NaN becomes nil")

	// NocoBase scenarios 55/56: "1 == 1" with a non-basic engine.
	assert.Equal(t, true, run(t, "1 == 1", nil))
	assert.Equal(t, false, run(t, "0 == 1", nil))

	p, err := expression.Compile("$context.data[$context.data.field] + {{$context.user.id}} + $context.data.lines[0].qty")
	require.NoError(t, err)
	assert.Equal(t, []string{"$context.data", "$context.data.field", "$context.user.id", "$context.data.lines.0.qty"}, p.Refs())
}

func TestProgramCompileErrors(t *testing.T) {
	_, err := expression.Compile("$context.data.amount >")
	require.Error(t, err)
	assert.True(t, errors.Is(err, expression.ErrExpression))
	assert.Contains(t, err.Error(), "(1:22)")
	assert.Contains(t, err.Error(), "| $context.data.amount >")

	// Positions and snippets refer to the source as written, placeholders
	// included.
	_, err = expression.Compile("{{$context.data.amount}} > > 1")
	require.Error(t, err)
	assert.ErrorIs(t, err, expression.ErrExpression)
	assert.Contains(t, err.Error(), "(1:28)")
	assert.Contains(t, err.Error(), "| {{$context.data.amount}} > > 1")

	for _, src := range []string{"", "(", "foo(", "1 +* 2", `"unterminated`, "@get($env, 'x')", "{{ bad body! }} > 1"} {
		_, err := expression.Compile(src)
		assert.ErrorIs(t, err, expression.ErrExpression, src)
	}
}

func TestProgramRuntimeErrors(t *testing.T) {
	p, err := expression.Compile(`$context.data.title > 5`)
	require.NoError(t, err)
	_, err = p.Run(orderScope(1, 1))
	require.Error(t, err)
	assert.ErrorIs(t, err, expression.ErrExpression)
	assert.Contains(t, err.Error(), "(1:21)")

	var nilProgram *expression.Program
	_, err = nilProgram.Run(nil)
	assert.ErrorIs(t, err, expression.ErrExpression)
	assert.Empty(t, nilProgram.Refs())
	assert.Empty(t, nilProgram.Source())
}

func TestProgramBudgets(t *testing.T) {
	huge := strings.Repeat("1 + ", 2000) + "1"
	_, err := expression.Compile(huge)
	require.Error(t, err)
	assert.ErrorIs(t, err, expression.ErrExpression)
	assert.Contains(t, err.Error(), "exceeds maximum allowed nodes")

	_, err = expression.Compile(huge, expression.WithMaxNodes(10000))
	assert.NoError(t, err)
	_, err = expression.Compile("1 + 1 + 1", expression.WithMaxNodes(3))
	assert.ErrorIs(t, err, expression.ErrExpression)

	// Memory budget: the VM accounts ranges before allocating them.
	src := "len(map(1..$context.n, # * 2))"
	scope := func(n int) expression.Scope { return expression.Scope{"$context": map[string]any{"n": n}} }
	p, err := expression.Compile(src)
	require.NoError(t, err)
	_, err = p.Run(scope(50_000_000))
	require.Error(t, err)
	assert.ErrorIs(t, err, expression.ErrExpression)
	assert.ErrorIs(t, err, expression.ErrBudget)
	assert.Contains(t, err.Error(), "budget exceeded: allocation of ranges, array and map literals exceeds MemoryBudget (1000000)")
	v, err := p.Run(scope(100))
	require.NoError(t, err, "a pooled VM is reusable after a failure")
	assert.Equal(t, 100, v)

	small, err := expression.Compile(src, expression.WithMemoryBudget(50))
	require.NoError(t, err)
	_, err = small.Run(scope(100))
	assert.ErrorIs(t, err, expression.ErrExpression)
	v, err = small.Run(scope(10))
	require.NoError(t, err)
	assert.Equal(t, 10, v)
}

func TestProgramExprOptions(t *testing.T) {
	p, err := expression.Compile(`double($context.data.amount)`, expression.WithExprOptions(
		expr.Function("double", func(params ...any) (any, error) { return params[0].(float64) * 2, nil }),
	))
	require.NoError(t, err)
	v, err := p.Run(orderScope(21, 1))
	require.NoError(t, err)
	assert.Equal(t, float64(42), v)
}

func TestProgramConcurrentRun(t *testing.T) {
	p, err := expression.Compile("$context.data.amount > 500 && {{$context.user.id}} == 2 && len($context.data.lines.sku) == 2")
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				amount := float64(450 + g*3 + i%100)
				want := amount > 500
				v, err := p.Run(orderScope(amount, 2))
				if err != nil || v != want {
					errs <- fmt.Errorf("amount %v: got %v, %v", amount, v, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
