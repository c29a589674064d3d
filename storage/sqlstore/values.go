package sqlstore

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/actiontrigger/actiontrigger/flow"
)

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
	typ := c.ColumnType(field)
	if _, ok := c.Columns[field]; ok {
		typ = c.Columns[field]
	}
	bad := func() error {
		return fmt.Errorf("sqlstore: collection %q: field %q: %v (%T) is not a valid %s: %w", c.Name, field, v, v, typ, flow.ErrInvalidRecord)
	}
	switch typ {
	case flow.FieldInteger:
		if i, ok := flow.IntValue(v); ok {
			return i, nil
		}
		return nil, bad()
	case flow.FieldNumber:
		if f, ok := flow.FloatValue(v); ok {
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
		if i, ok := flow.IntValue(v); ok {
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
		if f, ok := flow.FloatValue(v); ok {
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
	if fa, ok := flow.FloatValue(a); ok {
		if fb, ok := flow.FloatValue(b); ok {
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
