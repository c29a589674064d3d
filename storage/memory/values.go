package memory

import (
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/actiontrigger/actiontrigger/flow"
)

// normalize converts a value for a column: integer columns hold int64 (any
// integral number or decimal string is accepted), other columns keep the value
// as given. nil stays nil.
func normalize(c *collection, field string, typ flow.FieldType, v any) (any, error) {
	if v == nil || typ != flow.FieldInteger {
		return v, nil
	}
	if i, ok := v.(int64); ok {
		return i, nil
	}
	if i, ok := flow.IntValue(v); ok {
		return i, nil
	}
	return nil, fmt.Errorf("memory: collection %q: field %q: %v (%T) is not an integer: %w", c.Name, field, v, v, flow.ErrInvalidRecord)
}

// sameValue reports whether a stored value equals v: numbers compare by value
// whatever their Go type, times by instant, others by deep equality.
func sameValue(stored, v any) bool {
	if stored == nil || v == nil {
		return stored == nil && v == nil
	}
	switch a := stored.(type) {
	case int64:
		if b, ok := v.(int64); ok {
			return a == b
		}
		if b, ok := flow.IntValue(v); ok {
			return a == b
		}
		f, ok := flow.FloatValue(v)
		return ok && float64(a) == f
	case string:
		b, ok := v.(string)
		return ok && a == b
	case bool:
		b, ok := v.(bool)
		return ok && a == b
	case time.Time:
		b, ok := v.(time.Time)
		return ok && a.Equal(b)
	}
	if a, ok := flow.FloatValue(stored); ok {
		b, ok := flow.FloatValue(v)
		return ok && a == b
	}
	return reflect.DeepEqual(stored, v)
}

// matchValue reports whether a stored value matches a filter value: equality,
// or membership when the filter value is a list.
func matchValue(stored, want any) bool {
	switch w := want.(type) {
	case []any:
		for _, x := range w {
			if sameValue(stored, x) {
				return true
			}
		}
		return false
	case nil, string, []byte:
		return sameValue(stored, want)
	}
	if rv := reflect.ValueOf(want); rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		for i := range rv.Len() {
			if sameValue(stored, rv.Index(i).Interface()) {
				return true
			}
		}
		return false
	}
	return sameValue(stored, want)
}

// appendKeyPart appends an order-preserving, self-delimiting encoding of one
// primary key value of a column of type typ: integer columns hold int64 (see
// normalize); numbers of other columns are encoded as float64, so 3 and 1.5
// order numerically; strings order bytewise. Numbers are written in hex (see
// hexKey). Values of one column always get the same tag, so the tags only
// keep the encoding self-delimiting.
func appendKeyPart(dst []byte, typ flow.FieldType, v any) ([]byte, bool) {
	switch x := v.(type) {
	case int64:
		if typ == flow.FieldInteger {
			return hexKey(append(dst, 'i'), uint64(x)^(1<<63)), true
		}
	case string:
		dst = append(dst, 's')
		for i := 0; i < len(x); i++ {
			if x[i] == 0 {
				dst = append(dst, 0, 0xff) // escape NUL so that the terminator sorts first
			} else {
				dst = append(dst, x[i])
			}
		}
		return append(dst, 0, 0), true
	case bool:
		b := byte('0')
		if x {
			b = '1'
		}
		return append(dst, 'b', b), true
	}
	if f, ok := flow.FloatValue(v); ok && !math.IsNaN(f) {
		bits := math.Float64bits(f + 0) // + 0 turns -0 into 0
		if f < 0 {
			bits = ^bits
		} else {
			bits ^= 1 << 63
		}
		return hexKey(append(dst, 'f'), bits), true
	}
	return dst, false
}

// recordKey encodes the go-memdb key of a record: the collection's prefix and
// its primary key values, which must be normalized for their columns.
func (c *collection) recordKey(values flow.Record) ([]byte, error) {
	k := make([]byte, len(c.prefix), len(c.prefix)+17*len(c.Keys))
	copy(k, c.prefix)
	for _, name := range c.Keys {
		v := values[name]
		if v == nil {
			return nil, fmt.Errorf("memory: collection %q: no value for key field %q: %w", c.Name, name, flow.ErrInvalidRecord)
		}
		var ok bool
		if k, ok = appendKeyPart(k, c.ColumnType(name), v); !ok {
			return nil, fmt.Errorf("memory: collection %q: key field %q: %v (%T) cannot be a key: %w", c.Name, name, v, v, flow.ErrInvalidRecord)
		}
	}
	return k, nil
}

// copyRecord returns a shallow copy of r.
func copyRecord(r flow.Record) flow.Record {
	out := make(flow.Record, len(r))
	for k, v := range r {
		out[k] = v
	}
	return out
}
