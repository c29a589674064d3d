package expression_test

import (
	"fmt"

	"github.com/actiontrigger/actiontrigger/expression"
)

func ExampleCompileTemplate() {
	tpl, err := expression.CompileTemplate(map[string]any{
		"title":    "Order #{{$context.data.id}} by {{$context.user.nickname:someone}}",
		"amount":   "{{$context.data.amount}}",
		"authors":  "{{$context.data.posts.createdById}}",
		"approved": false,
	})
	if err != nil {
		panic(err)
	}
	out := tpl.Render(expression.Scope{
		"$context": map[string]any{
			"data": map[string]any{
				"id":     7,
				"amount": 12.5,
				"posts":  []any{map[string]any{"createdById": 1}, map[string]any{"createdById": 2}},
			},
		},
	}).(map[string]any)
	fmt.Println(out["title"])
	fmt.Printf("%v %T\n", out["amount"], out["amount"])
	fmt.Println(out["authors"], out["approved"])
	fmt.Println(tpl.Refs())
	// Output:
	// Order #7 by someone
	// 12.5 float64
	// [1 2] false
	// [$context.data.amount $context.data.posts.createdById $context.data.id $context.user.nickname]
}

func ExampleCompile() {
	p, err := expression.Compile(`$context.data.amount > 500 && {{$context.user.id}} == 2`)
	if err != nil {
		panic(err)
	}
	for _, amount := range []float64{400, 600} {
		ok, err := p.Run(expression.Scope{"$context": map[string]any{
			"data": map[string]any{"amount": amount},
			"user": map[string]any{"id": 2},
		}})
		fmt.Println(amount, ok, err)
	}
	fmt.Println(p.Refs())

	_, err = expression.Compile(`$context.data.amount >`)
	fmt.Println(err)
	// Output:
	// 400 false <nil>
	// 600 true <nil>
	// [$context.data.amount $context.user.id]
	// expression: invalid expression: unexpected token EOF (1:22)
	//  | $context.data.amount >
	//  | .....................^
}

func ExampleCompileCalculation() {
	calc, err := expression.CompileCalculation(map[string]any{
		"group": map[string]any{
			"type": "and",
			"calculations": []any{
				map[string]any{"calculator": "equal", "operands": []any{"{{$context.data.read}}", "1"}},
				map[string]any{"group": map[string]any{
					"type": "or",
					"calculations": []any{
						map[string]any{"calculator": "gt", "operands": []any{"{{$context.data.score}}", 90}},
						map[string]any{"calculator": "includes", "operands": []any{"{{$context.data.tags}}", "vip"}},
					},
				}},
			},
		},
	}, nil)
	if err != nil {
		panic(err)
	}
	ok, err := calc.Evaluate(expression.Scope{"$context": map[string]any{
		"data": map[string]any{"read": 1, "score": 75, "tags": []any{"new", "vip"}},
	}})
	fmt.Println(ok, err)
	fmt.Println(calc.Refs())

	_, err = expression.CompileCalculation(map[string]any{"calculator": "foo", "operands": []any{1, 1}}, nil)
	fmt.Println(err)
	// Output:
	// true <nil>
	// [$context.data.read $context.data.score $context.data.tags]
	// no calculator function registered for "foo"
}
