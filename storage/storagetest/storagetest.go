// Package storagetest is the conformance suite of the storage ports: an
// adapter that passes Run is a valid storage.Store (the engine's state), and
// one that also passes RunRecords a valid storage.RecordStore. Every adapter's
// tests call the suites of the ports it implements:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Store { return memory.New() })
//		storagetest.RunRecords(t, func(t *testing.T) storagetest.RecordsStore { return memory.New() })
//	}
//
// The suite uses only the port. Every subtest runs in parallel on a fresh store
// from newStore, so newStore must isolate stores from each other (a new database,
// schema or file per call). Timestamps are compared at millisecond precision and
// in UTC; maps stored as JSON use JSON-stable values (strings, float64, bool,
// nested maps and slices), so adapters that serialise them round-trip exactly.
//
// Benchmark reports the same micro-benchmarks for every adapter.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// Run runs the engine-state conformance suite (workflows, executions, jobs,
// the queue, tasks, units of work) against the stores newStore creates: a
// store that passes it can keep the engine's state, with or without records.
// newStore is called once per subtest, from parallel subtests. A store that
// also keeps records (storage.RecordStore) passes RunRecords too.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Helper()
	t.Run("Workflows", func(t *testing.T) { testWorkflows(t, newStore) })
	t.Run("Executions", func(t *testing.T) { testExecutions(t, newStore) })
	t.Run("BatchUpdate", func(t *testing.T) { testBatchUpdate(t, newStore) })
	t.Run("Jobs", func(t *testing.T) { testJobs(t, newStore) })
	t.Run("ExecutionJobs", func(t *testing.T) { testExecutionJobs(t, newStore) })
	t.Run("Queue", func(t *testing.T) { testQueue(t, newStore) })
	t.Run("Timers", func(t *testing.T) { testTimers(t, newStore) })
	t.Run("Trace", func(t *testing.T) { testTrace(t, newStore) })
	t.Run("QueueStats", func(t *testing.T) { testQueueStats(t, newStore) })
	t.Run("Transactions", func(t *testing.T) { testTransactions(t, newStore) })
	t.Run("SharedCommit", func(t *testing.T) { testSharedCommit(t, newStore) })
	t.Run("Tasks", func(t *testing.T) { testTasks(t, newStore) })
}

// RecordsStore is a store that keeps records too: what RunRecords tests.
type RecordsStore interface {
	storage.Store
	storage.RecordStore
}

// RunRecords runs the records conformance suite (collections, records,
// associations, appends, and records in units of work) against the stores
// newStore creates, from parallel subtests.
func RunRecords(t *testing.T, newStore func(t *testing.T) RecordsStore) {
	t.Helper()
	t.Run("Records", func(t *testing.T) { testRecords(t, newStore) })
	t.Run("RecordsPage", func(t *testing.T) { testRecordsPage(t, newStore) })
}

// base is the fixtures' clock: a fixed UTC instant at millisecond precision.
var base = time.Date(2024, 5, 6, 7, 8, 9, 123_000_000, time.UTC)

// at returns base plus n milliseconds.
func at(n int) time.Time { return base.Add(time.Duration(n) * time.Millisecond) }

// errBoom is the error test transactions fail with.
var errBoom = errors.New("boom")

// newID returns a time-ordered id (UUIDv7), as the engine generates them.
func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// newWorkflow returns a current, enabled, asynchronous version of key with a
// small node tree. n orders the creation times.
func newWorkflow(key string, n int) *flow.Workflow {
	branch := []flow.Node{{Key: "end1", Type: "end", Config: map[string]any{"endStatus": float64(1)}}}
	return &flow.Workflow{
		ID:          newID(),
		Key:         key,
		Title:       "workflow " + key,
		Description: "a test workflow",
		Type:        flow.TriggerType,
		Enabled:     true,
		Current:     true,
		Config: flow.TriggerConfig{
			Collection: "posts",
			Actions:    []string{flow.ActionCreate},
			Appends:    []string{"category"},
		},
		Options: flow.Options{
			Timeout:                 1000,
			StackLimit:              2,
			DeleteExecutionOnStatus: []flow.ExecutionStatus{flow.ExecutionResolved},
		},
		Nodes: []flow.Node{{
			Key:      "cond1",
			Title:    "check",
			Type:     "condition",
			Config:   map[string]any{"engine": "basic", "calculation": map[string]any{"group": map[string]any{"type": "and", "calculations": []any{}}}},
			Branches: map[int][]flow.Node{1: branch},
		}},
		Version:   1,
		CreatedAt: at(n),
		UpdatedAt: at(n),
	}
}

// newExecution returns a runnable QUEUEING execution of w created at at(n).
func newExecution(w *flow.Workflow, n int) *flow.Execution {
	return &flow.Execution{
		ID:         newID(),
		WorkflowID: w.ID,
		Key:        w.Key,
		Context: map[string]any{
			"data":     map[string]any{"id": float64(n), "title": "t" + strconv.Itoa(n)},
			"user":     map[string]any{"id": float64(2), "nickname": "a"},
			"roleName": "member",
		},
		Status:    flow.ExecutionQueueing,
		Stack:     []flow.StackFrame{{Key: "parent-key", ExecutionID: "parent"}},
		Runnable:  true,
		CreatedAt: at(n),
		UpdatedAt: at(n),
	}
}

// newJob returns a job of e at seq.
func newJob(e *flow.Execution, seq int, status flow.JobStatus) *flow.Job {
	branch := seq % 2
	return &flow.Job{
		ID:          newID(),
		ExecutionID: e.ID,
		NodeKey:     "node" + strconv.Itoa(seq),
		NodeType:    "condition",
		Seq:         seq,
		Status:      status,
		Result:      map[string]any{"ok": true, "n": float64(seq)},
		Meta:        map[string]any{"note": "m"},
		Log:         "log",
		Branch:      &branch,
		CreatedAt:   at(seq),
		UpdatedAt:   at(seq),
	}
}

// mustInsertWorkflow inserts w.
func mustInsertWorkflow(t testing.TB, s storage.Store, w *flow.Workflow) {
	t.Helper()
	require.NoError(t, s.InsertWorkflow(context.Background(), w))
}

// mustInsertExecution inserts e.
func mustInsertExecution(t testing.TB, s storage.Store, e *flow.Execution) {
	t.Helper()
	require.NoError(t, s.InsertExecution(context.Background(), e))
}

// seedWorkflow inserts and returns a fresh workflow.
func seedWorkflow(t testing.TB, s storage.Store) *flow.Workflow {
	t.Helper()
	w := newWorkflow("key-"+newID(), 0)
	mustInsertWorkflow(t, s, w)
	return w
}

// normTime brings a time to UTC at millisecond precision; the zero time stays zero.
func normTime(tm time.Time) time.Time {
	if tm.IsZero() {
		return time.Time{}
	}
	return tm.UTC().Truncate(time.Millisecond)
}

// requireErrorIs fails unless err wraps target.
func requireErrorIs(t testing.TB, err, target error, msgAndArgs ...any) {
	t.Helper()
	require.Error(t, err, msgAndArgs...)
	require.Truef(t, errors.Is(err, target), "error %q does not wrap %q %s", err, target, fmt.Sprint(msgAndArgs...))
}

func normWorkflow(w *flow.Workflow) *flow.Workflow {
	c := w.Clone()
	c.CreatedAt = normTime(c.CreatedAt)
	c.UpdatedAt = normTime(c.UpdatedAt)
	return c
}

// requireWorkflow compares two workflows; counters are compared only when
// withCounters is set.
func requireWorkflow(t testing.TB, want, got *flow.Workflow, withCounters bool) {
	t.Helper()
	require.NotNil(t, got)
	w, g := normWorkflow(want), normWorkflow(got)
	if !withCounters {
		w.Executed, w.AllExecuted, g.Executed, g.AllExecuted = 0, 0, 0, 0
	}
	require.Equal(t, w, g)
}

func normExecution(e *flow.Execution) flow.Execution {
	c := *e
	for _, p := range []*time.Time{&c.LeaseUntil, &c.CreatedAt, &c.UpdatedAt, &c.StartedAt, &c.ExpiresAt, &c.EndedAt, &c.RunAfter} {
		*p = normTime(*p)
	}
	if len(c.Stack) == 0 {
		c.Stack = nil
	}
	if len(c.Context) == 0 {
		c.Context = nil
	}
	return c
}

// requireExecution compares two executions field by field.
func requireExecution(t testing.TB, want, got *flow.Execution) {
	t.Helper()
	require.NotNil(t, got)
	require.Equal(t, normExecution(want), normExecution(got))
}

func normJob(j *flow.Job) flow.Job {
	c := *j
	c.CreatedAt = normTime(c.CreatedAt)
	c.UpdatedAt = normTime(c.UpdatedAt)
	if len(c.Meta) == 0 {
		c.Meta = nil
	}
	if len(c.Attempts) == 0 {
		c.Attempts = nil
	} else {
		c.Attempts = append([]flow.Attempt(nil), c.Attempts...)
		for i := range c.Attempts {
			c.Attempts[i].At = normTime(c.Attempts[i].At)
		}
	}
	return c
}

// requireJob compares two jobs field by field.
func requireJob(t testing.TB, want, got *flow.Job) {
	t.Helper()
	require.NotNil(t, got)
	require.Equal(t, normJob(want), normJob(got))
}

// executionIDs lists the ids of es in order.
func executionIDs(es []*flow.Execution) []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

// workflowIDs lists the ids of ws in order.
func workflowIDs(ws []*flow.Workflow) []string {
	ids := make([]string, len(ws))
	for i, w := range ws {
		ids[i] = w.ID
	}
	return ids
}

// toInt64 converts the numbers a store may return for an integer to int64.
func toInt64(t testing.TB, v any) int64 {
	t.Helper()
	switch n := v.(type) {
	case int:
		return int64(n)
	case int8:
		return int64(n)
	case int16:
		return int64(n)
	case int32:
		return int64(n)
	case int64:
		return n
	case uint:
		return int64(n)
	case uint8:
		return int64(n)
	case uint16:
		return int64(n)
	case uint32:
		return int64(n)
	case uint64:
		return int64(n)
	case float32:
		require.Equal(t, math.Trunc(float64(n)), float64(n), "not an integer: %v", v)
		return int64(n)
	case float64:
		require.Equal(t, math.Trunc(n), n, "not an integer: %v", v)
		return int64(n)
	}
	require.Failf(t, "not a number", "%T %v", v, v)
	return 0
}

// sameValue reports whether a stored value equals an expected one, comparing
// numbers by value whatever their Go type.
func sameValue(want, got any) bool {
	if wf, ok := asFloat(want); ok {
		gf, ok := asFloat(got)
		return ok && wf == gf
	}
	return reflect.DeepEqual(want, got)
}

func asFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float32:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

// requireFields checks that got holds every field of want with the same value
// (numbers compared by value). Fields of got that want does not name are ignored.
func requireFields(t testing.TB, want, got flow.Record) {
	t.Helper()
	require.NotNil(t, got, "record is nil")
	for k, wv := range want {
		gv, ok := got[k]
		require.Truef(t, ok, "record %v has no field %q", got, k)
		require.Truef(t, sameValue(wv, gv), "field %q: want %v (%T), got %v (%T)", k, wv, wv, gv, gv)
	}
}

// toMany returns the records of a to-many append: the suite pins []any holding
// flow.Record values, the shape encoding/json produces.
func toMany(t testing.TB, v any) []flow.Record {
	t.Helper()
	list, ok := v.([]any)
	require.Truef(t, ok, "a to-many append is %T, want []any", v)
	out := make([]flow.Record, len(list))
	for i, x := range list {
		r, ok := x.(flow.Record)
		require.Truef(t, ok, "a to-many element is %T, want flow.Record", x)
		out[i] = r
	}
	return out
}

// toOne returns the record of a to-one append (nil for an empty association).
func toOne(t testing.TB, v any) flow.Record {
	t.Helper()
	if v == nil {
		return nil
	}
	r, ok := v.(flow.Record)
	require.Truef(t, ok, "a to-one append is %T, want flow.Record", v)
	return r
}

// recordIDs returns the "id" of each record, as int64.
func recordIDs(t testing.TB, rs []flow.Record) []int64 {
	t.Helper()
	ids := make([]int64, len(rs))
	for i, r := range rs {
		ids[i] = toInt64(t, r["id"])
	}
	return ids
}

// sortedInt64 returns a sorted copy.
func sortedInt64(v []int64) []int64 {
	c := append([]int64(nil), v...)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	return c
}
