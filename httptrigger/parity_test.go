package httptrigger_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/httptrigger"
)

// The tests of this file replay the calls of issue 13's "Parity" section,
// where serve answered differently from the reference system (NocoBase).

// jobsOf returns an execution's jobs through executions:get?appends=jobs.
func (e *env) jobsOf(id string) []map[string]any {
	e.t.Helper()
	r := e.do(http.MethodGet, "/api/executions:get?appends=jobs&filterByTk="+id, "tok-root", nil)
	require.Equal(e.t, 200, r.code, "body: %s", r.raw)
	list, _ := r.data()["jobs"].([]any)
	out := make([]map[string]any, len(list))
	for i, it := range list {
		out[i], _ = it.(map[string]any)
	}
	return out
}

// requireJSON checks that raw is the JSON document want (member order aside).
func requireJSON(t *testing.T, want, raw string) {
	t.Helper()
	var a, b any
	require.NoError(t, json.Unmarshal([]byte(want), &a))
	require.NoError(t, json.Unmarshal([]byte(raw), &b), "raw: %s", raw)
	require.Equal(t, a, b, "got %s", raw)
}

// Parity 2 (REF F.1 #10 and #11): a create whose body creates to-one
// associations answers them attached, one and two levels deep, with their
// ids; the workflows get the same record.
func TestParity_CreateAnswersNestedAssociations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(asyncWF("on-cat", "categories", n("e", "echo", nil)))
	e.save(asyncWF("on-post", "posts", n("e", "echo", nil)))

	r := e.post("/api/posts:create?updateAssociationValues[]=category&triggerWorkflows=on-cat!category,on-post", "tok-a",
		map[string]any{"title": "t1", "category": map[string]any{"title": "c1"}})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	cat, ok := r.data()["category"].(map[string]any)
	require.True(t, ok, "category attached: %s", r.raw)
	require.Equal(t, "c1", cat["title"])
	require.NotNil(t, cat["id"])
	require.Equal(t, num(t, cat["id"]), num(t, r.data()["categoryId"]))
	require.Len(t, e.records("categories", nil), 1)

	// Two levels: a comment whose post has a new category.
	r = e.post("/api/comments:create?updateAssociationValues[]=post&updateAssociationValues[]=post.category&triggerWorkflows=on-cat!post.category", "tok-a",
		map[string]any{"content": "comment1", "post": map[string]any{"title": "p2", "category": map[string]any{"title": "c2"}}})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	post, ok := r.data()["post"].(map[string]any)
	require.True(t, ok, "post attached: %s", r.raw)
	require.Equal(t, "p2", post["title"])
	require.Equal(t, num(t, post["id"]), num(t, r.data()["postId"]))
	cat2, ok := post["category"].(map[string]any)
	require.True(t, ok, "post.category attached: %s", r.raw)
	require.Equal(t, "c2", cat2["title"])
	require.Equal(t, num(t, cat2["id"]), num(t, post["categoryId"]))

	// A plain create answers the flat row, as before.
	r = e.post("/api/posts:create", "tok-a", map[string]any{"title": "t3"})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.NotContains(t, r.data(), "category")

	e.waitIdle()
	xs := e.execs("on-cat")
	require.Len(t, xs, 2)
	titles := map[string]bool{}
	for _, x := range xs {
		require.Equal(t, flow.ExecutionResolved, x.Status)
		titles[dataOf(t, x)["title"].(string)] = true
	}
	require.Equal(t, map[string]bool{"c1": true, "c2": true}, titles)
	xs = e.execs("on-post")
	require.Len(t, xs, 1)
	require.Equal(t, "c1", dataOf(t, xs[0])["category"].(map[string]any)["title"], "the workflow sees the attached category")
}

// Parity 3: a response-message job's result is the rendered text; the sync
// response still carries [{"message": ...}].
func TestParity_ResponseMessageResultIsText(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(syncWF("s", "posts", n("m", "response-message", map[string]any{"message": "m{{$context.data.read}}"})))
	e.save(asyncWF("a", "posts", n("m", "response-message", map[string]any{"message": "async {{$context.data.title}}"})))

	r := e.post("/api/posts:create?triggerWorkflows=s,a", "tok-a", map[string]any{"title": "t1", "read": 1})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	requireJSON(t, `[{"message": "m1"}]`, rawMember(t, r, "messages"))
	e.waitIdle()
	for key, want := range map[string]string{"s": "m1", "a": "async t1"} {
		xs := e.execs(key)
		require.Len(t, xs, 1)
		jobs := e.jobsOf(xs[0].ID)
		require.Len(t, jobs, 1)
		require.Equal(t, want, jobs[0]["result"], "workflow %s", key)
	}
}

// Parity 5: listMine's meta is {"hasNext", "page", "pageSize"}, and hasNext
// tells whether a next page exists.
func TestParity_ListMineMeta(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(manualWF("appr"))
	for _, title := range []string{"t1", "t2"} {
		r := e.post("/api/posts:create?triggerWorkflows=appr", "tok-a", map[string]any{"title": title})
		require.Equal(t, 200, r.code, "body: %s", r.raw)
	}
	e.waitIdle()

	r := e.do(http.MethodGet, "/api/workflowManualTasks:listMine", "tok-a", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Len(t, r.body["data"], 2)
	requireJSON(t, `{"hasNext": false, "page": 1, "pageSize": 20}`, rawMember(t, r, "meta"))

	r = e.do(http.MethodGet, "/api/workflowManualTasks:listMine?pageSize=1", "tok-a", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Len(t, r.body["data"], 1)
	requireJSON(t, `{"hasNext": true, "page": 1, "pageSize": 1}`, rawMember(t, r, "meta"))

	r = e.do(http.MethodGet, "/api/workflowManualTasks:listMine?pageSize=1&page=2", "tok-a", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Len(t, r.body["data"], 1)
	requireJSON(t, `{"hasNext": false, "page": 2, "pageSize": 1}`, rawMember(t, r, "meta"))

	r = e.do(http.MethodGet, "/api/workflowManualTasks:listMine", "tok-b", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Empty(t, r.body["data"])
	requireJSON(t, `{"hasNext": false, "page": 1, "pageSize": 20}`, rawMember(t, r, "meta"))
}

// Parity 4: submitting a task answers 202, as the reference does.
func TestParity_SubmitIs202(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(manualWF("appr"))
	r := e.post("/api/posts:create?triggerWorkflows=appr", "tok-a", map[string]any{"title": "t1"})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	e.waitIdle()
	r = e.do(http.MethodGet, "/api/workflowManualTasks:listMine", "tok-a", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	id := r.body["data"].([]any)[0].(map[string]any)["id"].(string)
	r = e.post("/api/workflowManualTasks:submit?filterByTk="+id, "tok-a",
		map[string]any{"result": map[string]any{"f1": map[string]any{}, "_": "resolve"}})
	require.Equal(t, http.StatusAccepted, r.code, "body: %s", r.raw)
	require.EqualValues(t, flow.TaskResolved, r.data()["status"])
	e.waitIdle()
	require.Equal(t, flow.ExecutionResolved, e.execs("appr")[0].Status)
}

// Parity 6: creates and updates through the API stamp createdById and
// updatedById with the acting user; workflows see them ($context.data and
// appends: ["createdBy"]); the create node stamps its record from
// $context.user.id.
func TestParity_CreatedByStamped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.record("users", flow.Record{"id": 2, "nickname": "a"})
	e.record("users", flow.Record{"id": 3, "nickname": "b"})
	wf := asyncWF("w", "posts",
		n("note", "create", map[string]any{"collection": "comments", "params": map[string]any{
			"values":  map[string]any{"content": "by {{$context.data.createdById}}", "postId": "{{$context.data.id}}"},
			"appends": []any{"createdBy"},
		}}))
	wf.Config.Appends = []string{"createdBy"}
	e.save(wf)

	r := e.post("/api/posts:create?triggerWorkflows=w", "tok-a", map[string]any{"title": "t1"})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.EqualValues(t, 2, num(t, r.data()["createdById"]))
	require.EqualValues(t, 2, num(t, r.data()["updatedById"]))
	id := idOf(t, r.data())
	e.waitIdle()
	xs := e.execs("w")
	require.Len(t, xs, 1)
	require.Equal(t, flow.ExecutionResolved, xs[0].Status)
	d := dataOf(t, xs[0])
	require.EqualValues(t, 2, num(t, d["createdById"]))
	require.Equal(t, "a", d["createdBy"].(map[string]any)["nickname"], "appends createdBy")
	jobs := e.jobsOf(xs[0].ID)
	require.Len(t, jobs, 1)
	note := jobs[0]["result"].(map[string]any)
	require.Equal(t, "by 2", note["content"])
	require.EqualValues(t, 2, num(t, note["createdById"]), "the create node stamps $context.user.id")
	require.Equal(t, "a", note["createdBy"].(map[string]any)["nickname"])

	// An update stamps updatedById, and keeps createdById.
	r = e.post("/api/posts:update?filterByTk="+id, "tok-b", map[string]any{"title": "t2"})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	got := updated(t, r)[0]
	require.EqualValues(t, 2, num(t, got["createdById"]))
	require.EqualValues(t, 3, num(t, got["updatedById"]))

	// Records created nested in the body are stamped too.
	r = e.post("/api/comments:create", "tok-b", map[string]any{"content": "c", "post": map[string]any{"title": "nested"}})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.EqualValues(t, 3, num(t, r.data()["createdById"]))
	require.EqualValues(t, 3, num(t, r.data()["post"].(map[string]any)["createdById"]))
	require.EqualValues(t, 3, num(t, r.data()["post"].(map[string]any)["updatedById"]))
}

// Parity 6: a non-admin role cannot forge createdById or updatedById (403,
// nothing written); naming itself is allowed on create. Admin roles may set
// them (imports).
func TestParity_CreatedByNotForged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.record("posts", flow.Record{"title": "p0", "createdById": 3})
	for _, body := range []map[string]any{
		{"title": "x", "createdById": 3},
		{"title": "x", "updatedById": 3},
		{"title": "x", "createdBy": 3},
		{"title": "x", "createdBy": map[string]any{"nickname": "fake"}},
		{"title": "x", "updatedBy": map[string]any{"id": 3}},
	} {
		requireError(t, e.post("/api/posts:create", "tok-a", body), http.StatusForbidden)
	}
	// Nested: a comment's new post may not name another creator either.
	requireError(t, e.post("/api/comments:create", "tok-a", map[string]any{"content": "c", "post": map[string]any{"title": "x", "createdById": 3}}), http.StatusForbidden)
	for _, body := range []map[string]any{
		{"createdById": 2},
		{"createdById": 3},
		{"updatedById": 3},
		{"createdBy": 2},
	} {
		requireError(t, e.post("/api/posts:update?filterByTk="+idOf(t, p), "tok-a", body), http.StatusForbidden)
	}
	require.Len(t, e.records("posts", nil), 1, "nothing created")
	require.Len(t, e.records("comments", nil), 0)
	require.Nil(t, e.records("posts", nil)[0]["updatedById"], "nothing updated")

	r := e.post("/api/posts:create", "tok-a", map[string]any{"title": "mine", "createdById": 2, "updatedById": 2})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.EqualValues(t, 2, num(t, r.data()["createdById"]))

	r = e.post("/api/posts:create", "tok-root", map[string]any{"title": "imported", "createdById": 3})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.EqualValues(t, 3, num(t, r.data()["createdById"]), "an admin role may set it")
	require.EqualValues(t, 1, num(t, r.data()["updatedById"]), "and is stamped where it does not")
}

// Parity 7: ?button=<id> names a server-side button binding.
func TestParity_ButtonParam(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *envSetup) {
		s.cfg.Buttons = map[string][]actiontrigger.Binding{"save-post": {{Key: "w"}}}
	})
	e.save(syncWF("w", "posts", n("e", "echo", nil)))
	e.save(syncWF("other", "posts", n("e", "echo", nil)))

	r := e.post("/api/posts:create?button=save-post", "tok-a", map[string]any{"title": "t1"})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Len(t, e.execs("w"), 1, "the button's workflows run")
	require.Empty(t, e.execs("other"))

	requireError(t, e.post("/api/posts:create?button=save-post&triggerWorkflows=other", "tok-a", map[string]any{"title": "t2"}), http.StatusBadRequest, "other")
	requireError(t, e.post("/api/posts:create?button=nope", "tok-a", map[string]any{"title": "t3"}), http.StatusBadRequest, "nope")
	r = e.post("/api/posts:update?button=save-post&filterByTk=1", "tok-a", map[string]any{"title": "t4"})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Len(t, e.execs("w"), 2)
	require.Empty(t, e.execs("other"))
	require.Len(t, e.records("posts", nil), 1, "the refused creates wrote nothing")
}

// Parity 7: filterByTk and filter together select what both match.
func TestParity_UpdateTkAndFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p1 := e.record("posts", flow.Record{"title": "a"})
	p2 := e.record("posts", flow.Record{"title": "b"})
	q := func(tk flow.Record, filter string) string {
		return "/api/posts:update?filterByTk=" + idOf(t, tk) + "&filter=" + url.QueryEscape(filter)
	}
	requireError(t, e.post(q(p1, `{"title": "b"}`), "tok-a", map[string]any{"title": "x"}), http.StatusNotFound)
	requireError(t, e.post(q(p1, fmt.Sprintf(`{"id": [%s]}`, idOf(t, p2))), "tok-a", map[string]any{"title": "x"}), http.StatusNotFound)
	got := e.records("posts", nil)
	require.Equal(t, "a", got[0]["title"])
	require.Equal(t, "b", got[1]["title"])

	r := e.post(q(p2, fmt.Sprintf(`{"id": {"$in": [%s, %s]}, "title": "b"}`, idOf(t, p1), idOf(t, p2))), "tok-a", map[string]any{"title": "b2"})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	list := updated(t, r)
	require.Len(t, list, 1)
	require.Equal(t, "b2", list[0]["title"])
	got = e.records("posts", nil)
	require.Equal(t, "a", got[0]["title"])
	require.Equal(t, "b2", got[1]["title"])
}

// Parity 7: workflows:execute's roleName must be one of the user's roles.
func TestParity_ExecuteRoleName(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := asyncWF("w", "posts", n("e", "echo", nil))
	wf.Enabled = false
	saved := e.save(wf)
	p := e.record("posts", flow.Record{"title": "t1"})
	path := "/api/workflows:execute?filterByTk=" + saved.ID

	requireError(t, e.post(path, "tok-root", map[string]any{"data": p, "userId": 2, "roleName": "manager"}), http.StatusForbidden, "manager")
	require.Empty(t, e.execs("w"), "nothing ran")

	r := e.post(path, "tok-root", map[string]any{"data": p, "userId": 3, "roleName": "manager"})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	r = e.post(path, "tok-root", map[string]any{"data": p, "userId": 2})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	xs := e.execs("w")
	require.Len(t, xs, 2)
	roles := map[any]bool{}
	for _, x := range xs {
		roles[x.Context["roleName"]] = true
	}
	require.Equal(t, map[any]bool{"manager": true, "member": true}, roles)
}

// Parity 2, further: to-many associations created from the body come back
// too, and so do records an update's body creates; a role answers only the
// attached records it may view, while the workflows get them all.
func TestParity_NestedManyAndUpdate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withGrants(
		httptrigger.Grant{Role: "member", Collection: "posts", Actions: allActions},
		httptrigger.Grant{Role: "member", Collection: "categories", Actions: allActions},
		httptrigger.Grant{Role: "member", Collection: "comments", Actions: []httptrigger.GrantAction{httptrigger.GrantCreate}},
	))
	e.save(asyncWF("on-post", "posts", n("e", "echo", nil)))

	r := e.post("/api/posts:create?triggerWorkflows=on-post", "tok-root", map[string]any{"title": "t1", "comments": []any{map[string]any{"content": "x"}}})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	cs, ok := r.data()["comments"].([]any)
	require.True(t, ok, "comments attached: %s", r.raw)
	require.Len(t, cs, 1)
	require.Equal(t, "x", cs[0].(map[string]any)["content"])
	require.EqualValues(t, 1, num(t, cs[0].(map[string]any)["createdById"]), "stamped")
	id := idOf(t, r.data())

	r = e.post("/api/posts:update?filterByTk="+id, "tok-a", map[string]any{"category": map[string]any{"title": "c-new"}})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	got := updated(t, r)[0]
	require.Equal(t, "c-new", got["category"].(map[string]any)["title"])
	require.Equal(t, num(t, got["category"].(map[string]any)["id"]), num(t, got["categoryId"]))

	// Member a may create comments but not view them: the created comment
	// is written and goes to the workflow, not into the response.
	r = e.post("/api/posts:create?triggerWorkflows=on-post", "tok-a", map[string]any{"title": "t2", "comments": []any{map[string]any{"content": "hidden from a"}}})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.NotContains(t, r.data(), "comments")
	require.NotContains(t, r.raw, "hidden from a")
	require.Len(t, e.records("comments", nil), 2)
	e.waitIdle()
	var seen bool
	for _, x := range e.execs("on-post") {
		if dataOf(t, x)["title"] == "t2" {
			seen = true
			require.Len(t, dataOf(t, x)["comments"], 1, "the workflow gets the attached comment")
		}
	}
	require.True(t, seen)
}
