package httptrigger_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
)

// saveBindingFixtures: "ok" runs on posts, "off" is disabled, "cats" runs on
// categories.
func saveBindingFixtures(e *env) {
	e.save(syncWF("ok", "posts", n("e", "echo", nil)))
	off := syncWF("off", "posts", n("e", "echo", nil))
	off.Enabled = false
	e.save(off)
	e.save(syncWF("cats", "categories", n("e", "echo", nil)))
}

// Strict policy: every bad key is listed, the handler never runs and nothing
// is written or executed, on every route.
func TestBinding_StrictRefusesBeforeTheAction(t *testing.T) {
	t.Parallel()
	for _, rt := range createRoutes {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			saveBindingFixtures(e)
			r := e.post(rt.path+"?triggerWorkflows=ok,nope,off,cats", "tok-a", map[string]any{"title": "t1"})
			requireError(t, r, http.StatusBadRequest, "nope", "off", "cats")
			items := r.body["errors"].([]any)
			require.Len(t, items, 3, "one error per bad key: %s", r.raw)
			var keys []string
			for _, it := range items {
				m := it.(map[string]any)
				keys = append(keys, m["key"].(string))
				require.NotEmpty(t, m["reason"])
			}
			require.Equal(t, []string{"nope", "off", "cats"}, keys)
			require.Zero(t, e.hostRuns.Load(), "the handler ran")
			require.Empty(t, e.records("posts", nil), "a record was written")
			e.waitIdle()
			require.Empty(t, e.allExecs())
		})
	}
}

// The update routes check the binding before writing too.
func TestBinding_StrictRefusesUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	saveBindingFixtures(e)
	p := e.record("posts", flow.Record{"title": "t0"})
	r := e.post("/api/posts:update?filterByTk="+idOf(t, p)+"&triggerWorkflows=ok,nope", "tok-a", map[string]any{"title": "t1"})
	requireError(t, r, http.StatusBadRequest, "nope")
	require.Equal(t, "t0", e.records("posts", nil)[0]["title"], "the update was written")
	require.Empty(t, e.allExecs())
}

// Lenient policy: bad keys are ignored (200), the good one runs.
func TestBinding_LenientIgnores(t *testing.T) {
	t.Parallel()
	for _, rt := range createRoutes {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, lenient())
			saveBindingFixtures(e)
			r := e.post(rt.path+"?triggerWorkflows=ok,nope,off,cats", "tok-a", map[string]any{"title": "t1"})
			require.Equal(t, 200, r.code, "body: %s", r.raw)
			require.Len(t, e.records("posts", nil), 1)
			e.waitIdle()
			xs := e.allExecs()
			require.Len(t, xs, 1)
			require.Equal(t, "ok", xs[0].Key)
			require.Equal(t, flow.ExecutionResolved, xs[0].Status)
		})
	}
}

// A to-many path is malformed under both policies: 400 before the action.
func TestBinding_ToManyPathRefused(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{"strict", "lenient"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			var opts []envOpt
			if policy == "lenient" {
				opts = append(opts, lenient())
			}
			e := newEnv(t, opts...)
			e.save(syncWF("cm", "comments", n("e", "echo", nil)))
			for _, rt := range createRoutes {
				r := e.post(rt.path+"?triggerWorkflows=cm!comments", "tok-a", map[string]any{"title": "t1"})
				requireError(t, r, http.StatusBadRequest, "comments", "to-many")
			}
			require.Zero(t, e.hostRuns.Load())
			require.Empty(t, e.records("posts", nil))
			require.Empty(t, e.allExecs())
		})
	}
}

// An unknown field in a path is a 400 too, not a 404 or a 500.
func TestBinding_UnknownPathField(t *testing.T) {
	t.Parallel()
	e := newEnv(t, lenient())
	e.save(syncWF("cats", "categories", n("e", "echo", nil)))
	for _, rt := range createRoutes {
		r := e.post(rt.path+"?triggerWorkflows=cats!nope", "tok-a", map[string]any{"title": "t1"})
		requireError(t, r, http.StatusBadRequest, "nope")
	}
	require.Empty(t, e.records("posts", nil))
}

// REF F.1 #10: "!category" runs the categories workflow on the category the
// post was created with.
func TestPath_Level1(t *testing.T) {
	t.Parallel()
	for _, rt := range createRoutes {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.save(asyncWF("cats", "categories", n("e", "echo", nil)))
			r := e.post(rt.path+"?triggerWorkflows=cats!category", "tok-a", map[string]any{"title": "t1", "category": map[string]any{"title": "c1"}})
			require.Equal(t, 200, r.code, "body: %s", r.raw)
			e.waitIdle()
			xs := e.execs("cats")
			require.Len(t, xs, 1)
			require.Equal(t, flow.ExecutionResolved, xs[0].Status)
			require.Equal(t, "c1", dataOf(t, xs[0])["title"])
			cats := e.records("categories", nil)
			require.Len(t, cats, 1)
			require.Equal(t, num(t, cats[0]["id"]), num(t, dataOf(t, xs[0])["id"]))
		})
	}
}

// REF F.1 #11: "!post.category" from a comment.
func TestPath_Level2(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(asyncWF("cats", "categories", n("e", "echo", nil)))
	r := e.post("/api/comments:create?triggerWorkflows=cats!post.category", "tok-a",
		map[string]any{"content": "comment1", "post": map[string]any{"title": "p1", "category": map[string]any{"title": "c1"}}})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	e.waitIdle()
	xs := e.execs("cats")
	require.Len(t, xs, 1)
	require.Equal(t, flow.ExecutionResolved, xs[0].Status)
	require.Equal(t, "c1", dataOf(t, xs[0])["title"])
	require.Len(t, e.records("comments", nil), 1)
	require.Len(t, e.records("posts", nil), 1)
}

// An existing category linked by key: the path loads it.
func TestPath_Level1_LinkedByKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(asyncWF("cats", "categories", n("e", "echo", nil)))
	c := e.record("categories", flow.Record{"title": "c9"})
	r := e.post("/api/posts:create?triggerWorkflows=cats!category", "tok-a", map[string]any{"title": "t1", "categoryId": c["id"]})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	e.waitIdle()
	xs := e.execs("cats")
	require.Len(t, xs, 1)
	require.Equal(t, "c9", dataOf(t, xs[0])["title"])
}

// idOf is a record's id as text, for filterByTk.
func idOf(t *testing.T, rec flow.Record) string {
	t.Helper()
	return strconv.FormatInt(int64(num(t, rec["id"])), 10)
}
