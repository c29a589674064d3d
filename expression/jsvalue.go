package expression

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// This file emulates the few JavaScript value semantics NocoBase relies on:
// String() conversion, Number() conversion, loose equality (==) and the
// abstract relational comparison (<), plus Date parsing.

// jsKind classifies a Go value as the JavaScript type it stands for.
type jsKind uint8

const (
	kindNull jsKind = iota
	kindBool
	kindNumber
	kindString
	kindDate
	kindArray
	kindObject
)

// jsVal is a classified value. Primitives are unboxed so that comparing
// values does not allocate.
type jsVal struct {
	kind jsKind
	num  float64   // kindNumber
	str  string    // kindString
	b    bool      // kindBool
	t    time.Time // kindDate
	obj  any       // kindArray, kindObject
}

// classify returns the JavaScript view of a Go value.
func classify(v any) jsVal {
	switch x := v.(type) {
	case nil:
		return jsVal{}
	case bool:
		return jsVal{kind: kindBool, b: x}
	case string:
		return jsVal{kind: kindString, str: x}
	case float64:
		return jsVal{kind: kindNumber, num: x}
	case int:
		return jsVal{kind: kindNumber, num: float64(x)}
	case int64:
		return jsVal{kind: kindNumber, num: float64(x)}
	case int32:
		return jsVal{kind: kindNumber, num: float64(x)}
	case int16:
		return jsVal{kind: kindNumber, num: float64(x)}
	case int8:
		return jsVal{kind: kindNumber, num: float64(x)}
	case uint:
		return jsVal{kind: kindNumber, num: float64(x)}
	case uint64:
		return jsVal{kind: kindNumber, num: float64(x)}
	case uint32:
		return jsVal{kind: kindNumber, num: float64(x)}
	case uint16:
		return jsVal{kind: kindNumber, num: float64(x)}
	case uint8:
		return jsVal{kind: kindNumber, num: float64(x)}
	case float32:
		return jsVal{kind: kindNumber, num: float64(x)}
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			f = math.NaN()
		}
		return jsVal{kind: kindNumber, num: f}
	case time.Time:
		return jsVal{kind: kindDate, t: x}
	case *time.Time:
		if x == nil {
			return jsVal{}
		}
		return jsVal{kind: kindDate, t: *x}
	case []any:
		return jsVal{kind: kindArray, obj: v}
	case map[string]any:
		return jsVal{kind: kindObject, obj: v}
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		if rv.IsNil() {
			return jsVal{}
		}
	}
	switch rv.Kind() {
	case reflect.Bool:
		return jsVal{kind: kindBool, b: rv.Bool()}
	case reflect.String:
		return jsVal{kind: kindString, str: rv.String()}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return jsVal{kind: kindNumber, num: float64(rv.Int())}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return jsVal{kind: kindNumber, num: float64(rv.Uint())}
	case reflect.Float32, reflect.Float64:
		return jsVal{kind: kindNumber, num: rv.Float()}
	case reflect.Slice, reflect.Array:
		if isList(rv) {
			return jsVal{kind: kindArray, obj: v}
		}
		if rv.Kind() == reflect.Slice { // []byte: treat as text
			return jsVal{kind: kindString, str: string(rv.Bytes())}
		}
	case reflect.Pointer:
		return classify(rv.Elem().Interface())
	}
	return jsVal{kind: kindObject, obj: v}
}

// formatNumber formats f like JavaScript's Number.prototype.toString.
func formatNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0"
	}
	if abs := math.Abs(f); abs >= 1e21 || abs < 1e-6 {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		mant, exp, _ := strings.Cut(s, "e")
		sign := exp[0]
		exp = strings.TrimLeft(exp[1:], "0")
		return mant + "e" + string(sign) + exp
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// formatInt formats Go integers without going through float64.
func formatInt(v any) (string, bool) {
	switch x := v.(type) {
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case int32:
		return strconv.FormatInt(int64(x), 10), true
	case uint64:
		return strconv.FormatUint(x, 10), true
	case uint:
		return strconv.FormatUint(uint64(x), 10), true
	case uint32:
		return strconv.FormatUint(uint64(x), 10), true
	}
	return "", false
}

// isoTime formats t like JavaScript's Date.prototype.toISOString.
func isoTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// jsDateLayout is the layout of JavaScript's Date.prototype.toString (in UTC).
const jsDateLayout = "Mon Jan 02 2006 15:04:05 GMT-0700"

// toText converts v to text. With template set it follows template
// interpolation (nil -> "", Date -> ISO string); otherwise it follows
// JavaScript's String(v) (nil -> "null", Date -> Date.toString()).
func toText(v any, template bool) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return formatNumber(x)
	}
	if s, ok := formatInt(v); ok {
		return s
	}
	return classify(v).text(template)
}

// text is toText on a classified value.
func (v jsVal) text(template bool) string {
	switch v.kind {
	case kindNull:
		if template {
			return ""
		}
		return "null"
	case kindBool:
		if v.b {
			return "true"
		}
		return "false"
	case kindNumber:
		return formatNumber(v.num)
	case kindString:
		return v.str
	case kindDate:
		if template {
			return isoTime(v.t)
		}
		return v.t.UTC().Format(jsDateLayout) + " (Coordinated Universal Time)"
	case kindArray:
		return joinArray(v.obj, template)
	}
	return "[object Object]"
}

// joinArray implements Array.prototype.join(",") (nil elements -> "").
func joinArray(v any, template bool) string {
	var b strings.Builder
	n := listLen(v)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		if e := listAt(v, i); e != nil {
			b.WriteString(toText(e, template))
		}
	}
	return b.String()
}

// listLen and listAt access an array value ([]any or, through reflection,
// another slice or array).
func listLen(v any) int {
	if a, ok := v.([]any); ok {
		return len(a)
	}
	rv := reflect.ValueOf(v)
	if !isList(rv) {
		return 0
	}
	return rv.Len()
}

func listAt(v any, i int) any {
	if a, ok := v.([]any); ok {
		return a[i]
	}
	return reflect.ValueOf(v).Index(i).Interface()
}

// stringToNumber implements JavaScript's StringToNumber.
func stringToNumber(s string) float64 {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	switch s {
	case "Infinity", "+Infinity":
		return math.Inf(1)
	case "-Infinity":
		return math.Inf(-1)
	}
	if len(s) > 2 && s[0] == '0' {
		base := 0
		switch s[1] {
		case 'x', 'X':
			base = 16
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		}
		if base != 0 {
			if strings.IndexByte(s, '_') >= 0 {
				return math.NaN()
			}
			n, err := strconv.ParseUint(s[2:], base, 64)
			if err != nil {
				return math.NaN()
			}
			return float64(n)
		}
	}
	// Only plain decimal literals: digits, one dot, an exponent.
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && c != '.' && c != 'e' && c != 'E' && c != '+' && c != '-' {
			return math.NaN()
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f
		}
		return math.NaN()
	}
	return f
}

// toPrimitive converts objects to primitives: Dates to epoch milliseconds
// when number is set (hint "number") or to their string form otherwise,
// arrays to their joined string, other objects to "[object Object]".
func (v jsVal) toPrimitive(number bool) jsVal {
	switch v.kind {
	case kindDate:
		if number {
			return jsVal{kind: kindNumber, num: float64(v.t.UnixMilli())}
		}
		return jsVal{kind: kindString, str: v.text(false)}
	case kindArray:
		return jsVal{kind: kindString, str: joinArray(v.obj, false)}
	case kindObject:
		return jsVal{kind: kindString, str: "[object Object]"}
	}
	return v
}

// toNumber implements JavaScript's ToNumber.
func (v jsVal) toNumber() float64 {
	switch v.kind {
	case kindNull:
		return 0
	case kindBool:
		if v.b {
			return 1
		}
		return 0
	case kindNumber:
		return v.num
	case kindString:
		return stringToNumber(v.str)
	}
	return v.toPrimitive(true).toNumber()
}

func (a jsVal) looseEqual(b jsVal) bool {
	for range 4 {
		if a.kind == b.kind {
			switch a.kind {
			case kindNull:
				return true
			case kindBool:
				return a.b == b.b
			case kindNumber:
				return a.num == b.num
			case kindString:
				return a.str == b.str
			case kindDate:
				return a.t.Equal(b.t)
			}
			return sameObject(a.obj, b.obj)
		}
		switch {
		case a.kind == kindNull || b.kind == kindNull:
			return false
		case a.kind == kindNumber && b.kind == kindString:
			return a.num == stringToNumber(b.str)
		case a.kind == kindString && b.kind == kindNumber:
			return stringToNumber(a.str) == b.num
		case a.kind == kindBool:
			a = jsVal{kind: kindNumber, num: a.toNumber()}
		case b.kind == kindBool:
			b = jsVal{kind: kindNumber, num: b.toNumber()}
		case a.kind >= kindDate && b.kind < kindDate:
			a = a.toPrimitive(false)
		case b.kind >= kindDate && a.kind < kindDate:
			b = b.toPrimitive(false)
		default:
			return false // two different object kinds
		}
	}
	return false
}

// sameObject reports reference identity of two object values.
func sameObject(a, b any) bool {
	ra, rb := reflect.ValueOf(a), reflect.ValueOf(b)
	if ra.Type() != rb.Type() {
		return false
	}
	switch ra.Kind() {
	case reflect.Map, reflect.Pointer, reflect.Func, reflect.Chan, reflect.UnsafePointer:
		return ra.Pointer() == rb.Pointer()
	case reflect.Slice:
		return ra.Len() == rb.Len() && ra.Pointer() == rb.Pointer()
	}
	if ra.Type().Comparable() {
		return ra.Equal(rb)
	}
	return false
}

// jsLess implements JavaScript's abstract relational comparison a < b. ok
// is false when the result is undefined (a NaN was involved).
func jsLess(a, b jsVal) (less, ok bool) {
	a, b = a.toPrimitive(true), b.toPrimitive(true)
	if a.kind == kindString && b.kind == kindString {
		return a.str < b.str, true
	}
	na, nb := a.toNumber(), b.toNumber()
	if math.IsNaN(na) || math.IsNaN(nb) {
		return false, false
	}
	return na < nb, true
}

// dateLayouts are the string forms accepted as dates, tried in order.
// Strings without a zone are read as UTC.
var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05 Z07:00",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04",
	"2006-01-02",
	"2006-01",
	"2006",
	jsDateLayout,
	time.RFC1123Z,
	time.RFC1123,
}

// parseDate parses a date string the way JavaScript's Date constructor
// does for ISO-8601 forms. ok is false when s is not a date.
func parseDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	if i := strings.Index(s, " ("); i > 0 && strings.HasSuffix(s, ")") {
		s = s[:i] // Date.toString() zone name suffix
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// dateMillis implements new Date(v).getTime(); NaN when v is not a date.
func (v jsVal) dateMillis() float64 {
	switch v.kind {
	case kindDate:
		return float64(v.t.UnixMilli())
	case kindNumber:
		if math.IsNaN(v.num) || math.Abs(v.num) > 8.64e15 {
			return math.NaN()
		}
		return math.Trunc(v.num)
	case kindString:
		if t, ok := parseDate(v.str); ok {
			return float64(t.UnixMilli())
		}
	}
	return math.NaN()
}
