package actiontrigger_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/memory"
	"github.com/actiontrigger/actiontrigger/storage/storagetest"
)

// hostRecords is a host's own implementation of the records port: a map per
// collection, keyed by "id", as a repository over the host's tables would be.
type hostRecords struct {
	mu     sync.Mutex
	rows   map[string]map[int64]flow.Record
	nextID int64
	// inUnit counts the creates that ran inside the engine's unit of work.
	inUnit, creates int
}

func newHostRecords() *hostRecords {
	return &hostRecords{rows: map[string]map[int64]flow.Record{}}
}

func (h *hostRecords) put(collection string, rec flow.Record) flow.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rows[collection] == nil {
		h.rows[collection] = map[int64]flow.Record{}
	}
	rec = maps.Clone(rec)
	id, ok := rec["id"].(int64)
	if !ok {
		h.nextID++
		id = h.nextID + 1000
		rec["id"] = id
	}
	h.rows[collection][id] = rec
	return maps.Clone(rec)
}

func (h *hostRecords) Get(_ context.Context, collection string, key flow.Record) (flow.Record, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	id, ok := flow.IntValue(key["id"])
	if rec, found := h.rows[collection][id]; ok && found {
		return maps.Clone(rec), nil
	}
	return nil, fmt.Errorf("%s %v: %w", collection, key, flow.ErrNotFound)
}

func (h *hostRecords) Create(ctx context.Context, collection string, values flow.Record) (flow.Record, error) {
	h.mu.Lock()
	h.creates++
	if _, ok := storage.TxFrom(ctx); ok {
		h.inUnit++
	}
	h.mu.Unlock()
	return h.put(collection, values), nil
}

func (h *hostRecords) List(_ context.Context, collection string, q storage.ListQuery) ([]flow.Record, int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []flow.Record
	for _, id := range slices.Sorted(maps.Keys(h.rows[collection])) {
		rec := h.rows[collection][id]
		match := true
		for k, want := range q.Filter {
			got, _ := flow.IntValue(rec[k])
			w, _ := flow.IntValue(want)
			if rec[k] == nil || got != w {
				match = false
			}
		}
		if match {
			out = append(out, maps.Clone(rec))
		}
	}
	return out, len(out), nil
}

// Collections backed by host code take part in everything the engine does
// with records: event data and its appends, `!path` bindings, the create node
// (inside the run's unit of work), and appends of store-backed records that
// reach them.
func TestHostBackedCollections(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	host := newHostRecords()
	eng := newEngine(t, withConfig(func(c *actiontrigger.Config) {
		c.Collections = []flow.Collection{
			{Name: "expenses", Fields: []flow.Field{
				{Name: "id", Type: flow.FieldInteger},
				{Name: "title", Type: flow.FieldString},
				{Name: "category", Type: flow.FieldBelongsTo, Target: "categories"},
			}},
			{Name: "categories", Fields: []flow.Field{{Name: "id", Type: flow.FieldInteger}, {Name: "title", Type: flow.FieldString}}},
			{Name: "audit", Fields: []flow.Field{{Name: "id", Type: flow.FieldInteger}, {Name: "note", Type: flow.FieldString}}},
			{Name: "ledger", Fields: []flow.Field{
				{Name: "id", Type: flow.FieldInteger},
				{Name: "title", Type: flow.FieldString},
				{Name: "expense", Type: flow.FieldBelongsTo, Target: "expenses"},
			}},
		}
		c.Records = map[string]storage.Records{"expenses": host, "categories": host, "audit": host}
	}))
	travel := host.put("categories", flow.Record{"id": int64(7), "title": "travel"})
	exp := host.put("expenses", flow.Record{"id": int64(1), "title": "train", "categoryId": travel["id"]})

	wf := syncWF("book", "expenses",
		n("ledger", "create", map[string]any{"collection": "ledger", "params": map[string]any{
			"values":  map[string]any{"title": "{{$context.data.category.title}}", "expenseId": "{{$context.data.id}}"},
			"appends": []any{"expense", "expense.category"}}}),
		n("audit", "create", map[string]any{"collection": "audit", "params": map[string]any{
			"values": map[string]any{"note": "booked {{$context.data.title}}"}}}),
	)
	wf.Config.Appends = []string{"category"}
	save(t, eng, wf)
	save(t, eng, syncWF("cat", "categories", n("e", "echo", nil)))

	res := after(t, eng, createAction("expenses", "book,cat!category"), exp, memberA)
	require.Len(t, res.Executions, 2)
	x := res.Executions[0]
	require.Equal(t, flow.ExecutionResolved, x.Status)
	require.Equal(t, "travel", dataOf(t, x)["category"].(map[string]any)["title"], "appends through a host-backed collection")
	require.Equal(t, "travel", dataOf(t, res.Executions[1])["title"], "!category reached the host-backed category")

	jobs := jobsOf(t, eng, x.ID)
	require.Len(t, jobs, 2)
	ledger := asJSON(t, jobs[0].Result).(map[string]any)
	require.Equal(t, "travel", ledger["title"])
	require.Equal(t, "train", ledger["expense"].(map[string]any)["title"], "a store-backed record's append reaches a host-backed one")
	require.Equal(t, "travel", ledger["expense"].(map[string]any)["category"].(map[string]any)["title"])

	audit, _, err := host.List(ctx, "audit", storage.ListQuery{})
	require.NoError(t, err)
	require.Len(t, audit, 1)
	require.Equal(t, "booked train", audit[0]["note"])
	require.Equal(t, 1, host.creates)
	require.Equal(t, 1, host.inUnit, "the create node's host write received the run's unit of work")

	// The engine's record access serves both kinds, and says what a host
	// implementation cannot do.
	got, err := eng.Records().GetRecord(ctx, "expenses", flow.Record{"id": 1}, []string{"category"})
	require.NoError(t, err)
	require.Equal(t, "travel", got["category"].(map[string]any)["title"])
	_, err = eng.Records().UpdateRecords(ctx, "expenses", storage.Filter{"id": 1}, flow.Record{"title": "x"})
	require.ErrorIs(t, err, storage.ErrNotSupported)
	_, err = eng.Records().GetRecord(ctx, "expenses", flow.Record{"id": 99}, nil)
	require.ErrorIs(t, err, flow.ErrNotFound)
}

// Config.Records must name declared collections.
func TestHostRecordsMustBeDeclared(t *testing.T) {
	t.Parallel()
	_, err := actiontrigger.New(testCtx(t), actiontrigger.Config{
		Collections: referenceCollections(),
		Records:     map[string]storage.Records{"nope": newHostRecords()},
	})
	require.ErrorIs(t, err, flow.ErrUnknownCollection)
}

// The engine runs on a store of engine state alone when the host backs every
// collection; a collection left without records is refused at New.
func TestStateOnlyStore(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	host := newHostRecords()
	colls := []flow.Collection{
		{Name: "expenses", Fields: []flow.Field{{Name: "id", Type: flow.FieldInteger}, {Name: "title", Type: flow.FieldString}}},
		{Name: "ledger", Fields: []flow.Field{{Name: "id", Type: flow.FieldInteger}, {Name: "note", Type: flow.FieldString}}},
	}
	_, err := actiontrigger.New(ctx, actiontrigger.Config{
		Store: storagetest.StateOnly(memory.New()), Collections: colls,
		Records: map[string]storage.Records{"expenses": host},
	})
	require.ErrorIs(t, err, storage.ErrNotSupported)
	require.ErrorContains(t, err, `"ledger"`)

	eng := newEngine(t, started(), withConfig(func(c *actiontrigger.Config) {
		c.Store = storagetest.StateOnly(testStore(t))
		c.Collections = colls
		c.Records = map[string]storage.Records{"expenses": host, "ledger": host}
	}))
	book := n("book", "create", map[string]any{"collection": "ledger", "params": map[string]any{
		"values": map[string]any{"note": "booked {{$context.data.title}}"}}})
	save(t, eng, syncWF("sync", "expenses", book))
	save(t, eng, asyncWF("async", "expenses", book))
	rec := host.put("expenses", flow.Record{"id": int64(1), "title": "taxi"})
	res := after(t, eng, createAction("expenses", "sync,async"), rec, memberA)
	require.Len(t, res.Executions, 2)
	waitIdle(t, eng)
	for _, x := range allExecs(t, eng) {
		require.Equal(t, flow.ExecutionResolved, x.Status, x.Key)
	}
	ledger, _, err := host.List(ctx, "ledger", storage.ListQuery{})
	require.NoError(t, err)
	require.Len(t, ledger, 2)
}
