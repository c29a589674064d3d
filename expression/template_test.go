package expression_test

import (
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/expression"
)

var fixedNow = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

func sampleScope() expression.Scope {
	return expression.Scope{
		"$context": map[string]any{
			"data": map[string]any{
				"id":     float64(7),
				"title":  "Hello",
				"amount": 2.5,
				"count":  float64(3),
				"read":   true,
				"none":   nil,
				"tags":   []any{"a", "b", nil, float64(4)},
				"meta":   map[string]any{"k": "v"},
				"when":   fixedNow,
				"items":  []any{map[string]any{"id": float64(10)}, map[string]any{"id": float64(11)}},
				"category": map[string]any{
					"posts": []any{
						map[string]any{"createdById": float64(1), "tags": []any{"x", "y"}},
						map[string]any{"createdById": float64(2), "tags": []any{"z"}},
						map[string]any{"title": "no author"},
					},
				},
				"key": "dyn",
			},
			"user":     map[string]any{"id": float64(2), "nickname": "Ann"},
			"roleName": "admin",
		},
		"$jobsMapByNodeKey": map[string]any{"n1": map[string]any{"total": int64(42)}},
		"$system":           map[string]any{"now": func() any { return fixedNow }},
	}
}

func TestGet(t *testing.T) {
	s := sampleScope()
	cases := []struct {
		path string
		want any
	}{
		{"$context.data.title", "Hello"},
		{"$context.data.items.0.id", float64(10)},
		{"$context.data.items.1.id", float64(11)},
		{"$context.data.items.2.id", nil},
		{"$context.data.items.id", []any{float64(10), float64(11)}},
		{"$context.data.items.length", 2},
		{"$context.data.title.length", 5},
		{"$context.data.category.posts.createdById", []any{float64(1), float64(2), nil}},
		{"$context.data.category.posts.tags", []any{"x", "y", "z", nil}},
		{"$context.data.category.posts.tags.1", "y"},
		{"$context.data.missing", nil},
		{"$context.data.missing.deeper", nil},
		{"$context.data.title.deeper", nil},
		{"$context.data.none.x", nil},
		{"$system.now", fixedNow},
		{"$system.now.x", nil},
		{"$jobsMapByNodeKey.n1.total", int64(42)},
		{"nope", nil},
		{"", nil},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, expression.Get(s, c.path), c.path)
		assert.Equal(t, c.want, expression.Get(map[string]any(s), c.path), c.path)
	}

	type user struct {
		ID       int    `json:"id"`
		Nickname string `json:"nickname,omitempty"`
		Secret   string `json:"-"`
		Plain    string
	}
	root := map[string]any{
		"rows":    []map[string]any{{"id": 1}, {"id": 2}},
		"strs":    map[string]string{"a": "b"},
		"ints":    map[int]string{3: "three"},
		"user":    &user{ID: 5, Nickname: "Bob", Secret: "s", Plain: "p"},
		"users":   []user{{ID: 1}, {ID: 2}},
		"matrix":  [][]any{{1, 2}, {3}},
		"lazyArr": func() any { return []any{map[string]any{"v": 1}} },
	}
	assert.Equal(t, 2, expression.Get(root, "rows.1.id"))
	assert.Equal(t, []any{1, 2}, expression.Get(root, "rows.id"))
	assert.Equal(t, 2, expression.Get(root, "rows.length"))
	assert.Equal(t, "b", expression.Get(root, "strs.a"))
	assert.Nil(t, expression.Get(root, "strs.z"))
	assert.Equal(t, "three", expression.Get(root, "ints.3"))
	assert.Equal(t, 5, expression.Get(root, "user.id"))
	assert.Equal(t, "Bob", expression.Get(root, "user.nickname"))
	assert.Equal(t, "p", expression.Get(root, "user.Plain"))
	assert.Nil(t, expression.Get(root, "user.Secret"))
	assert.Equal(t, []any{1, 2}, expression.Get(root, "users.id"))
	assert.Equal(t, 2, expression.Get(root, "matrix.0.1"))
	assert.Equal(t, 2, expression.Get(root, "matrix.length"))
	assert.Equal(t, []any{1}, expression.Get(root, "lazyArr.v"))
	assert.Nil(t, expression.Get(nil, "a.b"))
	assert.Nil(t, expression.Get(42, "a"))
}

func TestGetDoesNotAllocate(t *testing.T) {
	s := sampleScope()
	allocs := testing.AllocsPerRun(100, func() {
		_ = expression.Get(s, "$context.data.items.1.id")
		_ = expression.Get(s, "$context.user.nickname")
	})
	assert.Zero(t, allocs)
}

func render(t *testing.T, v any, s expression.Scope) any {
	t.Helper()
	out, err := expression.Render(v, s)
	require.NoError(t, err)
	return out
}

func TestTemplateWholePlaceholderKeepsType(t *testing.T) {
	s := sampleScope()
	cases := map[string]any{
		"{{$context.data.amount}}":                     2.5,
		"{{ $context.data.read }}":                     true,
		"  {{$context.data.read}}\n":                   true,
		"{{$context.data.meta}}":                       map[string]any{"k": "v"},
		"{{$context.data.tags}}":                       []any{"a", "b", nil, float64(4)},
		"{{$context.data.none}}":                       nil,
		"{{$context.data.missing}}":                    nil,
		"{{$context.data.when}}":                       fixedNow,
		"{{$system.now}}":                              fixedNow,
		"{{$jobsMapByNodeKey.n1.total}}":               int64(42),
		"{{$context.data.missing:dflt}}":               "dflt",
		"{{$context.data.none:dflt}}":                  "dflt",
		"{{$context.data.title:dflt}}":                 "Hello",
		"{{$context.data.missing:}}":                   nil, // an empty default is no default
		"{{$context.data.category.posts.createdById}}": []any{float64(1), float64(2), nil},
	}
	for tpl, want := range cases {
		assert.Equal(t, want, render(t, tpl, s), tpl)
	}
}

func TestTemplateInterpolation(t *testing.T) {
	s := sampleScope()
	s["n"] = map[string]any{
		"big": 1e21, "small": 1.5e-7, "neg": -3.0, "int": 12, "i64": int64(-9), "u": uint8(7),
		"nan": nil, "nested": []any{[]any{1, 2}, "x"}, "empty": []any{}, "date": time.Date(2020, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600)),
	}
	cases := map[string]string{
		"#{{$context.data.id}} {{$context.data.title}}":       "#7 Hello",
		"{{$context.data.amount}}/{{$context.data.count}}":    "2.5/3",
		"read={{$context.data.read}}":                         "read=true",
		"[{{$context.data.none}}][{{$context.data.missing}}]": "[][]",
		"tags: {{$context.data.tags}}":                        "tags: a,b,,4",
		"meta: {{$context.data.meta}}":                        "meta: [object Object]",
		"at {{$context.data.when}}":                           "at 2024-05-06T07:08:09.123Z",
		"now {{$system.now}}":                                 "now 2024-05-06T07:08:09.123Z",
		"{{n.big}} {{n.small}} {{n.neg}} {{n.int}} {{n.i64}}": "1e+21 1.5e-7 -3 12 -9",
		"{{n.u}}|{{n.nested}}|{{n.empty}}|":                   "7|1,2,x||",
		"d={{n.date}}":                                        "d=2020-01-02T02:04:05.000Z",
		"Hi {{$context.user.nickname:guest}}, {{who:guest}}!": "Hi Ann, guest!",
		"ids: {{$context.data.category.posts.createdById}}":   "ids: 1,2,",
		"{{{$context.data.title}}}":                           "{Hello}",
		"}} {{$context.data.title}} }}":                       "}} Hello }}",
		"no placeholders {":                                   "no placeholders {",
		"{{ $context.data.title }}{{$context.data.title}}":    "HelloHello",
	}
	for tpl, want := range cases {
		assert.Equal(t, want, render(t, tpl, s), tpl)
	}
}

func TestTemplateStructures(t *testing.T) {
	s := sampleScope()
	in := map[string]any{
		"title":                  "{{$context.data.title}}",
		"{{$context.data.key}}":  "dynamic key",
		"k-{{$context.user.id}}": float64(1),
		"list":                   []any{"{{$context.user.id}}", 3, "plain", []any{"{{$context.roleName}}"}},
		"strs":                   []string{"{{$context.user.nickname}}", "x"},
		"rows":                   []map[string]any{{"by": "{{$context.user.id}}"}},
		"smap":                   map[string]string{"who": "{{$context.user.nickname}}"},
		"const":                  map[string]any{"a": []any{1, 2}},
		"num":                    5,
		"nil":                    nil,
	}
	want := map[string]any{
		"title": "Hello",
		"dyn":   "dynamic key",
		"k-2":   float64(1),
		"list":  []any{float64(2), 3, "plain", []any{"admin"}},
		"strs":  []any{"Ann", "x"},
		"rows":  []any{map[string]any{"by": float64(2)}},
		"smap":  map[string]any{"who": "Ann"},
		"const": map[string]any{"a": []any{1, 2}},
		"num":   5,
		"nil":   nil,
	}
	assert.Equal(t, want, render(t, in, s))
	assert.Equal(t, []any{"x", "Hello"}, render(t, []any{"x", "{{$context.data.title}}"}, s))
	assert.Equal(t, 42, render(t, 42, s))
	type custom struct{ A string }
	assert.Equal(t, custom{A: "{{x}}"}, render(t, custom{A: "{{x}}"}, s), "other types pass through")
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = deepCopy(e)
		}
		return a
	}
	return v
}

func TestTemplateRenderNeverMutates(t *testing.T) {
	in := map[string]any{
		"a":                     "{{$context.data.title}}",
		"list":                  []any{"{{$context.user.id}}", map[string]any{"x": "{{$context.roleName}}"}},
		"k{{$context.user.id}}": "v",
	}
	orig := deepCopy(in)
	tpl, err := expression.CompileTemplate(in)
	require.NoError(t, err)
	out1 := tpl.Render(sampleScope()).(map[string]any)
	assert.Equal(t, orig, in)

	// The output shares no templated container with the input or with
	// another rendering.
	out1["a"] = "changed"
	out1["list"].([]any)[1].(map[string]any)["x"] = "changed"
	assert.Equal(t, orig, in)
	out2 := tpl.Render(sampleScope()).(map[string]any)
	assert.Equal(t, "Hello", out2["a"])
	assert.Equal(t, "admin", out2["list"].([]any)[1].(map[string]any)["x"])
	assert.Equal(t, "v", out2["k2"])
}

func TestTemplateLazyFunctions(t *testing.T) {
	var calls atomic.Int32
	s := expression.Scope{"$system": map[string]any{
		"now":   func() any { calls.Add(1); return fixedNow },
		"other": func() any { calls.Add(100); return 1 },
	}}
	tpl, err := expression.CompileTemplate(map[string]any{"at": "{{$system.now}}", "s": "it is {{$system.now}}"})
	require.NoError(t, err)
	out := tpl.Render(s)
	assert.Equal(t, map[string]any{"at": fixedNow, "s": "it is 2024-05-06T07:08:09.123Z"}, out)
	assert.Equal(t, int32(2), calls.Load(), "only referenced functions are called, once per use")
}

func TestTemplateConstant(t *testing.T) {
	in := map[string]any{"a": []any{1, "x"}, "b": "no {placeholders}"}
	tpl, err := expression.CompileTemplate(in)
	require.NoError(t, err)
	assert.True(t, tpl.IsConstant())
	assert.Empty(t, tpl.Refs())
	out := tpl.Render(nil)
	assert.Equal(t, reflect.ValueOf(in).Pointer(), reflect.ValueOf(out).Pointer(), "returns the input itself")
	s := sampleScope()
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = tpl.Render(s) }))

	str, err := expression.CompileTemplate("plain")
	require.NoError(t, err)
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = str.Render(s) }))

	tpl2, err := expression.CompileTemplate("{{x}}")
	require.NoError(t, err)
	assert.False(t, tpl2.IsConstant())

	var nilTpl *expression.Template
	assert.Nil(t, nilTpl.Render(s))
	assert.True(t, nilTpl.IsConstant())
}

func TestTemplateRefs(t *testing.T) {
	tpl, err := expression.CompileTemplate(map[string]any{
		"b":                     "{{$context.data.title}} {{ $context.user.id : 0 }}",
		"a":                     []any{"{{$context.data.title}}", "{{$jobsMapByNodeKey.n1.total}}"},
		"{{$context.data.key}}": "{{$scopes.loop.item}}",
	})
	require.NoError(t, err)
	// Map entries in key order ("a", "b", "{{...}}"), key before value.
	assert.Equal(t, []string{
		"$context.data.title", "$jobsMapByNodeKey.n1.total",
		"$context.user.id",
		"$context.data.key", "$scopes.loop.item",
	}, tpl.Refs())

	refs := tpl.Refs()
	refs[0] = "mutated"
	assert.Equal(t, "$context.data.title", tpl.Refs()[0], "Refs returns a copy")
}

func TestTemplateCompileErrors(t *testing.T) {
	cases := []struct {
		in      any
		message string
	}{
		{"abc {{$context.data.title", `unclosed "{{" at offset 4 in "abc {{$context.data.title"`},
		{"{{}}", `empty placeholder at offset 0`},
		{"x {{   }}", `empty placeholder at offset 2`},
		{"{{ :default }}", `empty placeholder`},
		{"{{a!b}}", `character '!' not allowed in placeholder at offset 3 in "{{a!b}}"`},
		{"{{a[0]}}", `character '['`},
		{map[string]any{"x": []any{1, "{{a"}}, `(at x[1])`},
		{map[string]any{"{{a": 1}, `(at {key "{{a"})`},
		{[]string{"ok", "{{ a\"b }}"}, `(at [1])`},
	}
	for _, c := range cases {
		_, err := expression.CompileTemplate(c.in)
		require.Error(t, err, "%#v", c.in)
		assert.True(t, errors.Is(err, expression.ErrTemplate), "%v", err)
		assert.Contains(t, err.Error(), c.message)
		_, err = expression.Render(c.in, nil)
		assert.ErrorIs(t, err, expression.ErrTemplate)
	}
}
