package sqlstore

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"

	"github.com/actiontrigger/actiontrigger/flow"
)

// asInt64 converts an integral number (of any Go numeric type, json.Number or
// a decimal string) to int64.
func asInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int16:
		return int64(n), true
	case int8:
		return int64(n), true
	case uint:
		return int64(n), n <= math.MaxInt64
	case uint64:
		return int64(n), n <= math.MaxInt64
	case uint32:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint8:
		return int64(n), true
	case float64:
		return int64(n), n == math.Trunc(n) && math.Abs(n) < 1<<63
	case float32:
		f := float64(n)
		return int64(f), f == math.Trunc(f) && math.Abs(f) < 1<<63
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case string:
		i, err := strconv.ParseInt(n, 10, 64)
		return i, err == nil
	}
	return 0, false
}

// asFloat64 converts a number of any Go numeric type to float64.
func asFloat64(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int16:
		return float64(n), true
	case int8:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint64:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint16:
		return float64(n), true
	case uint8:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// sqliteTime is how SQLite date columns hold times: fixed-width UTC text, so
// text order is time order.
const sqliteTime = "2006-01-02T15:04:05.000000Z"

func parseTime(s string) (time.Time, bool) {
	for _, layout := range []string{sqliteTime, time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// encode converts a value for the column of field: integers to int64, numbers
// to float64, dates to the dialect's form, JSON to its text. nil stays nil.
func (st *state) encode(c *collection, field string, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	typ := c.columnType(field)
	if _, ok := c.columns[field]; ok {
		typ = c.columns[field]
	}
	bad := func() error {
		return fmt.Errorf("sqlstore: collection %q: field %q: %v (%T) is not a valid %s: %w", c.name, field, v, v, typ, flow.ErrInvalidRecord)
	}
	switch typ {
	case flow.FieldInteger:
		if i, ok := asInt64(v); ok {
			return i, nil
		}
		return nil, bad()
	case flow.FieldNumber:
		if f, ok := asFloat64(v); ok {
			return f, nil
		}
		if s, ok := v.(string); ok {
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				return f, nil
			}
		}
		return nil, bad()
	case flow.FieldBoolean:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, bad()
	case flow.FieldDate:
		var t time.Time
		switch x := v.(type) {
		case time.Time:
			t = x
		case *time.Time:
			if x == nil {
				return nil, nil
			}
			t = *x
		case string:
			var ok bool
			if t, ok = parseTime(x); !ok {
				return nil, bad()
			}
		default:
			return nil, bad()
		}
		t = t.UTC().Truncate(time.Microsecond)
		if st.d == SQLite {
			return t.Format(sqliteTime), nil
		}
		return t, nil
	case flow.FieldJSON:
		return js(v)
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case []byte:
		return string(x), nil
	case fmt.Stringer:
		return x.String(), nil
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Map || rv.Kind() == reflect.Slice {
		return nil, bad()
	}
	return fmt.Sprint(v), nil
}

// decode converts a value read from the column of field to the type the
// memory store returns for it.
func decode(typ flow.FieldType, v any) any {
	if v == nil {
		return nil
	}
	switch typ {
	case flow.FieldInteger:
		switch x := v.(type) {
		case []byte:
			if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
				return i
			}
		}
		if i, ok := asInt64(v); ok {
			return i
		}
	case flow.FieldNumber:
		switch x := v.(type) {
		case []byte:
			if f, err := strconv.ParseFloat(string(x), 64); err == nil {
				return f
			}
		case string:
			if f, err := strconv.ParseFloat(x, 64); err == nil {
				return f
			}
		}
		if f, ok := asFloat64(v); ok {
			return f
		}
	case flow.FieldBoolean:
		switch x := v.(type) {
		case bool:
			return x
		case int64:
			return x != 0
		}
	case flow.FieldDate:
		switch x := v.(type) {
		case time.Time:
			return x.UTC()
		case string:
			if t, ok := parseTime(x); ok {
				return t
			}
		case []byte:
			if t, ok := parseTime(string(x)); ok {
				return t
			}
		}
	case flow.FieldJSON:
		var raw []byte
		switch x := v.(type) {
		case string:
			raw = []byte(x)
		case []byte:
			raw = x
		default:
			return v
		}
		var out any
		if err := json.Unmarshal(raw, &out); err == nil {
			return out
		}
		return string(raw)
	default:
		if b, ok := v.([]byte); ok {
			return string(b)
		}
	}
	return v
}

// compareValues orders two key values: numbers numerically, then strings,
// then anything else by its text.
func compareValues(a, b any) int {
	if fa, ok := asFloat64(a); ok {
		if fb, ok := asFloat64(b); ok {
			switch {
			case fa < fb:
				return -1
			case fa > fb:
				return 1
			}
			return 0
		}
	}
	if ta, ok := a.(time.Time); ok {
		if tb, ok := b.(time.Time); ok {
			return ta.Compare(tb)
		}
	}
	sa, sb := fmt.Sprint(a), fmt.Sprint(b)
	switch {
	case sa < sb:
		return -1
	case sa > sb:
		return 1
	}
	return 0
}

// asList returns the elements of a to-many association value.
func asList(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	case []flow.Record:
		out := make([]any, len(x))
		for i, r := range x {
			out[i] = r
		}
		return out
	case string, []byte:
		return []any{v}
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = rv.Index(i).Interface()
		}
		return out
	}
	return []any{v}
}
