package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// pager returns s's storage.RecordPager: the suite requires stores that keep
// records to page in the store.
func pager(t testing.TB, s storage.RecordStore) storage.RecordPager {
	t.Helper()
	p, ok := s.(storage.RecordPager)
	require.Truef(t, ok, "%T does not implement storage.RecordPager", s)
	return p
}

// page lists one page and returns its ids and the total.
func page(t testing.TB, s storage.RecordStore, collection string, q storage.ListQuery) ([]int64, int) {
	t.Helper()
	rs, total, err := pager(t, s).ListRecordsPage(context.Background(), collection, q, nil)
	require.NoError(t, err, "page %s %+v", collection, q)
	return recordIDs(t, rs), total
}

// testRecordsPage checks storage.RecordPager: filter, sort (ties broken by
// primary key, NULL first ascending, text bytewise), offset, limit and total.
func testRecordsPage(t *testing.T, newStore func(t *testing.T) RecordsStore) {
	declared := func(t *testing.T) RecordsStore {
		s := newStore(t)
		require.NoError(t, s.DeclareCollections(t.Context(), Collections()))
		return s
	}
	// seed creates posts 1..6: titles with mixed case and a NULL, read
	// counts with ties, scores with a NULL, published flags and dates.
	seed := func(t *testing.T, s storage.RecordStore) {
		day := func(d int) time.Time { return base.AddDate(0, 0, d) }
		for _, v := range []flow.Record{
			{"title": "b", "read": 2, "score": 1.5, "published": true, "createdAt": day(3)},
			{"title": "a", "read": 1, "score": nil, "published": false, "createdAt": day(1)},
			{"title": "B", "read": 2, "score": 0.5, "published": true, "createdAt": day(5)},
			{"title": nil, "read": 3, "score": 2.5, "published": false, "createdAt": day(2)},
			{"title": "A", "read": 1, "score": -1.0, "published": true, "createdAt": day(4)},
			{"title": "c", "read": 2, "score": 10.0, "published": false, "createdAt": day(0)},
		} {
			create(t, s, "posts", v)
		}
	}

	t.Run("KeyOrder", func(t *testing.T) {
		t.Parallel()
		s := declared(t)
		seed(t, s)
		for _, tc := range []struct {
			name  string
			q     storage.ListQuery
			want  []int64
			total int
		}{
			{"all", storage.ListQuery{}, []int64{1, 2, 3, 4, 5, 6}, 6},
			{"first page", storage.ListQuery{Limit: 2}, []int64{1, 2}, 6},
			{"middle page", storage.ListQuery{Offset: 2, Limit: 2}, []int64{3, 4}, 6},
			{"last page, short", storage.ListQuery{Offset: 4, Limit: 4}, []int64{5, 6}, 6},
			{"offset without limit", storage.ListQuery{Offset: 4}, []int64{5, 6}, 6},
			{"beyond the end", storage.ListQuery{Offset: 10, Limit: 2}, []int64{}, 6},
			{"filter", storage.ListQuery{Filter: storage.Filter{"read": 2}, Limit: 2}, []int64{1, 3}, 3},
			{"filter, second page", storage.ListQuery{Filter: storage.Filter{"read": 2}, Offset: 2, Limit: 2}, []int64{6}, 3},
			{"filter, beyond the end", storage.ListQuery{Filter: storage.Filter{"read": 2}, Offset: 5, Limit: 1}, []int64{}, 3},
			{"no match", storage.ListQuery{Filter: storage.Filter{"title": "zzz"}, Limit: 1}, []int64{}, 0},
		} {
			ids, total := page(t, s, "posts", tc.q)
			require.Equal(t, tc.want, ids, tc.name)
			require.Equal(t, tc.total, total, tc.name)
		}
	})

	t.Run("Sort", func(t *testing.T) {
		t.Parallel()
		s := declared(t)
		seed(t, s)
		for _, tc := range []struct {
			name string
			sort []string
			want []int64
		}{
			{"text, NULL first, bytewise", []string{"title"}, []int64{4, 5, 3, 2, 1, 6}},
			{"text descending, NULL last", []string{"-title"}, []int64{6, 1, 2, 3, 5, 4}},
			{"ties broken by key", []string{"read"}, []int64{2, 5, 1, 3, 6, 4}},
			{"descending ties still by key ascending", []string{"-read"}, []int64{4, 1, 3, 6, 2, 5}},
			{"number with NULL", []string{"score"}, []int64{2, 5, 3, 1, 4, 6}},
			{"boolean then number descending", []string{"published", "-score"}, []int64{6, 4, 2, 1, 3, 5}},
			{"date descending", []string{"-createdAt"}, []int64{3, 5, 1, 4, 2, 6}},
			{"key descending", []string{"-id"}, []int64{6, 5, 4, 3, 2, 1}},
		} {
			ids, total := page(t, s, "posts", storage.ListQuery{Sort: tc.sort})
			require.Equal(t, tc.want, ids, tc.name)
			require.Equal(t, 6, total, tc.name)
			// Pages of two, one after the other, make up the same order.
			var paged []int64
			for off := 0; off < 6; off += 2 {
				ids, total := page(t, s, "posts", storage.ListQuery{Sort: tc.sort, Offset: off, Limit: 2})
				require.Equal(t, 6, total, tc.name)
				paged = append(paged, ids...)
			}
			require.Equal(t, tc.want, paged, "%s, paged", tc.name)
		}
		ids, total := page(t, s, "posts", storage.ListQuery{Filter: storage.Filter{"read": []any{1, 2}}, Sort: []string{"-score"}, Offset: 1, Limit: 3})
		require.Equal(t, []int64{1, 3, 5}, ids, "filter, sort and page")
		require.Equal(t, 5, total)
	})

	t.Run("Appends", func(t *testing.T) {
		t.Parallel()
		s := declared(t)
		b := seedBlog(t, s)
		rs, total, err := pager(t, s).ListRecordsPage(t.Context(), "posts", storage.ListQuery{Sort: []string{"-title"}, Limit: 2}, []string{"category", "comments"})
		require.NoError(t, err)
		require.Equal(t, 3, total)
		require.Equal(t, []int64{b.p3ID, b.p2ID}, recordIDs(t, rs))
		require.Nil(t, rs[0]["category"])
		require.Equal(t, []any{}, rs[0]["comments"])
		requireFields(t, flow.Record{"title": "c1"}, rs[1]["category"].(flow.Record))
	})

	t.Run("InTx", func(t *testing.T) {
		t.Parallel()
		s := declared(t)
		seed(t, s)
		err := s.InTx(t.Context(), func(ctx context.Context, tx storage.Store) error {
			rs := tx.(storage.RecordStore)
			create(t, rs, "posts", flow.Record{"title": "0", "read": 9})
			ids, total := page(t, rs, "posts", storage.ListQuery{Sort: []string{"-read"}, Limit: 1})
			require.Equal(t, []int64{7}, ids, "a unit of work's pages see its writes")
			require.Equal(t, 7, total)
			return nil
		})
		require.NoError(t, err)
	})

	// A store may keep each collection's count beside its records (so an
	// unfiltered page need not count the table): the total stays exact
	// through rolled-back units of work and nested creates.
	t.Run("CountKeptExact", func(t *testing.T) {
		t.Parallel()
		s := declared(t)
		seed(t, s)
		boom := errors.New("boom")
		err := s.InTx(t.Context(), func(ctx context.Context, tx storage.Store) error {
			rs := tx.(storage.RecordStore)
			create(t, rs, "posts", flow.Record{"title": "gone"})
			_, total := page(t, rs, "posts", storage.ListQuery{Limit: 1})
			require.Equal(t, 7, total, "inside the unit of work")
			return boom
		})
		require.ErrorIs(t, err, boom)
		ids, total := page(t, s, "posts", storage.ListQuery{Limit: 1})
		require.Equal(t, []int64{1}, ids)
		require.Equal(t, 6, total, "a rolled-back create is not counted")
		// A nested create counts in both collections.
		_, before := page(t, s, "categories", storage.ListQuery{Limit: 1})
		create(t, s, "posts", flow.Record{"title": "n", "category": flow.Record{"title": "new"}})
		_, total = page(t, s, "posts", storage.ListQuery{Limit: 1})
		require.Equal(t, 7, total)
		_, after := page(t, s, "categories", storage.ListQuery{Limit: 1})
		require.Equal(t, before+1, after)
		_, total = page(t, s, "posts", storage.ListQuery{Limit: 1, Offset: 6})
		require.Equal(t, 7, total)
	})

	t.Run("BadQuery", func(t *testing.T) {
		t.Parallel()
		s, ctx := declared(t), t.Context()
		p := pager(t, s)
		for _, tc := range []struct {
			name string
			q    storage.ListQuery
			err  error
		}{
			{"unknown sort field", storage.ListQuery{Sort: []string{"nope"}}, flow.ErrUnknownField},
			{"association", storage.ListQuery{Sort: []string{"-category"}}, flow.ErrUnknownField},
			{"empty name", storage.ListQuery{Sort: []string{"-"}}, flow.ErrUnknownField},
			{"unknown filter field", storage.ListQuery{Filter: storage.Filter{"nope": 1}}, flow.ErrUnknownField},
			{"negative offset", storage.ListQuery{Offset: -1}, flow.ErrInvalidRecord},
			{"negative limit", storage.ListQuery{Limit: -1}, flow.ErrInvalidRecord},
		} {
			_, _, err := p.ListRecordsPage(ctx, "posts", tc.q, nil)
			requireErrorIs(t, err, tc.err, tc.name)
		}
		_, _, err := p.ListRecordsPage(ctx, "nope", storage.ListQuery{}, nil)
		requireErrorIs(t, err, flow.ErrUnknownCollection)
		_, _, err = p.ListRecordsPage(ctx, "posts", storage.ListQuery{}, []string{"nope"})
		requireErrorIs(t, err, flow.ErrUnknownField)
	})
}
