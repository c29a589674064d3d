package httptrigger_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/httptrigger"
	"github.com/actiontrigger/actiontrigger/internal/teststores"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/memory"
)

// titles lists the "title" of a :list answer's records.
func titles(t *testing.T, r resp) []string {
	t.Helper()
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	out := []string{}
	for _, rec := range r.body["data"].([]any) {
		out = append(out, fmt.Sprint(rec.(map[string]any)["title"]))
	}
	return out
}

// :list sorts by the sort parameter (ties by primary key), pages and counts
// in the store.
func TestListSortsAndPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i, title := range []string{"b", "a", "c", "a", "b"} {
		e.record("posts", flow.Record{"title": title, "read": i})
	}
	meta := func(r resp) map[string]any { return r.body["meta"].(map[string]any) }

	r := e.do(http.MethodGet, "/api/posts:list?sort=-title&pageSize=2&page=2", "tok-a", nil)
	require.Equal(t, []string{"b", "a"}, titles(t, r))
	require.EqualValues(t, map[string]any{"count": 5.0, "page": 2.0, "pageSize": 2.0, "totalPage": 3.0}, meta(r))

	r = e.do(http.MethodGet, "/api/posts:list?sort=title,-read", "tok-a", nil)
	require.Equal(t, []string{"a", "a", "b", "b", "c"}, titles(t, r))
	var reads []float64
	for _, rec := range r.body["data"].([]any) {
		reads = append(reads, rec.(map[string]any)["read"].(float64))
	}
	require.Equal(t, []float64{3, 1, 4, 0, 2}, reads)

	r = e.do(http.MethodGet, "/api/posts:list?sort[]=-read&filter=%7B%22title%22%3A%22b%22%7D&pageSize=1", "tok-a", nil)
	require.Equal(t, []string{"b"}, titles(t, r))
	require.EqualValues(t, 4, r.body["data"].([]any)[0].(map[string]any)["read"])
	require.EqualValues(t, 2, meta(r)["count"])
	require.EqualValues(t, 2, meta(r)["totalPage"])

	r = e.do(http.MethodGet, "/api/posts:list?page=9", "tok-a", nil)
	require.Equal(t, []string{}, titles(t, r))
	require.EqualValues(t, 5, meta(r)["count"])

	requireError(t, e.do(http.MethodGet, "/api/posts:list?sort=nope", "tok-a", nil), 400, "nope")
	requireError(t, e.do(http.MethodGet, "/api/posts:list?sort=-category", "tok-a", nil), 400, "category")
}

// workflows:list pages in the store and counts every matching version.
func TestWorkflowsListPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, k := range []string{"w1", "w2", "w3"} {
		e.save(syncWF(k, "posts", n("e", "echo", nil)))
	}
	r := e.do(http.MethodGet, "/api/workflows:list?pageSize=2&page=2", "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	list := r.body["data"].([]any)
	require.Len(t, list, 1)
	require.Equal(t, "w3", list[0].(map[string]any)["key"])
	require.EqualValues(t, map[string]any{"count": 3.0, "page": 2.0, "pageSize": 2.0, "totalPage": 2.0}, r.body["meta"])

	r = e.do(http.MethodGet, "/api/workflows:list?pageSize=2", "tok-root", nil)
	require.Len(t, r.body["data"].([]any), 2)
	require.EqualValues(t, 3, r.body["meta"].(map[string]any)["count"])
	r = e.do(http.MethodGet, "/api/workflows:list?page=5", "tok-root", nil)
	require.Len(t, r.body["data"].([]any), 0)
	require.EqualValues(t, 3, r.body["meta"].(map[string]any)["count"])
}

// pageAPI is an API over one collection, "items", holding n records, on a
// store of the given kind; the engine is not started, so nothing but the
// requests allocates.
func pageAPI(tb testing.TB, kind string, n int) *httptrigger.API {
	tb.Helper()
	ctx := context.Background()
	var s storage.Store
	switch kind {
	case "memory":
		s = memory.New()
	case "sqlite":
		s = teststores.SQLite(tb)
	case "postgres":
		s = teststores.Postgres(tb)
	}
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{Store: s, Logger: quiet, Collections: []flow.Collection{
		{Name: "items", Fields: []flow.Field{{Name: "title", Type: flow.FieldString}, {Name: "amount", Type: flow.FieldNumber}}},
	}})
	require.NoError(tb, err)
	const batch = 5000
	for from := 0; from < n; from += batch {
		err := s.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
			rs := tx.(storage.RecordStore)
			for i := from; i < min(from+batch, n); i++ {
				if _, err := rs.CreateRecord(ctx, "items", flow.Record{"title": fmt.Sprintf("item %07d", i), "amount": i % 977}); err != nil {
					return err
				}
			}
			return nil
		})
		require.NoError(tb, err)
	}
	api, err := httptrigger.NewAPI(eng, httptrigger.APIOptions{Logger: quiet, Authenticator: httptrigger.Tokens{
		"tok": {User: actiontrigger.User{ID: 1}, Roles: []string{"member"}},
	}, Grants: []httptrigger.Grant{{Role: "member", Collection: "items", Actions: []httptrigger.GrantAction{httptrigger.GrantView}}}})
	require.NoError(tb, err)
	return api
}

// listOnce serves one GET of path and checks it answers one record.
func listOnce(tb testing.TB, api *httptrigger.API, path string) {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Header.Set("Authorization", "Bearer tok")
	w := httptest.NewRecorder()
	api.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		tb.Fatalf("%s: status %d: %s", path, w.Code, w.Body.String())
	}
}

// listPaths are the pages the bound is checked on: primary key order, a
// sort on another field, and a page deep into the table.
var listPaths = []string{
	"/api/items:list?pageSize=1",
	"/api/items:list?pageSize=1&sort=-amount,title",
	"/api/items:list?pageSize=1&page=2000",
}

// bytesPerList returns the bytes allocated by one request, averaged over a
// few after a warm-up.
func bytesPerList(tb testing.TB, api *httptrigger.API, path string) uint64 {
	listOnce(tb, api, path)
	const runs = 4
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		listOnce(tb, api, path)
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / runs
}

// A page of :list allocates what the page needs, not what the table holds:
// pageSize=1 over 50,000 rows allocates under 5 MB, and no more than over
// 2,000 rows plus a margin (listing the whole table allocated 19 MB here).
func TestListPageMemoryBound(t *testing.T) {
	kinds := []string{"memory", "sqlite"}
	if teststores.Kind() == "postgres" {
		kinds = append(kinds, "postgres")
	}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			small, large := pageAPI(t, kind, 2000), pageAPI(t, kind, 50000)
			for _, path := range listPaths {
				s, l := bytesPerList(t, small, path), bytesPerList(t, large, path)
				t.Logf("%s %s: %d B over 2,000 rows, %d B over 50,000 rows", kind, path, s, l)
				require.Less(t, l, uint64(5<<20), "%s: bytes per request over 50,000 rows", path)
				require.Less(t, l, 2*s+64<<10, "%s: bytes per request grow with the table (%d over 2,000 rows)", path, s)
			}
		})
	}
}

// BenchmarkListPage is GET :list?pageSize=1 through the handler over 1,000
// and 100,000 rows (ACTIONTRIGGER_BENCH_ROWS, e.g. "1000,485000", sets the
// sizes), on memory, SQLite and (with ACTIONTRIGGER_TEST_POSTGRES_DSN)
// PostgreSQL: in key order, time and bytes per request should barely depend
// on the table's size. "sorted" sorts on an unindexed field, which costs the
// table.
func BenchmarkListPage(b *testing.B) {
	sizes := []int{1000, 100000}
	if v := os.Getenv("ACTIONTRIGGER_BENCH_ROWS"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			require.NoError(b, err, "ACTIONTRIGGER_BENCH_ROWS")
			sizes = append(sizes, n)
		}
	}
	kinds := []string{"memory", "sqlite"}
	if os.Getenv("ACTIONTRIGGER_TEST_POSTGRES_DSN") != "" {
		kinds = append(kinds, "postgres")
	}
	for _, kind := range kinds {
		for _, n := range sizes {
			b.Run(fmt.Sprintf("%s/rows=%d", kind, n), func(b *testing.B) {
				api := pageAPI(b, kind, n)
				for _, path := range listPaths[:2] {
					name := "key"
					if path != listPaths[0] {
						name = "sorted"
					}
					b.Run(name, func(b *testing.B) {
						b.ReportAllocs()
						for b.Loop() {
							listOnce(b, api, path)
						}
					})
				}
			})
		}
	}
}
