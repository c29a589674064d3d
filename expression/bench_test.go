package expression

import (
	"testing"

	"github.com/expr-lang/expr"
)

const benchSrc = "$context.data.amount > 500 && $context.user.id == 2"

func benchScope() Scope {
	return Scope{
		"$context": map[string]any{
			"data": map[string]any{"amount": 600.0, "title": "big order", "read": 1.0,
				"tags": []any{"new", "vip"}},
			"user": map[string]any{"id": 2.0, "nickname": "Ann"},
		},
		"$system": map[string]any{"now": func() any { return 0 }},
	}
}

// BenchmarkProgramRun runs a compiled Program (pooled VM).
func BenchmarkProgramRun(b *testing.B) {
	p, err := Compile(benchSrc)
	if err != nil {
		b.Fatal(err)
	}
	s := benchScope()
	b.ReportAllocs()
	for b.Loop() {
		if v, err := p.Run(s); err != nil || v != true {
			b.Fatal(v, err)
		}
	}
}

// BenchmarkProgramRunPlaceholders is BenchmarkProgramRun in NocoBase
// placeholder syntax.
func BenchmarkProgramRunPlaceholders(b *testing.B) {
	p, err := Compile("{{$context.data.amount}} > 500 && {{$context.user.id}} == 2")
	if err != nil {
		b.Fatal(err)
	}
	s := benchScope()
	b.ReportAllocs()
	for b.Loop() {
		if v, err := p.Run(s); err != nil || v != true {
			b.Fatal(v, err)
		}
	}
}

// BenchmarkRawExprRun runs the same precompiled vm.Program with expr.Run
// (a fresh VM per call) on the same scope map.
func BenchmarkRawExprRun(b *testing.B) {
	p, err := Compile(benchSrc)
	if err != nil {
		b.Fatal(err)
	}
	env := map[string]any(benchScope())
	b.ReportAllocs()
	for b.Loop() {
		if v, err := expr.Run(p.prog, env); err != nil || v != true {
			b.Fatal(v, err)
		}
	}
}

// BenchmarkPlainExprRun is a reference point: the same source compiled by
// expr without this package's rewriting (native member access, not
// nil-safe), run with expr.Run.
func BenchmarkPlainExprRun(b *testing.B) {
	prog, err := expr.Compile(benchSrc)
	if err != nil {
		b.Fatal(err)
	}
	env := map[string]any(benchScope())
	b.ReportAllocs()
	for b.Loop() {
		if v, err := expr.Run(prog, env); err != nil || v != true {
			b.Fatal(v, err)
		}
	}
}

func BenchmarkTemplateRender(b *testing.B) {
	tpl, err := CompileTemplate(map[string]any{
		"title":  "Order {{$context.data.title}} for {{$context.user.nickname}}",
		"amount": "{{$context.data.amount}}",
		"by":     "{{$context.user.id}}",
		"static": []any{1, 2, 3},
	})
	if err != nil {
		b.Fatal(err)
	}
	s := benchScope()
	b.ReportAllocs()
	for b.Loop() {
		_ = tpl.Render(s)
	}
}

func BenchmarkTemplateRenderConstant(b *testing.B) {
	tpl, err := CompileTemplate(map[string]any{"a": "no placeholders", "b": []any{1, 2}})
	if err != nil {
		b.Fatal(err)
	}
	s := benchScope()
	b.ReportAllocs()
	for b.Loop() {
		_ = tpl.Render(s)
	}
}

func BenchmarkCalculationEvaluate(b *testing.B) {
	calc, err := CompileCalculation(map[string]any{"group": map[string]any{
		"type": "and",
		"calculations": []any{
			map[string]any{"calculator": "gt", "operands": []any{"{{$context.data.amount}}", 500}},
			map[string]any{"calculator": "equal", "operands": []any{"{{$context.user.id}}", "2"}},
			map[string]any{"calculator": "includes", "operands": []any{"{{$context.data.tags}}", "vip"}},
		},
	}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	s := benchScope()
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := calc.Evaluate(s); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}
