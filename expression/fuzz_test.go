package expression_test

import (
	"testing"

	"github.com/actiontrigger/actiontrigger/expression"
)

func fuzzScope() expression.Scope {
	s := sampleScope()
	s["$context"].(map[string]any)["data"].(map[string]any)["n"] = 5
	return s
}

func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		"$context.data.amount > 500 && $context.user.id == 2",
		"{{$context.data.amount}} > 500",
		"$context.data.items[0].id",
		"map($context.data.items, .id)",
		"let $x = 1; $x",
		"$context?.data?.x ?? 1",
		"{{ $context.data.tags }}[1]",
		"$context.data[$context.data.key]",
		"1..$context.data.n",
		"{{{a}}}",
	} {
		f.Add(seed)
	}
	s := fuzzScope()
	f.Fuzz(func(t *testing.T, src string) {
		p, err := expression.Compile(src)
		if err != nil {
			return
		}
		_, _ = p.Run(s)
		_ = p.Refs()
	})
}

func FuzzTemplate(f *testing.F) {
	for _, seed := range []string{
		"{{$context.data.title}}",
		"a {{ $context.data.items.id : x }} b",
		"{{{$context.data.title}}}",
		"{{", "}}", "{{}}", "{{a}}}}{{b",
	} {
		f.Add(seed)
	}
	s := fuzzScope()
	f.Fuzz(func(t *testing.T, src string) {
		tpl, err := expression.CompileTemplate(map[string]any{src: []any{src}})
		if err != nil {
			return
		}
		_ = tpl.Render(s)
		_ = expression.Get(s, src)
		calc, err := expression.CompileCalculation(map[string]any{"calculator": "includes", "operands": []any{src, src}}, nil)
		if err == nil {
			_, _ = calc.Evaluate(s)
		}
		for _, name := range []string{"equal", "gt", "lte", "startsWith"} {
			_, _ = expression.Calculate(map[string]any{"calculator": name, "operands": []any{src, "{{$context.data.when}}"}}, nil, s)
		}
	})
}
