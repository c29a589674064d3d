package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/actiontrigger/actiontrigger/flow"
)

// tm encodes a time as Unix microseconds; the zero time is NULL.
func tm(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// fromTm decodes tm.
func fromTm(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// js encodes a value as JSON text.
func js(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: encode JSON: %w: %w", flow.ErrInvalidRecord, err)
	}
	return string(b), nil
}

// fromJS decodes JSON text into dst (NULL leaves dst as is).
func fromJS(b []byte, dst any) error {
	if len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return fmt.Errorf("sqlstore: decode JSON: %w: %w", flow.ErrStorage, err)
	}
	return nil
}
