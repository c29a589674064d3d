package httptrigger_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// REF F.1 #8: an update by filter runs the workflow once per updated record.
func TestUpdate_BulkByFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(asyncWF("w", "posts", n("e", "echo", nil)))
	p1 := e.record("posts", flow.Record{"title": "t1"})
	p2 := e.record("posts", flow.Record{"title": "t2"})
	p3 := e.record("posts", flow.Record{"title": "untouched"})
	filter := url.QueryEscape(fmt.Sprintf(`{"id":[%s,%s]}`, idOf(t, p1), idOf(t, p2)))
	r := e.post("/api/posts:update?triggerWorkflows=w&filter="+filter, "tok-a", map[string]any{"title": "t3"})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	list, ok := r.body["data"].([]any)
	require.True(t, ok, "body: %s", r.raw)
	require.Len(t, list, 2)
	e.waitIdle()
	xs := e.execs("w")
	require.Len(t, xs, 2)
	ids := map[float64]bool{}
	for _, x := range xs {
		require.Equal(t, flow.ExecutionResolved, x.Status)
		require.Equal(t, "t3", dataOf(t, x)["title"])
		ids[num(t, dataOf(t, x)["id"])] = true
	}
	require.Equal(t, map[float64]bool{num(t, p1["id"]): true, num(t, p2["id"]): true}, ids)
	require.Len(t, e.records("posts", storage.Filter{"title": "t3"}), 2)
	require.Len(t, e.records("posts", storage.Filter{"title": "untouched", "id": p3["id"]}), 1)

	// The $in operator selects the same way.
	filter = url.QueryEscape(fmt.Sprintf(`{"id":{"$in":[%s]}}`, idOf(t, p3)))
	r = e.post("/api/posts:update?triggerWorkflows=w&filter="+filter, "tok-a", map[string]any{"title": "t4"})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	e.waitIdle()
	require.Len(t, e.execs("w"), 3)
}

// updated returns the records of an update's {"data": [...]}, which is a
// list also for one record (filterByTk), as in the reference system.
func updated(t *testing.T, r resp) []map[string]any {
	t.Helper()
	list, ok := r.body["data"].([]any)
	require.True(t, ok, "data is a list: %s", r.raw)
	out := make([]map[string]any, len(list))
	for i, it := range list {
		out[i], ok = it.(map[string]any)
		require.True(t, ok, "body: %s", r.raw)
	}
	return out
}

// REF F.1 #7: update by filterByTk (query or path) answers the record, in a
// list of one, as the reference system does ({"data": [{...}]}).
func TestUpdate_ByFilterByTk(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(syncWF("w", "posts", n("e", "echo", nil)))
	p := e.record("posts", flow.Record{"title": "t1"})
	r := e.post("/api/posts:update?triggerWorkflows=w&filterByTk="+idOf(t, p), "tok-a", map[string]any{"title": "t2"})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.True(t, strings.HasPrefix(strings.TrimSpace(rawMember(t, r, "data")), "["), "an array: %s", r.raw)
	got := updated(t, r)
	require.Len(t, got, 1)
	require.Equal(t, "t2", got[0]["title"])
	require.EqualValues(t, num(t, p["id"]), num(t, got[0]["id"]))
	xs := e.execs("w")
	require.Len(t, xs, 1)
	require.Equal(t, "t2", dataOf(t, xs[0])["title"])

	r = e.do(http.MethodPut, "/api/posts/"+idOf(t, p)+":update?triggerWorkflows=w", "tok-a", map[string]any{"title": "t3"})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Equal(t, "t3", updated(t, r)[0]["title"])
	require.Len(t, e.execs("w"), 2)
	require.Equal(t, "t3", e.records("posts", nil)[0]["title"])
}

// An unknown filterByTk is a 404 and writes nothing.
func TestUpdate_UnknownKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(syncWF("w", "posts", n("e", "echo", nil)))
	e.save(asyncWF("a", "posts", n("e", "echo", nil)))
	p := e.record("posts", flow.Record{"title": "t1"})
	r := e.post("/api/posts:update?triggerWorkflows=w,a&filterByTk=999", "tok-a", map[string]any{"title": "t2"})
	requireError(t, r, http.StatusNotFound)
	require.Equal(t, "t1", e.records("posts", nil)[0]["title"])
	require.Equal(t, p["id"], e.records("posts", nil)[0]["id"])
	e.waitIdle()
	require.Empty(t, e.allExecs())

	// A key that is not an integer is a 400.
	requireError(t, e.post("/api/posts:update?filterByTk=abc", "tok-a", map[string]any{"title": "t2"}), http.StatusBadRequest, "integer")
}

// REF B.11 #12: a filter matching no record answers [] and runs nothing.
func TestUpdate_FilterMatchesNone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(syncWF("w", "posts", n("e", "echo", nil)))
	e.save(asyncWF("a", "posts", n("e", "echo", nil)))
	e.record("posts", flow.Record{"title": "t1"})
	r := e.post("/api/posts:update?triggerWorkflows=w,a&filter="+url.QueryEscape(`{"title":"none"}`), "tok-a", map[string]any{"title": "t2"})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Equal(t, "[]", strings.TrimSpace(rawMember(t, r, "data")))
	e.waitIdle()
	require.Empty(t, e.allExecs())
}

// Unsupported filters and missing selectors are 400s.
func TestUpdate_BadSelectors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.record("posts", flow.Record{"title": "t1"})
	for _, q := range []string{
		"",
		"filter=" + url.QueryEscape(`{"$or":[{"id":1}]}`),
		"filter=" + url.QueryEscape(`{"id":{"$gt":1}}`),
		"filter=" + url.QueryEscape(`[1]`),
		"filter=nope",
	} {
		r := e.post("/api/posts:update?"+q, "tok-a", map[string]any{"title": "t2"})
		requireError(t, r, http.StatusBadRequest)
	}
	require.Equal(t, "t1", e.records("posts", nil)[0]["title"])
}

// REF F.1 #12: creates on an association resource set the foreign key and run
// the target collection's workflows.
func TestAssociation_Create(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(asyncWF("w", "posts", n("e", "echo", nil)))
	c1 := e.record("categories", flow.Record{"title": "c1"})
	cid := idOf(t, c1)

	r := e.post("/api/categories/"+cid+"/posts:create?triggerWorkflows=w", "tok-a", map[string]any{"title": "p1"})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Equal(t, num(t, c1["id"]), num(t, r.data()["categoryId"]))

	r = e.post("/api/categories.posts:create?triggerWorkflows=w&associatedIndex="+cid, "tok-a", map[string]any{"title": "p2"})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Equal(t, num(t, c1["id"]), num(t, r.data()["categoryId"]))

	e.waitIdle()
	xs := e.execs("w")
	require.Len(t, xs, 2)
	for i, x := range xs {
		require.Equal(t, flow.ExecutionResolved, x.Status)
		require.Equal(t, fmt.Sprintf("p%d", i+1), dataOf(t, x)["title"])
		require.Equal(t, num(t, c1["id"]), num(t, dataOf(t, x)["categoryId"]))
	}
	require.Len(t, e.records("posts", storage.Filter{"categoryId": c1["id"]}), 2)

	// The association's list shows them.
	r = e.do(http.MethodGet, "/api/categories/"+cid+"/posts:list", "tok-a", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Len(t, r.body["data"], 2)

	// An unknown source record is a 404; a missing one a 400; a to-one or
	// unknown association a 404. Nothing is written.
	requireError(t, e.post("/api/categories/999/posts:create?triggerWorkflows=w", "tok-a", map[string]any{"title": "p3"}), http.StatusNotFound)
	requireError(t, e.post("/api/categories.posts:create?triggerWorkflows=w", "tok-a", map[string]any{"title": "p3"}), http.StatusBadRequest, "associatedIndex")
	requireError(t, e.post("/api/categories/"+cid+"/nope:create", "tok-a", map[string]any{"title": "p3"}), http.StatusNotFound)
	require.Len(t, e.records("posts", nil), 2)
	e.waitIdle()
	require.Len(t, e.execs("w"), 2)
}

// REF F.1 #6: a composite key collection, sync.
func TestCreate_CompositeKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(syncWF("w", "postsTags", n("e", "echo", nil)))
	p := e.record("posts", flow.Record{"title": "p1"})
	tg := e.record("tags", flow.Record{"name": "t1"})
	r := e.post("/api/postsTags:create?triggerWorkflows=w", "tok-a", map[string]any{"postId": p["id"], "tagId": tg["id"]})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	xs := e.execs("w")
	require.Len(t, xs, 1)
	require.Equal(t, flow.ExecutionResolved, xs[0].Status)
	require.Equal(t, num(t, p["id"]), num(t, dataOf(t, xs[0])["postId"]))

	// get by a composite key.
	tk := url.QueryEscape(fmt.Sprintf(`{"postId":%s,"tagId":%s}`, idOf(t, p), idOf(t, tg)))
	r = e.do(http.MethodGet, "/api/postsTags:get?filterByTk="+tk, "tok-a", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Equal(t, num(t, tg["id"]), num(t, r.data()["tagId"]))
}

// REF F.1 #24: the X-Data-Source header picks the collection of another data source.
func TestCreate_OtherDataSource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(syncWF("w", "another:posts", n("e", "echo", nil)))
	// On main posts the binding does not match: strict refuses it.
	requireError(t, e.post("/api/posts:create?triggerWorkflows=w", "tok-a", map[string]any{"title": "t1"}), http.StatusBadRequest, "another:posts")
	r := e.post("/api/posts:create?triggerWorkflows=w", "tok-a", map[string]any{"title": "t2"}, header("X-Data-Source", "another"), header("X-Role", "member"))
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	xs := e.execs("w")
	require.Len(t, xs, 1)
	require.Equal(t, "t2", dataOf(t, xs[0])["title"])
	require.Empty(t, e.records("posts", nil))
	require.Len(t, e.records("another:posts", nil), 1)
}

// list and get serve records with appends and pages.
func TestListAndGet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.record("categories", flow.Record{"title": "c1"})
	for i := range 3 {
		e.record("posts", flow.Record{"title": fmt.Sprintf("t%d", i), "categoryId": c["id"]})
	}
	r := e.do(http.MethodGet, "/api/posts:list?pageSize=2&page=2&appends=category", "tok-a", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	list := r.body["data"].([]any)
	require.Len(t, list, 1)
	require.Equal(t, "t2", list[0].(map[string]any)["title"])
	require.Equal(t, "c1", list[0].(map[string]any)["category"].(map[string]any)["title"])
	require.EqualValues(t, 3, r.body["meta"].(map[string]any)["count"])
	require.EqualValues(t, 2, r.body["meta"].(map[string]any)["totalPage"])

	r = e.do(http.MethodGet, "/api/posts:get?filterByTk=1&appends[]=category", "tok-a", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Equal(t, "t0", r.data()["title"])
	require.Equal(t, "c1", r.data()["category"].(map[string]any)["title"])

	requireError(t, e.do(http.MethodGet, "/api/posts:get?filterByTk=99", "tok-a", nil), http.StatusNotFound)
	requireError(t, e.do(http.MethodGet, "/api/posts:get", "tok-a", nil), http.StatusBadRequest)
	requireError(t, e.do(http.MethodGet, "/api/posts:list?page=0", "tok-a", nil), http.StatusBadRequest)
	requireError(t, e.do(http.MethodGet, "/api/posts:create", "tok-a", nil), http.StatusMethodNotAllowed)
	requireError(t, e.do(http.MethodGet, "/api/posts:destroy", "tok-a", nil), http.StatusNotFound)
}
