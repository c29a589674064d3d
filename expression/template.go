package expression

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Template is a compiled NocoBase JSON template: a value whose strings (and
// map keys) may contain "{{path}}" placeholders. Compile it once with
// CompileTemplate and render it any number of times, concurrently if needed.
//
// Placeholder syntax: "{{ body }}" where body consists of letters, digits,
// whitespace and the characters `: - + . , @ / ( ) ? = * _ $`. The body is
// trimmed; the first ":" separates the key from a literal default value
// ("{{$context.data.title:untitled}}"). The key is a path resolved with Get.
type Template struct {
	root      tnode
	constant  bool
	value     any // the compiled input, returned as is when constant
	refs      []string
	maxRender int
}

// CompileTemplate compiles v into a Template. Strings, map keys and values
// of map[string]any (and of other maps with string keys), and elements of
// []any (and of other slices and arrays) are templated; any other value is
// passed through unchanged. Malformed placeholders (a "{{" without a closing
// "}}", an empty body, a body with a character outside the allowed set) are
// errors wrapping ErrTemplate naming the string, the offset and, for nested
// values, the location in v.
//
// A template with more placeholders than Limits.MaxTemplatePlaceholders
// (default DefaultMaxTemplatePlaceholders, see WithLimits; other options
// are ignored) is refused with a *BudgetError wrapping ErrTemplate and
// ErrBudget.
//
// The compiled template keeps references to the parts of v that contain no
// placeholder and renders them as is, so v must not be modified afterwards.
func CompileTemplate(v any, opts ...Option) (*Template, error) {
	lim := &defaultLimits
	if len(opts) > 0 {
		l := newConfig(opts).limits
		lim = &l
	}
	c := &tcompiler{seen: map[string]bool{}}
	n, err := c.compile(v, "")
	if err != nil {
		return nil, err
	}
	if err := c.checkCount(lim); err != nil {
		return nil, err
	}
	t := &Template{root: n, value: v, refs: c.refs, maxRender: lim.MaxRenderBytes}
	if _, ok := n.(constNode); ok {
		t.constant = true
	}
	return t, nil
}

// Render evaluates v as a template against s in one step, with the
// default Limits. It is meant for tests and one-off use; compile templates
// that are rendered repeatedly.
func Render(v any, s Scope) (any, error) {
	t, err := CompileTemplate(v)
	if err != nil {
		return nil, err
	}
	return t.RenderChecked(s)
}

// Render is RenderChecked without the error: when the rendered text would
// exceed Limits.MaxRenderBytes it stops and returns nil. Use RenderChecked
// where the failure must be reported.
func (t *Template) Render(s Scope) any {
	if t != nil && t.constant {
		return t.value
	}
	v, _ := t.RenderChecked(s)
	return v
}

// RenderChecked evaluates the template against s and returns a new value;
// the compiled input is never modified.
//
// A string that is exactly one placeholder (surrounding whitespace allowed)
// renders to the raw value with its type (number, bool, map, slice, nil,
// time.Time, ...). Otherwise each placeholder is replaced by its text: nil
// as "", time.Time as an ISO-8601 UTC string with milliseconds, numbers as
// JavaScript prints them, bools as "true"/"false", arrays as their
// comma-joined elements, maps as "[object Object]". A nil value is replaced
// by the placeholder's default when it has one.
//
// Maps render to map[string]any and slices to []any; parts of the input
// without placeholders are returned as is (shared, not copied). A template
// without any placeholder returns its input without allocating.
//
// The text built by substituting placeholders into strings (and map keys)
// is bounded by Limits.MaxRenderBytes (default DefaultMaxRenderBytes):
// past it, rendering stops and the error is a *BudgetError wrapping
// ErrTemplate and ErrBudget.
func (t *Template) RenderChecked(s Scope) (any, error) {
	if t == nil {
		return nil, nil
	}
	if t.constant {
		return t.value, nil
	}
	v, used := t.root.render(map[string]any(s), 0, t.maxRender)
	if used > t.maxRender {
		return nil, renderErr(used, t.maxRender)
	}
	return v, nil
}

// renderErr reports rendered text over the MaxRenderBytes bound.
func renderErr(used, limit int) error {
	return fmt.Errorf("%w: %w", ErrTemplate,
		budgetErr("MaxRenderBytes", limit, "rendering at least %d bytes of text", used))
}

// Refs returns the key path of every placeholder (without defaults),
// deduplicated, in order of appearance (map entries in key order).
func (t *Template) Refs() []string {
	if t == nil {
		return nil
	}
	return append([]string(nil), t.refs...)
}

// IsConstant reports whether the template contains no placeholder, in which
// case Render returns the compiled input itself.
func (t *Template) IsConstant() bool { return t == nil || t.constant }

// tnode is a compiled template node. render returns the rendered value and
// used plus the bytes of text it built; it stops (returning a total above
// limit) as soon as that total exceeds limit.
type tnode interface {
	render(s map[string]any, used, limit int) (any, int)
}

type constNode struct{ v any }

func (n constNode) render(_ map[string]any, used, _ int) (any, int) { return n.v, used }

// placeholder is one "{{key:default}}".
type placeholder struct {
	path   *keyPath
	def    string
	hasDef bool
}

func (p *placeholder) value(s map[string]any) any {
	v := p.path.get(s)
	if v == nil && p.hasDef {
		return p.def
	}
	return v
}

type textPart struct {
	lit string
	ph  *placeholder
}

// textNode is a string containing at least one placeholder.
type textNode struct {
	parts  []textPart
	whole  *placeholder // the string is exactly this placeholder
	litLen int
}

func (n *textNode) render(s map[string]any, used, limit int) (any, int) {
	if n.whole != nil {
		return n.whole.value(s), used
	}
	return n.text(s, used, limit)
}

func (n *textNode) text(s map[string]any, used, limit int) (string, int) {
	if n.whole != nil {
		out := toText(n.whole.value(s), true)
		return out, used + len(out)
	}
	var b strings.Builder
	b.Grow(min(n.litLen+16*len(n.parts), max(limit-used, 0)))
	for i := range n.parts {
		p := &n.parts[i]
		if p.ph == nil {
			b.WriteString(p.lit)
		} else {
			b.WriteString(toText(p.ph.value(s), true))
		}
		if b.Len() > limit-used {
			return "", used + b.Len()
		}
	}
	return b.String(), used + b.Len()
}

type mapEntry struct {
	key     string
	keyText *textNode // nil when the key is constant
	val     tnode
}

type mapNode struct{ entries []mapEntry }

func (n *mapNode) render(s map[string]any, used, limit int) (any, int) {
	out := make(map[string]any, len(n.entries))
	for i := range n.entries {
		e := &n.entries[i]
		k := e.key
		if e.keyText != nil {
			if k, used = e.keyText.text(s, used, limit); used > limit {
				return nil, used
			}
		}
		var v any
		if v, used = e.val.render(s, used, limit); used > limit {
			return nil, used
		}
		out[k] = v
	}
	return out, used
}

type listNode struct{ elems []tnode }

func (n *listNode) render(s map[string]any, used, limit int) (any, int) {
	out := make([]any, len(n.elems))
	for i, e := range n.elems {
		if out[i], used = e.render(s, used, limit); used > limit {
			return nil, used
		}
	}
	return out, used
}

// tcompiler collects refs and counts placeholders while compiling.
type tcompiler struct {
	refs  []string
	seen  map[string]bool
	count int
}

// checkCount refuses more placeholders than lim allows.
func (c *tcompiler) checkCount(lim *Limits) error {
	if c.count > lim.MaxTemplatePlaceholders {
		return fmt.Errorf("%w: %w", ErrTemplate, budgetErr("MaxTemplatePlaceholders",
			lim.MaxTemplatePlaceholders, "a template with %d placeholders", c.count))
	}
	return nil
}

func (c *tcompiler) addRef(k string) {
	if !c.seen[k] {
		c.seen[k] = true
		c.refs = append(c.refs, k)
	}
}

func (c *tcompiler) compile(v any, at string) (tnode, error) {
	switch x := v.(type) {
	case nil, bool, float64, int, int64:
		return constNode{v}, nil
	case string:
		tn, err := c.compileString(x, at)
		if err != nil || tn == nil {
			return constNode{v}, err
		}
		return tn, nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		return c.compileMap(v, keys, func(k string) any { return x[k] }, at)
	case []any:
		return c.compileList(v, len(x), func(i int) any { return x[i] }, at)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return constNode{v}, nil
		}
		keys := make([]string, 0, rv.Len())
		byKey := make(map[string]reflect.Value, rv.Len())
		for it := rv.MapRange(); it.Next(); {
			k := it.Key().String()
			keys = append(keys, k)
			byKey[k] = it.Value()
		}
		return c.compileMap(v, keys, func(k string) any { return byKey[k].Interface() }, at)
	case reflect.Slice, reflect.Array:
		if !isList(rv) {
			return constNode{v}, nil
		}
		return c.compileList(v, rv.Len(), func(i int) any { return rv.Index(i).Interface() }, at)
	case reflect.String:
		tn, err := c.compileString(rv.String(), at)
		if err != nil || tn == nil {
			return constNode{v}, err
		}
		return tn, nil
	}
	return constNode{v}, nil
}

func (c *tcompiler) compileMap(orig any, keys []string, get func(string) any, at string) (tnode, error) {
	sort.Strings(keys)
	n := &mapNode{entries: make([]mapEntry, len(keys))}
	constant := true
	for i, k := range keys {
		e := mapEntry{key: k}
		kt, err := c.compileString(k, joinAt(at, "{key "+strconv.Quote(k)+"}"))
		if err != nil {
			return nil, err
		}
		if kt != nil {
			e.keyText = kt
			constant = false
		}
		if e.val, err = c.compile(get(k), joinAt(at, k)); err != nil {
			return nil, err
		}
		if _, ok := e.val.(constNode); !ok {
			constant = false
		}
		n.entries[i] = e
	}
	if constant {
		return constNode{orig}, nil
	}
	return n, nil
}

func (c *tcompiler) compileList(orig any, length int, get func(int) any, at string) (tnode, error) {
	n := &listNode{elems: make([]tnode, length)}
	constant := true
	for i := range length {
		e, err := c.compile(get(i), at+"["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		if _, ok := e.(constNode); !ok {
			constant = false
		}
		n.elems[i] = e
	}
	if constant {
		return constNode{orig}, nil
	}
	return n, nil
}

func joinAt(at, key string) string {
	if at == "" {
		return key
	}
	return at + "." + key
}

// compileString parses the placeholders of s; it returns nil when s has
// none.
func (c *tcompiler) compileString(s, at string) (*textNode, error) {
	if !strings.Contains(s, "{{") {
		return nil, nil
	}
	parts, err := parsePlaceholders(s)
	if err != nil {
		if at != "" {
			return nil, fmt.Errorf("%w (at %s)", err, at)
		}
		return nil, err
	}
	n := &textNode{parts: parts}
	count := 0
	for _, p := range parts {
		if p.ph != nil {
			count++
			c.count++
			c.addRef(p.ph.path.raw)
		} else {
			n.litLen += len(p.lit)
		}
	}
	if count == 0 {
		return nil, nil
	}
	if count == 1 {
		whole := true
		var ph *placeholder
		for _, p := range parts {
			if p.ph != nil {
				ph = p.ph
			} else if strings.TrimSpace(p.lit) != "" {
				whole = false
			}
		}
		if whole {
			n.whole = ph
		}
	}
	return n, nil
}

// isBodyRune reports whether r may appear in a placeholder body.
func isBodyRune(r rune) bool {
	if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsSpace(r) {
		return true
	}
	return strings.ContainsRune(":-+.,@/()?=*_$", r)
}

// parsePlaceholders splits s into literal text and placeholders.
func parsePlaceholders(s string) ([]textPart, error) {
	var parts []textPart
	lit := 0 // start of the pending literal
	i := 0
	for {
		j := strings.Index(s[i:], "{{")
		if j < 0 {
			break
		}
		start := i + j
		for start+2 < len(s) && s[start+2] == '{' {
			start++ // "{{{x}}": the first brace is literal text
		}
		bodyStart := start + 2
		k := strings.Index(s[bodyStart:], "}}")
		if k < 0 {
			return nil, fmt.Errorf("%w: unclosed \"{{\" at offset %d in %q", ErrTemplate, start, s)
		}
		body := s[bodyStart : bodyStart+k]
		for off, r := range body {
			if !isBodyRune(r) {
				return nil, fmt.Errorf("%w: character %q not allowed in placeholder at offset %d in %q",
					ErrTemplate, r, bodyStart+off, s)
			}
		}
		body = strings.TrimSpace(body)
		key, def, hasDef := strings.Cut(body, ":")
		key = strings.TrimSpace(key)
		if key == "" {
			return nil, fmt.Errorf("%w: empty placeholder at offset %d in %q", ErrTemplate, start, s)
		}
		if start > lit {
			parts = append(parts, textPart{lit: s[lit:start]})
		}
		parts = append(parts, textPart{ph: &placeholder{
			path:   compilePath(key),
			def:    def,
			hasDef: hasDef && def != "",
		}})
		i = bodyStart + k + 2
		lit = i
	}
	if lit < len(s) {
		parts = append(parts, textPart{lit: s[lit:]})
	}
	return parts, nil
}
