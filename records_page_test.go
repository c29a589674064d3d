package actiontrigger_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/storagetest"
)

// pagingHost is a host implementation that pages: it serves "-id" and the
// primary key order, and keeps the queries and gets it received.
type pagingHost struct {
	*hostRecords
	mu      sync.Mutex
	queries []storage.ListQuery
	gets    int
}

func (h *pagingHost) Get(ctx context.Context, collection string, key flow.Record) (flow.Record, error) {
	h.mu.Lock()
	h.gets++
	h.mu.Unlock()
	return h.hostRecords.Get(ctx, collection, key)
}

func (h *pagingHost) List(ctx context.Context, collection string, q storage.ListQuery) ([]flow.Record, int, error) {
	h.mu.Lock()
	h.queries = append(h.queries, q)
	h.mu.Unlock()
	all, total, err := h.hostRecords.List(ctx, collection, storage.ListQuery{Filter: q.Filter})
	if err != nil {
		return nil, 0, err
	}
	return storage.PageInGo(all, q, []string{"id"}), total, nil
}

// noPager hides the store's storage.RecordPager: a record store written
// before it.
type noPager struct{ storagetest.RecordsStore }

// Engine.Records pages each collection where its records live: a host
// collection through RecordLister.List with the query as given (appends
// resolved for the page only), a store collection in the store, and a store
// without RecordPager by listing and paging in Go.
func TestRecordsPage(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	host := &pagingHost{hostRecords: newHostRecords()}
	colls := []flow.Collection{
		{Name: "expenses", Fields: []flow.Field{
			{Name: "id", Type: flow.FieldInteger},
			{Name: "title", Type: flow.FieldString},
			{Name: "meta", Type: flow.FieldJSON},
			{Name: "category", Type: flow.FieldBelongsTo, Target: "categories"},
		}},
		{Name: "categories", Fields: []flow.Field{{Name: "id", Type: flow.FieldInteger}, {Name: "title", Type: flow.FieldString}}},
		{Name: "ledger", Fields: []flow.Field{
			{Name: "id", Type: flow.FieldInteger},
			{Name: "title", Type: flow.FieldString},
			{Name: "expense", Type: flow.FieldBelongsTo, Target: "expenses"},
		}},
	}
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) storage.Store
	}{
		{"pager", func(t *testing.T) storage.Store { return testStore(t) }},
		{"no pager", func(t *testing.T) storage.Store { return noPager{testStore(t).(storagetest.RecordsStore)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eng := newEngine(t, withConfig(func(c *actiontrigger.Config) {
				c.Store = tc.store(t)
				c.Collections = colls
				c.Records = map[string]storage.Records{"expenses": host, "categories": host}
			}))
			p, ok := eng.Records().(storage.RecordPager)
			require.True(t, ok, "Engine.Records implements storage.RecordPager")
			for _, title := range []string{"l1", "l2", "l3"} {
				_, err := eng.Records().CreateRecord(ctx, "ledger", flow.Record{"title": title, "expenseId": 1})
				require.NoError(t, err)
			}
			recs, total, err := p.ListRecordsPage(ctx, "ledger", storage.ListQuery{Sort: []string{"-title"}, Offset: 1, Limit: 1}, nil)
			require.NoError(t, err)
			require.Equal(t, 3, total)
			require.Len(t, recs, 1)
			require.Equal(t, "l2", recs[0]["title"])

			host.put("expenses", flow.Record{"id": int64(1), "title": "train", "categoryId": int64(7)})
			recs, total, err = p.ListRecordsPage(ctx, "ledger", storage.ListQuery{Limit: 2}, []string{"expense"})
			require.NoError(t, err, "a store page whose appends reach a host collection")
			require.Equal(t, 3, total)
			require.Len(t, recs, 2)
			require.Equal(t, "train", recs[1]["expense"].(map[string]any)["title"])

			_, _, err = p.ListRecordsPage(ctx, "ledger", storage.ListQuery{Sort: []string{"nope"}}, nil)
			require.ErrorIs(t, err, flow.ErrUnknownField)
			_, _, err = p.ListRecordsPage(ctx, "ledger", storage.ListQuery{Limit: -1}, nil)
			require.ErrorIs(t, err, flow.ErrInvalidRecord)
		})
	}

	eng := newEngine(t, withConfig(func(c *actiontrigger.Config) {
		c.Collections = colls
		c.Records = map[string]storage.Records{"expenses": host, "categories": host}
	}))
	p := eng.Records().(storage.RecordPager)
	host.put("categories", flow.Record{"id": int64(7), "title": "travel"})
	for i := int64(2); i <= 5; i++ {
		host.put("expenses", flow.Record{"id": i, "title": "e", "categoryId": int64(7)})
	}
	host.mu.Lock()
	host.queries, host.gets = nil, 0
	host.mu.Unlock()
	q := storage.ListQuery{Filter: storage.Filter{"categoryId": 7}, Sort: []string{"-id"}, Offset: 1, Limit: 2}
	recs, total, err := p.ListRecordsPage(ctx, "expenses", q, []string{"category"})
	require.NoError(t, err)
	require.Equal(t, 5, total)
	require.Equal(t, []any{int64(4), int64(3)}, []any{recs[0]["id"], recs[1]["id"]})
	require.Equal(t, "travel", recs[0]["category"].(map[string]any)["title"])
	require.Equal(t, []storage.ListQuery{q}, host.queries, "the host's List receives the query as given")
	require.Equal(t, 2, host.gets, "appends are resolved for the page only")

	// Sort fields are checked before the host sees them.
	for _, bad := range []struct {
		sort string
		err  error
	}{{"category", flow.ErrUnknownField}, {"nope", flow.ErrUnknownField}, {"-meta", flow.ErrInvalidRecord}} {
		_, _, err := p.ListRecordsPage(ctx, "expenses", storage.ListQuery{Sort: []string{bad.sort}}, nil)
		require.ErrorIs(t, err, bad.err, bad.sort)
	}
	require.Len(t, host.queries, 1)
}
