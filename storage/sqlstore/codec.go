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

// nstr encodes a string; the empty string is NULL.
func nstr(s string) any {
	if s == "" {
		return nil
	}
	return s
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

// retriesDoc is the JSON of a job's retries column: its failed attempts and
// snoozes. At travels as Unix microseconds, as the time columns do.
type retriesDoc struct {
	Attempts []attemptDoc `json:"attempts,omitempty"`
	Snoozes  int          `json:"snoozes,omitempty"`
}

type attemptDoc struct {
	N       int    `json:"n"`
	Error   string `json:"error,omitempty"`
	At      *int64 `json:"at,omitempty"`
	Retried bool   `json:"retried,omitempty"`
}

// retriesJS encodes a job's Attempts and Snoozes; a job with neither is NULL.
func retriesJS(j *flow.Job) (any, error) {
	if len(j.Attempts) == 0 && j.Snoozes == 0 {
		return nil, nil
	}
	d := retriesDoc{Snoozes: j.Snoozes}
	if len(j.Attempts) > 0 {
		d.Attempts = make([]attemptDoc, len(j.Attempts))
		for i, a := range j.Attempts {
			d.Attempts[i] = attemptDoc{N: a.N, Error: a.Error, Retried: a.Retried}
			if !a.At.IsZero() {
				at := a.At.UnixMicro()
				d.Attempts[i].At = &at
			}
		}
	}
	return js(d)
}

// fromRetriesJS decodes retriesJS into j (NULL leaves j as is).
func fromRetriesJS(b []byte, j *flow.Job) error {
	if len(b) == 0 {
		return nil
	}
	var d retriesDoc
	if err := fromJS(b, &d); err != nil {
		return err
	}
	j.Snoozes = d.Snoozes
	if len(d.Attempts) > 0 {
		j.Attempts = make([]flow.Attempt, len(d.Attempts))
		for i, a := range d.Attempts {
			j.Attempts[i] = flow.Attempt{N: a.N, Error: a.Error, Retried: a.Retried}
			if a.At != nil {
				j.Attempts[i].At = time.UnixMicro(*a.At).UTC()
			}
		}
	}
	return nil
}
