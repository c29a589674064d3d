package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx" for the schema setup
	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/internal/teststores"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/memory"
	"github.com/actiontrigger/actiontrigger/storage/storagetest"
)

// countingStore is a real store that counts the units of work begun on it.
type countingStore struct {
	storage.Store
	txs atomic.Int64
	// slowFirst holds the next unit of work open a while, so that the runs
	// started with it queue up for the next batch whatever the scheduler does.
	slowFirst atomic.Bool
}

func (c *countingStore) InTx(ctx context.Context, fn func(ctx context.Context, tx storage.Store) error) error {
	c.txs.Add(1)
	if c.slowFirst.CompareAndSwap(true, false) {
		return c.Store.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
			time.Sleep(100 * time.Millisecond)
			return fn(ctx, tx)
		})
	}
	return c.Store.InTx(ctx, fn)
}

// recordsOf returns the records of a test store (through a countingStore).
func recordsOf(s storage.Store) storage.RecordStore {
	switch c := s.(type) {
	case *countingStore:
		return recordsOf(c.Store)
	case *updateCountingStore:
		return recordsOf(c.Store)
	}
	return s.(storage.RecordStore)
}

type collections map[string]*flow.Collection

func (c collections) Collection(name string) (*flow.Collection, bool) {
	x, ok := c[name]
	return x, ok
}

var testCollections = []flow.Collection{
	{Name: "expenses", Fields: []flow.Field{{Name: "title", Type: flow.FieldString}, {Name: "amount", Type: flow.FieldNumber}}},
	{Name: "ledger", Fields: []flow.Field{{Name: "title", Type: flow.FieldString}, {Name: "amount", Type: flow.FieldNumber}}},
}

// stores returns the stores the batch tests run on: memory, a SQLite file,
// and PostgreSQL when ACTIONTRIGGER_TEST_POSTGRES_DSN is set.
func stores(t *testing.T) map[string]func(t *testing.T) storage.Store {
	out := map[string]func(t *testing.T) storage.Store{
		"memory": func(t *testing.T) storage.Store { return memory.New() },
		"sqlite": func(t *testing.T) storage.Store { return teststores.SQLite(t) },
	}
	if os.Getenv(teststores.EnvPostgresDSN) != "" || os.Getenv("CI") == "true" {
		out["postgres"] = func(t *testing.T) storage.Store { return teststores.Postgres(t) }
	}
	return out
}

// setupBatch stores a `condition -> create` workflow and n queued
// executions, claims them for the executor and returns them.
func setupBatch(t *testing.T, s storage.Store, n int, data func(i int) map[string]any) (*Executor, []*flow.Execution) {
	t.Helper()
	ctx := t.Context()
	require.NoError(t, recordsOf(s).DeclareCollections(ctx, testCollections))
	now := time.Now()
	wf := &flow.Workflow{
		ID: NewID(), Key: "batch", Enabled: true, Current: true, CreatedAt: now, UpdatedAt: now,
		Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{
			{Key: "small", Type: "condition", Config: map[string]any{"engine": "expr", "expression": "$context.data.amount < 500"}},
			{Key: "book", Type: "create", Config: map[string]any{"collection": "ledger",
				"params": map[string]any{"values": map[string]any{"id": "{{$context.data.id}}", "title": "{{$context.data.title}}", "amount": "{{$context.data.amount}}"}}}},
		},
	}
	require.NoError(t, s.InsertWorkflow(ctx, wf))
	cols := collections{}
	for i := range testCollections {
		cols[testCollections[i].Name] = &testCollections[i]
	}
	x := New(Config{Store: s, Collections: cols, Owner: "me"})
	plan, err := x.PlanOf(wf)
	require.NoError(t, err)
	require.True(t, plan.atomic)
	for i := range n {
		e := &flow.Execution{ID: NewID(), WorkflowID: wf.ID, Key: wf.Key, Status: flow.ExecutionQueueing, Runnable: true,
			Context: map[string]any{"data": data(i)}, CreatedAt: now}
		require.NoError(t, s.InsertExecution(ctx, e))
	}
	claimed, err := s.ClaimExecutions(ctx, storage.ClaimParams{Owner: "me", Limit: n, Now: now, LeaseUntil: now.Add(time.Minute)})
	require.NoError(t, err)
	require.Len(t, claimed, n)
	return x, claimed
}

// processAll runs Process on every execution at once, as a pool's workers do.
func processAll(x *Executor, es []*flow.Execution) ([]*Outcome, []error) {
	outs := make([]*Outcome, len(es))
	errs := make([]error, len(es))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, e := range es {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			outs[i], errs[i] = x.Process(context.Background(), e)
		}()
	}
	close(start)
	wg.Wait()
	return outs, errs
}

func requireRuns(t *testing.T, s storage.Store, es []*flow.Execution, outs []*Outcome, errs []error, failed map[int]error) {
	t.Helper()
	ctx := t.Context()
	for i, e := range es {
		if want := failed[i]; want != nil {
			require.ErrorIs(t, errs[i], want, "execution %d", i)
			continue
		}
		require.NoError(t, errs[i], "execution %d", i)
		got, err := s.GetExecution(ctx, e.ID)
		require.NoError(t, err)
		require.Equal(t, outs[i].Execution.Status, got.Status, "execution %d", i)
		require.Empty(t, got.LeaseOwner)
		require.False(t, got.Runnable)
		jobs, err := s.ListJobs(ctx, e.ID)
		require.NoError(t, err)
		require.Len(t, jobs, 2, "execution %d: one job per node", i)
	}
}

// Concurrent atomic runs share transactions, and each still ends with its
// own jobs and side effects exactly once.
func TestBatchRuns(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := &countingStore{Store: open(t)}
			const n = 60
			x, es := setupBatch(t, s, n, func(i int) map[string]any {
				return map[string]any{"id": i + 1, "title": fmt.Sprintf("claim %d", i), "amount": float64(i)}
			})
			x.cfg.Batches = 1
			before := s.txs.Load()
			s.slowFirst.Store(true)
			outs, errs := processAll(x, es)
			requireRuns(t, s, es, outs, errs, nil)
			for i, o := range outs {
				require.Equal(t, flow.ExecutionResolved, o.Execution.Status, "execution %d", i)
			}
			recs, err := s.Store.(storage.RecordStore).ListRecords(t.Context(), "ledger", nil, nil)
			require.NoError(t, err)
			require.Len(t, recs, n)
			txs := s.txs.Load() - before
			require.Less(t, txs, int64(n), "no batch formed")
			t.Logf("%d executions in %d transactions", n, txs)
		})
	}
}

// One execution whose run fails (its lease was taken) fails alone; the others
// of its batch commit.
func TestBatchFallsBackAlone(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			const n = 40
			x, es := setupBatch(t, s, n, func(i int) map[string]any {
				return map[string]any{"id": i + 1, "title": fmt.Sprintf("claim %d", i), "amount": 10.0}
			})
			x.cfg.Batches = 1
			stolen := es[n/2]
			u := stolen.Clone()
			u.LeaseOwner = "someone else"
			require.NoError(t, s.UpdateExecution(t.Context(), u, storage.ExecutionExpect{Status: flow.ExecutionQueueing}))
			outs, errs := processAll(x, es)
			requireRuns(t, s, es, outs, errs, map[int]error{n / 2: flow.ErrLeaseLost})
			recs, err := recordsOf(s).ListRecords(t.Context(), "ledger", nil, nil)
			require.NoError(t, err)
			require.Len(t, recs, n-1)
			jobs, err := s.ListJobs(t.Context(), stolen.ID)
			require.NoError(t, err)
			require.Empty(t, jobs, "the failed run wrote nothing")
		})
	}
}

// A node's failed write that the node turns into its job's result (a
// duplicate key) ends that execution in error, as it would alone, and does
// not touch the others.
func TestBatchNodeWriteFails(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			const n = 40
			x, es := setupBatch(t, s, n, func(i int) map[string]any {
				id := i + 1
				if i == n/2 {
					id = 1 // taken by execution 0 (or the other way round)
				}
				return map[string]any{"id": id, "title": fmt.Sprintf("claim %d", i), "amount": 10.0}
			})
			x.cfg.Batches = 1
			outs, errs := processAll(x, es)
			requireRuns(t, s, es, outs, errs, nil)
			errored := 0
			for _, o := range outs {
				if o.Execution.Status == flow.ExecutionError {
					errored++
				} else {
					require.Equal(t, flow.ExecutionResolved, o.Execution.Status)
				}
			}
			require.Equal(t, 1, errored)
			recs, err := recordsOf(s).ListRecords(t.Context(), "ledger", nil, nil)
			require.NoError(t, err)
			require.Len(t, recs, n-1)
		})
	}
}

// A canceled caller gets its own error and leaves the others' runs alone.
func TestBatchCanceledCaller(t *testing.T) {
	s := memory.New()
	x, es := setupBatch(t, s, 3, func(i int) map[string]any {
		return map[string]any{"id": i + 1, "title": "x", "amount": 10.0}
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := x.Process(ctx, es[0])
	require.True(t, errors.Is(err, context.Canceled), "got %v", err)
	outs, errs := processAll(x, es[1:])
	requireRuns(t, s, es[1:], outs, errs, nil)
}

// updateCountingStore counts, in its units of work, the executions written
// one by one and those written at once (storage.BatchUpdater).
type updateCountingStore struct {
	storage.Store
	single, batched atomic.Int64
}

type updateCountingTx struct {
	storagetest.RecordsStore
	c *updateCountingStore
}

func (c *updateCountingStore) InTx(ctx context.Context, fn func(ctx context.Context, tx storage.Store) error) error {
	return c.Store.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
		return fn(ctx, &updateCountingTx{RecordsStore: tx.(storagetest.RecordsStore), c: c})
	})
}

func (t *updateCountingTx) UpdateExecution(ctx context.Context, e *flow.Execution, expect storage.ExecutionExpect) error {
	t.c.single.Add(1)
	return t.RecordsStore.UpdateExecution(ctx, e, expect)
}

func (t *updateCountingTx) UpdateExecutions(ctx context.Context, us []storage.ExecutionUpdate) ([]error, error) {
	t.c.batched.Add(int64(len(us)))
	for _, u := range us {
		if !u.SameDocument() {
			return nil, fmt.Errorf("execution %s: the batch changed its context or stack", u.Execution.ID)
		}
	}
	return t.RecordsStore.(storage.BatchUpdater).UpdateExecutions(ctx, us)
}

// A batch writes its executions at once when the store can, leaving their
// contexts as claimed; a lost lease among them still fails just its own.
func TestBatchUpdatesAtOnce(t *testing.T) {
	for name, open := range stores(t) {
		t.Run(name, func(t *testing.T) {
			cs := &countingStore{Store: open(t)}
			s := &updateCountingStore{Store: cs}
			const n, chunk = 100, 25
			x, es := setupBatch(t, s, n, func(i int) map[string]any {
				return map[string]any{"id": i + 1, "title": fmt.Sprintf("claim %d", i), "amount": 10.0}
			})
			x.cfg.Batches = 1
			// Whether concurrent calls meet in a batch is up to the scheduler:
			// try chunks until one did.
			for len(es) > chunk && s.batched.Load() == 0 {
				cs.slowFirst.Store(true)
				outs, errs := processAll(x, es[:chunk])
				requireRuns(t, s, es[:chunk], outs, errs, nil)
				es = es[chunk:]
			}
			require.Positive(t, s.batched.Load(), "no batch wrote its executions at once")
			t.Logf("%d executions written at once, %d one by one", s.batched.Load(), s.single.Load())

			rest := es
			stolen := rest[len(rest)/2]
			u := stolen.Clone()
			u.LeaseOwner = "someone else"
			require.NoError(t, s.UpdateExecution(t.Context(), u, storage.ExecutionExpect{Status: flow.ExecutionQueueing}))
			outs, errs := processAll(x, rest)
			requireRuns(t, s, rest, outs, errs, map[int]error{len(rest) / 2: flow.ErrLeaseLost})
			got, err := s.GetExecution(t.Context(), stolen.ID)
			require.NoError(t, err)
			require.Equal(t, flow.ExecutionQueueing, got.Status)
			require.Equal(t, "someone else", got.LeaseOwner)
		})
	}
}
