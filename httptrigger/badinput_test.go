package httptrigger_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/httptrigger"
)

// Bad requests to the record routes: each is refused with its status, in the
// {"errors":[{"message":...}]} shape, and writes and runs nothing.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withAPIOptions(func(o *httptrigger.APIOptions) { o.MaxBodyBytes = 256 }))
	e.save(syncWF("w", "posts", n("e", "echo", nil)))
	e.save(asyncWF("a", "posts", n("e", "echo", nil)))
	p := e.record("posts", flow.Record{"title": "t0"})
	const create = "/api/posts:create?triggerWorkflows=w,a"
	update := "/api/posts:update?triggerWorkflows=w,a&filterByTk=" + idOf(t, p)
	form := header("Content-Type", "application/x-www-form-urlencoded")

	cases := []struct {
		name string
		path string
		body any
		opts []reqOpt
		code int
		msg  string
	}{
		{"malformed JSON", create, `{"title": `, nil, 400, "malformed JSON"},
		{"trailing data", create, `{"title": "x"} {}`, nil, 400, "malformed JSON"},
		{"not an object", create, `["x"]`, nil, 400, ""},
		{"null", create, `null`, nil, 400, "JSON object"},
		{"empty body", create, ``, nil, 400, "JSON object"},
		{"text/plain", create, `{"title": "x"}`, []reqOpt{header("Content-Type", "text/plain")}, 415, "application/json"},
		{"bad content type", create, `{"title": "x"}`, []reqOpt{header("Content-Type", "a b c")}, 415, ""},
		{"form, not JSON", create, `title=x`, []reqOpt{form}, 415, ""},
		{"too big", create, `{"title": "` + strings.Repeat("x", 300) + `"}`, nil, 413, ""},
		{"unknown collection", "/api/nope:create?triggerWorkflows=w", `{"title": "x"}`, nil, 404, "nope"},
		{"unknown field", create, `{"title": "x", "nope": 1}`, nil, 400, "nope"},
		{"to-many path", "/api/posts:create?triggerWorkflows=w!comments", `{"title": "x"}`, nil, 400, "to-many"},
		{"empty path", "/api/posts:create?triggerWorkflows=w!", `{"title": "x"}`, nil, 400, "empty association path"},
		{"update malformed JSON", update, `{`, nil, 400, "malformed JSON"},
		{"update unknown field", update, `{"nope": 1}`, nil, 400, "nope"},
		{"update text/plain", update, `{"title": "x"}`, []reqOpt{header("Content-Type", "text/plain")}, 415, ""},
		{"update too big", update, `{"title": "` + strings.Repeat("x", 300) + `"}`, nil, 413, ""},
		{"update empty body", update, ``, nil, 400, ""},
		{"update primary key", update, `{"id": 99}`, nil, 400, "primary key"},
		{"update empty filter", "/api/posts:update?triggerWorkflows=w,a&filter=%7B%7D", `{"title": "x"}`, nil, 400, "empty filter"},
		{"no route", "/api/posts", `{}`, nil, 404, ""},
		{"deep route", "/api/a/b/c/d:create", `{}`, nil, 404, ""},
		{"wrong method", "/api/posts:create", nil, []reqOpt{func(r *http.Request) { r.Method = http.MethodGet }}, 405, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.post(c.path, "tok-a", c.body, c.opts...)
			if c.msg == "" {
				requireError(t, r, c.code)
			} else {
				requireError(t, r, c.code, c.msg)
			}
			for _, it := range r.body["errors"].([]any) {
				require.NotEmpty(t, it.(map[string]any)["message"])
			}
		})
	}
	recs := e.records("posts", nil)
	require.Len(t, recs, 1, "a bad request wrote a record")
	require.Equal(t, "t0", recs[0]["title"], "a bad request updated the record")
	e.waitIdle()
	require.Empty(t, e.allExecs(), "a bad request ran a workflow")
}

// What `curl -d '{...}'` sends: a form content type with a JSON body.
func TestCurlFormJSONAccepted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(syncWF("w", "posts", n("e", "echo", nil)))
	r := e.post("/api/posts:create?triggerWorkflows=w", "tok-a", `{"title": "t1"}`, header("Content-Type", "application/x-www-form-urlencoded"))
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Equal(t, "t1", r.data()["title"])
	require.Len(t, e.execs("w"), 1)
	// No content type, and a +json one, are JSON too.
	r = e.post("/api/posts:create?triggerWorkflows=w", "tok-a", `{"title": "t2"}`, func(r *http.Request) { r.Header.Del("Content-Type") })
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	r = e.post("/api/posts:create?triggerWorkflows=w", "tok-a", `{"title": "t3"}`, header("Content-Type", "application/vnd.api+json; charset=utf-8"))
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Len(t, e.execs("w"), 3)
	require.Len(t, e.records("posts", nil), 3)
}

// REF F.1 #16 over HTTP: the create answers at once; the async workflow runs
// on the started engine.
func TestAsync(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(asyncWF("a", "posts", n("e", "echo", nil)))
	e.save(syncWF("s", "posts", n("e", "echo", nil)))
	for _, rt := range createRoutes {
		r := e.post(rt.path+"?triggerWorkflows=a,s", "tok-a", map[string]any{"title": rt.name})
		require.Equal(t, 200, r.code, "body: %s", r.raw)
		require.NotContains(t, r.body, "messages")
	}
	// The sync one ran inline.
	require.Len(t, e.execs("s"), 3)
	// The async ones run without anyone waiting for them.
	eventually(t, func() bool {
		xs := e.execs("a")
		if len(xs) != 3 {
			return false
		}
		for _, x := range xs {
			if x.Status != flow.ExecutionResolved {
				return false
			}
		}
		return true
	}, "the async executions did not all resolve")
	titles := map[string]bool{}
	for _, x := range e.execs("a") {
		titles[dataOf(t, x)["title"].(string)] = true
		require.False(t, x.Sync)
	}
	require.Len(t, titles, 3)
}
