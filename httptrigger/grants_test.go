package httptrigger_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/httptrigger"
)

var (
	allActions = []httptrigger.GrantAction{httptrigger.GrantCreate, httptrigger.GrantView, httptrigger.GrantUpdate}
	viewOnly   = []httptrigger.GrantAction{httptrigger.GrantView}
)

func withGrants(gs ...httptrigger.Grant) envOpt {
	return withAPIOptions(func(o *httptrigger.APIOptions) { o.Grants = gs })
}

// requireNoHidden fails if a response body carries a hidden value anywhere.
func requireNoHidden(t *testing.T, r resp, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		require.NotContains(t, r.raw, s, "a hidden value in the response")
	}
	require.NotContains(t, r.raw, `"password"`)
	require.NotContains(t, r.raw, `"token"`)
}

// Hidden fields (users.password, users.token) never leave the API: not in
// lists, gets, creates, updates, appended records of another collection, nor
// executions' contexts; for admin roles neither.
func TestHiddenFields_NeverInResponses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withGrants(
		httptrigger.Grant{Role: "member", Collection: "users", Actions: allActions},
		httptrigger.Grant{Role: "member", Collection: "posts", Actions: allActions},
	))
	e.save(asyncWF("on-user", "users"))
	u := e.record("users", flow.Record{"id": 2, "nickname": "a", "password": "pw-stored", "token": "tk-stored"})
	e.record("posts", flow.Record{"title": "p1", "createdById": u["id"]})

	for _, tok := range []string{"tok-a", "tok-root"} {
		r := e.do(http.MethodGet, "/api/users:list", tok, nil)
		require.Equal(t, 200, r.code, r.raw)
		require.Contains(t, r.raw, `"nickname":"a"`)
		requireNoHidden(t, r, "pw-stored", "tk-stored")

		r = e.do(http.MethodGet, "/api/users:get?filterByTk=2", tok, nil)
		require.Equal(t, 200, r.code, r.raw)
		requireNoHidden(t, r, "pw-stored", "tk-stored")

		r = e.do(http.MethodGet, "/api/posts:list?appends=createdBy", tok, nil)
		require.Equal(t, 200, r.code, r.raw)
		require.Contains(t, r.raw, `"nickname":"a"`, "the appended user is there")
		requireNoHidden(t, r, "pw-stored", "tk-stored")

		r = e.do(http.MethodGet, "/api/posts:get?filterByTk=1&appends=createdBy", tok, nil)
		require.Equal(t, 200, r.code, r.raw)
		requireNoHidden(t, r, "pw-stored", "tk-stored")
	}

	r := e.post("/api/users:create?triggerWorkflows=on-user", "tok-a", map[string]any{"nickname": "n", "password": "pw-new"})
	require.Equal(t, 200, r.code, r.raw)
	require.Equal(t, "n", r.data()["nickname"])
	requireNoHidden(t, r, "pw-new")

	r = e.post("/api/users:update?filterByTk=2", "tok-a", map[string]any{"password": "pw-changed"})
	require.Equal(t, 200, r.code, r.raw)
	requireNoHidden(t, r, "pw-changed")
	r = e.post("/api/users:update?filter="+url.QueryEscape(`{"id": [2]}`), "tok-a", map[string]any{"nickname": "a2"})
	require.Equal(t, 200, r.code, r.raw)
	requireNoHidden(t, r, "pw-changed")

	// A post with a nested user (createdBy, which only admin roles may set):
	// the created user comes back without its password.
	r = e.post("/api/posts:create", "tok-root", map[string]any{"title": "p2", "createdBy": map[string]any{"nickname": "c", "password": "pw-nested"}})
	require.Equal(t, 200, r.code, r.raw)
	require.Contains(t, r.raw, `"nickname":"c"`, "the nested user is in the response")
	requireNoHidden(t, r, "pw-nested")

	// Executions: the context of the users workflow, as root.
	e.waitIdle()
	r = e.do(http.MethodGet, "/api/executions:list", "tok-root", nil)
	require.Equal(t, 200, r.code, r.raw)
	require.Contains(t, r.raw, `"nickname":"n"`, "the execution's context is listed")
	requireNoHidden(t, r, "pw-new")
	id := r.body["data"].([]any)[0].(map[string]any)["id"].(string)
	r = e.do(http.MethodGet, "/api/executions:get?appends=jobs&filterByTk="+id, "tok-root", nil)
	require.Equal(t, 200, r.code, r.raw)
	requireNoHidden(t, r, "pw-new")
}

// An execution whose stored context holds a hidden value (written by an
// older version, or by a host) is listed without it.
func TestHiddenFields_StoredExecutionContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	wf := e.save(asyncWF("on-user", "users"))
	x := &flow.Execution{ID: "x-hidden", WorkflowID: wf.ID, Key: wf.Key, Status: flow.ExecutionResolved,
		Context: map[string]any{"data": map[string]any{"id": 9, "nickname": "z", "password": "pw-old"},
			"user": map[string]any{"id": 1, "token": "tk-old"}}}
	require.NoError(t, e.eng.Store().InsertExecution(context.Background(), x))
	r := e.do(http.MethodGet, "/api/executions:list", "tok-root", nil)
	require.Equal(t, 200, r.code, r.raw)
	require.Contains(t, r.raw, `"nickname":"z"`)
	requireNoHidden(t, r, "pw-old", "tk-old")
	r = e.do(http.MethodGet, "/api/executions:get?filterByTk=x-hidden", "tok-root", nil)
	require.Equal(t, 200, r.code, r.raw)
	requireNoHidden(t, r, "pw-old", "tk-old")
}

// Without a grant a role gets 403 on records: a member cannot read users,
// overwrite another user's password nor create users; appends, nested
// creates, and filters or sorts on hidden fields are checked too.
func TestGrants_Deny(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withGrants(
		httptrigger.Grant{Role: "member", Collection: "posts", Actions: allActions},
		httptrigger.Grant{Role: "manager", Collection: "users", Actions: viewOnly},
	))
	e.record("users", flow.Record{"id": 3, "nickname": "b", "password": "pw-b"})
	e.record("posts", flow.Record{"title": "p1", "createdById": 3})

	requireError(t, e.do(http.MethodGet, "/api/users:list", "tok-a", nil), 403, "member", "users")
	requireError(t, e.do(http.MethodGet, "/api/users:get?filterByTk=3", "tok-a", nil), 403)
	requireError(t, e.post("/api/users:update?filterByTk=3", "tok-a", map[string]any{"password": "mine"}), 403)
	requireError(t, e.post("/api/users:create", "tok-a", map[string]any{"nickname": "x", "password": "p"}), 403)
	got := e.records("users", nil)
	require.Len(t, got, 1)
	require.Equal(t, "pw-b", got[0]["password"], "the password did not change")

	// Posts are granted; appending users (not viewable) is not.
	require.Equal(t, 200, e.do(http.MethodGet, "/api/posts:list", "tok-a", nil).code)
	requireError(t, e.do(http.MethodGet, "/api/posts:list?appends=createdBy", "tok-a", nil), 403, "users")
	requireError(t, e.do(http.MethodGet, "/api/posts:get?filterByTk=1&appends=createdBy", "tok-a", nil), 403)
	// A nested category is a create on categories, which member may not.
	requireError(t, e.post("/api/posts:create", "tok-a", map[string]any{"title": "p", "category": map[string]any{"title": "c"}}), 403, "categories")
	require.Empty(t, e.records("categories", nil))
	require.Len(t, e.records("posts", nil), 1)
	// An association create into a collection without a grant.
	e.record("categories", flow.Record{"id": 1, "title": "c"})
	requireError(t, e.post("/api/categories/1/posts:create", "tok-b", map[string]any{"title": "x"}, header("X-Role", "manager")), 403, "posts")

	// Filters and sorts on hidden fields: 400 for others than admins.
	filter := "/api/users:list?filter=" + url.QueryEscape(`{"password": "pw-b"}`)
	requireError(t, e.do(http.MethodGet, filter, "tok-b", nil, header("X-Role", "manager")), 400, "password", "hidden")
	requireError(t, e.do(http.MethodGet, "/api/users:list?sort=-password", "tok-b", nil, header("X-Role", "manager")), 400, "hidden")
	requireError(t, e.do(http.MethodGet, "/api/posts:list?filter="+url.QueryEscape(`{"createdBy.password": "pw-b"}`), "tok-a", nil), 403)
	r := e.do(http.MethodGet, filter, "tok-root", nil)
	require.Equal(t, 200, r.code, r.raw)
	require.Len(t, r.body["data"], 1, "admin roles keep everything")
	requireNoHidden(t, r, "pw-b")
}

// ScopeOwn: a role sees and updates only the records it created
// (createdById), and creates records as itself.
func TestGrants_Own(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withGrants(
		httptrigger.Grant{Role: "member", Collection: "posts", Actions: allActions, Scope: httptrigger.ScopeOwn},
		httptrigger.Grant{Role: "member", Collection: "comments", Actions: viewOnly, Scope: httptrigger.ScopeOwn},
		httptrigger.Grant{Role: "manager", Collection: "posts", Actions: viewOnly},
	))
	mine := e.record("posts", flow.Record{"title": "mine", "createdById": 2})
	theirs := e.record("posts", flow.Record{"title": "theirs", "createdById": 3})
	e.record("comments", flow.Record{"content": "c-mine", "postId": mine["id"], "createdById": 2})
	e.record("comments", flow.Record{"content": "c-theirs", "postId": mine["id"], "createdById": 3})

	r := e.do(http.MethodGet, "/api/posts:list", "tok-a", nil)
	require.Equal(t, 200, r.code, r.raw)
	require.Len(t, r.body["data"], 1)
	require.Contains(t, r.raw, `"mine"`)
	r = e.do(http.MethodGet, "/api/posts:list?filter="+url.QueryEscape(`{"createdById": 3}`), "tok-a", nil)
	require.Equal(t, 200, r.code, r.raw)
	require.Empty(t, r.body["data"], "asking for another's records finds none")
	requireError(t, e.do(http.MethodGet, "/api/posts:get?filterByTk="+keyOf(theirs), "tok-a", nil), 404)
	r = e.do(http.MethodGet, "/api/posts:get?appends=comments&filterByTk="+keyOf(mine), "tok-a", nil)
	require.Equal(t, 200, r.code, r.raw)
	require.Contains(t, r.raw, "c-mine")
	require.NotContains(t, r.raw, "c-theirs", "appended comments: only the member's own")

	requireError(t, e.post("/api/posts:update?filterByTk="+keyOf(theirs), "tok-a", map[string]any{"title": "taken"}), 404)
	r = e.post("/api/posts:update?filter="+url.QueryEscape(`{"title": ["mine", "theirs"]}`), "tok-a", map[string]any{"title": "renamed"})
	require.Equal(t, 200, r.code, r.raw)
	require.Len(t, r.body["data"], 1)
	requireError(t, e.post("/api/posts:update?filterByTk="+keyOf(mine), "tok-a", map[string]any{"createdById": 3}), 403)
	got := e.records("posts", nil)
	require.Equal(t, "theirs", got[1]["title"], "another's post did not change")

	r = e.post("/api/posts:create", "tok-a", map[string]any{"title": "new"})
	require.Equal(t, 200, r.code, r.raw)
	require.EqualValues(t, 2, num(t, r.data()["createdById"]), "created as the acting user")
	requireError(t, e.post("/api/posts:create", "tok-a", map[string]any{"title": "forged", "createdById": 3}), 403)

	// The manager role views every post.
	r = e.do(http.MethodGet, "/api/posts:list", "tok-b", nil, header("X-Role", "manager"))
	require.Equal(t, 200, r.code, r.raw)
	require.Len(t, r.body["data"], 3)
}

func keyOf(rec flow.Record) string { return fmt.Sprint(rec["id"]) }

// Invalid grants are refused when the API is built, with ErrInvalidGrant.
func TestGrants_Invalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, g := range []httptrigger.Grant{
		{Role: "member", Collection: "nope", Actions: viewOnly},
		{Role: "member", Collection: "posts", Actions: []httptrigger.GrantAction{"destroy"}},
		{Role: "member", Collection: "posts", Actions: nil},
		{Role: "member", Collection: "posts", Actions: viewOnly, Scope: "mine"},
		{Role: "", Collection: "posts", Actions: viewOnly},
		{Role: "member", Collection: "categories", Actions: viewOnly, Scope: httptrigger.ScopeOwn},
	} {
		_, err := httptrigger.NewAPI(e.eng, httptrigger.APIOptions{Authenticator: testTokens, Grants: []httptrigger.Grant{g}})
		require.ErrorIs(t, err, httptrigger.ErrInvalidGrant, "%+v", g)
	}
	_, err := httptrigger.NewAPI(e.eng, httptrigger.APIOptions{Authenticator: testTokens, Grants: []httptrigger.Grant{
		{Role: "member", Collection: "categories", Actions: viewOnly, Scope: httptrigger.ScopeOwn},
	}})
	require.ErrorContains(t, err, "createdById")
}
