package expression

import (
	"reflect"
	"strings"
	"unicode/utf16"
)

// Get resolves a dot-separated path against root with the lodash-get
// semantics NocoBase uses for template keys:
//
//   - segments are separated by "."; a segment made only of ASCII digits
//     indexes an array ("items.0.id"), on a map it is an ordinary key;
//   - a value of type func() any is called when the walk reaches it, and
//     so is the final value;
//   - a missing key, an index out of range or a step into a scalar yields
//     nil;
//   - "length" on an array (or a string) yields its length;
//   - array-column expansion: when the current value is an array and the
//     next segment is not a numeric index, that segment is looked up in
//     every element and the results are flattened one level, so
//     "$context.data.category.posts.createdById" yields the []any of the
//     ids of all posts.
//
// map[string]any, Scope and []any are walked without reflection and without
// allocating (only array-column expansion allocates its result). Other
// maps with string keys, slices, arrays, pointers and structs (by field name
// or json tag) are handled through reflection.
func Get(root any, path string) any {
	cur := root
	for {
		i := strings.IndexByte(path, '.')
		seg := path
		if i >= 0 {
			seg = path[:i]
		}
		cur = step(cur, seg, segIndex(seg))
		if cur == nil || i < 0 {
			break
		}
		path = path[i+1:]
	}
	return resolve(cur)
}

// segment is one precompiled path segment.
type segment struct {
	key string
	idx int // >= 0 when key is a numeric index, else -1
}

// keyPath is a precompiled dot path.
type keyPath struct {
	raw  string
	segs []segment
}

func compilePath(p string) *keyPath {
	parts := strings.Split(p, ".")
	kp := &keyPath{raw: p, segs: make([]segment, len(parts))}
	for i, s := range parts {
		kp.segs[i] = segment{key: s, idx: segIndex(s)}
	}
	return kp
}

// extend returns a new path with one more segment.
func (p *keyPath) extend(seg string) *keyPath {
	segs := make([]segment, len(p.segs), len(p.segs)+1)
	copy(segs, p.segs)
	return &keyPath{raw: p.raw + "." + seg, segs: append(segs, segment{key: seg, idx: segIndex(seg)})}
}

func (p *keyPath) get(root any) any {
	cur := root
	for i := range p.segs {
		cur = step(cur, p.segs[i].key, p.segs[i].idx)
		if cur == nil {
			return nil
		}
	}
	return resolve(cur)
}

// segIndex returns the array index a segment denotes, or -1.
func segIndex(s string) int {
	if s == "" || len(s) > 9 {
		return -1
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// resolve calls lazy values.
func resolve(v any) any {
	if f, ok := v.(func() any); ok && f != nil {
		return f()
	}
	return v
}

// step looks key (or index idx) up in cur.
func step(cur any, key string, idx int) any {
	cur = resolve(cur)
	switch c := cur.(type) {
	case nil:
		return nil
	case map[string]any:
		return c[key]
	case Scope:
		return c[key]
	case []any:
		if idx >= 0 {
			if idx < len(c) {
				return c[idx]
			}
			return nil
		}
		if key == "length" {
			return len(c)
		}
		out := make([]any, 0, len(c))
		for _, e := range c {
			out = appendFlat(out, step(e, key, -1))
		}
		return out
	case []map[string]any:
		if idx >= 0 {
			if idx < len(c) {
				return c[idx]
			}
			return nil
		}
		if key == "length" {
			return len(c)
		}
		out := make([]any, 0, len(c))
		for _, e := range c {
			out = appendFlat(out, e[key])
		}
		return out
	case map[string]string:
		if v, ok := c[key]; ok {
			return v
		}
		return nil
	case string:
		if key == "length" {
			return utf16Len(c)
		}
		return nil
	case bool, float64, int, int64:
		return nil
	}
	return stepReflect(reflect.ValueOf(cur), key, idx)
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r) // invalid bytes decode to U+FFFD: one unit
	}
	return n
}

// appendFlat appends v to out, flattening one level of array.
func appendFlat(out []any, v any) []any {
	v = resolve(v)
	switch a := v.(type) {
	case []any:
		return append(out, a...)
	case nil, string, bool, float64, int, int64, map[string]any:
		return append(out, v)
	}
	rv := reflect.ValueOf(v)
	if isList(rv) {
		for i := 0; i < rv.Len(); i++ {
			out = append(out, rv.Index(i).Interface())
		}
		return out
	}
	return append(out, v)
}

// isList reports whether rv is a slice or array other than a byte string.
func isList(rv reflect.Value) bool {
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		return rv.Type().Elem().Kind() != reflect.Uint8
	}
	return false
}

func stepReflect(rv reflect.Value, key string, idx int) any {
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Map:
		kt := rv.Type().Key()
		var k reflect.Value
		switch {
		case kt.Kind() == reflect.String:
			k = reflect.ValueOf(key).Convert(kt)
		case idx >= 0 && kt.Kind() >= reflect.Int && kt.Kind() <= reflect.Uint64:
			k = reflect.ValueOf(idx).Convert(kt)
		default:
			return nil
		}
		v := rv.MapIndex(k)
		if !v.IsValid() || !v.CanInterface() {
			return nil
		}
		return v.Interface()
	case reflect.Slice, reflect.Array:
		if idx >= 0 {
			if idx < rv.Len() {
				return rv.Index(idx).Interface()
			}
			return nil
		}
		if key == "length" {
			return rv.Len()
		}
		if !isList(rv) {
			return nil
		}
		out := make([]any, 0, rv.Len())
		for i := 0; i < rv.Len(); i++ {
			out = appendFlat(out, step(rv.Index(i).Interface(), key, -1))
		}
		return out
	case reflect.String:
		if key == "length" {
			return utf16Len(rv.String())
		}
	case reflect.Struct:
		return structField(rv, key)
	}
	return nil
}

func structField(rv reflect.Value, key string) any {
	t := rv.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			tn, _, _ := strings.Cut(tag, ",")
			if tn == "-" {
				continue
			}
			if tn != "" {
				name = tn
			}
		}
		if name == key {
			return rv.Field(i).Interface()
		}
	}
	return nil
}
