package httptrigger_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/httptrigger"
	"github.com/actiontrigger/actiontrigger/storage/storagetest"
)

// accessAPI is an API over the fixture collections whose member role may
// view posts and categories, and users only as their own.
func accessAPI(t *testing.T) (*actiontrigger.Engine, *httptrigger.API) {
	t.Helper()
	eng, err := actiontrigger.New(context.Background(), actiontrigger.Config{Collections: storagetest.Collections(), Store: testStore(t), Logger: quiet})
	require.NoError(t, err)
	api, err := httptrigger.NewAPI(eng, httptrigger.APIOptions{Authenticator: testTokens, Logger: quiet, Grants: []httptrigger.Grant{
		{Role: "member", Collection: "posts", Actions: []httptrigger.GrantAction{httptrigger.GrantView}},
	}})
	require.NoError(t, err)
	return eng, api
}

func TestIdentifyAsTheAPI(t *testing.T) {
	_, api := accessAPI(t)
	r := httptest.NewRequest("GET", "/", nil)
	_, err := api.Identify(r)
	require.ErrorIs(t, err, actiontrigger.ErrUnauthenticated, "no credentials")

	r.Header.Set("Authorization", "Bearer nope")
	_, err = api.Identify(r)
	require.ErrorIs(t, err, actiontrigger.ErrUnauthenticated)

	r.Header.Set("Authorization", "Bearer tok-b")
	u, err := api.Identify(r)
	require.NoError(t, err)
	require.Equal(t, "member", u.Role, "the first role by default")
	require.False(t, api.IsAdmin(*u))

	r.Header.Set("X-Role", "manager")
	u, err = api.Identify(r)
	require.NoError(t, err)
	require.Equal(t, "manager", u.Role)

	r.Header.Set("X-Role", "root")
	_, err = api.Identify(r)
	require.ErrorIs(t, err, httptrigger.ErrRoleNotAllowed, "a role the user does not have")

	r = httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer tok-root")
	u, err = api.Identify(r)
	require.NoError(t, err)
	require.True(t, api.IsAdmin(*u))
}

func TestViewRecordAsTheAPI(t *testing.T) {
	eng, api := accessAPI(t)
	posts, _ := eng.Collection("posts")
	rec := flow.Record{
		"id": 1, "title": "p",
		"category":  map[string]any{"id": 4, "title": "c"},
		"createdBy": map[string]any{"id": 2, "nickname": "a", "password": "secret", "token": "t"},
		"comments":  []any{map[string]any{"id": 9, "content": "hi", "createdBy": map[string]any{"id": 3, "password": "x"}}},
	}
	member := actiontrigger.User{ID: 2, Role: "member"}
	got := api.ViewRecord(member, posts, rec)
	require.Equal(t, flow.Record{"id": 1, "title": "p"}, got, "no grant on categories, users or comments: the loaded records go")

	root := actiontrigger.User{ID: 1, Role: "root"}
	got = api.ViewRecord(root, posts, rec)
	require.Equal(t, map[string]any{"id": 2, "nickname": "a"}, got["createdBy"], "hidden fields go for admin roles too")
	require.Equal(t, map[string]any{"id": 3}, got["comments"].([]any)[0].(map[string]any)["createdBy"], "nested")
	require.Equal(t, map[string]any{"id": 4, "title": "c"}, got["category"])
	require.Equal(t, "secret", rec["createdBy"].(map[string]any)["password"], "rec is not changed")
}

func TestPublicExecutionsAsTheAPI(t *testing.T) {
	eng, api := accessAPI(t)
	ctx := context.Background()
	wf, err := eng.SaveWorkflow(ctx, flow.Workflow{Key: "w", Config: flow.TriggerConfig{Collection: "users"}})
	require.NoError(t, err)
	x := &flow.Execution{ID: "x1", WorkflowID: wf.ID, Key: "w", Context: map[string]any{
		"data": map[string]any{"id": 5, "password": "p"},
		"user": map[string]any{"id": 2, "token": "t", "nickname": "a"},
	}}
	out, err := api.PublicExecutions(ctx, x)
	require.NoError(t, err)
	require.Equal(t, map[string]any{"id": 5}, out[0].Context["data"])
	require.Equal(t, map[string]any{"id": 2, "nickname": "a"}, out[0].Context["user"])
	require.Equal(t, "p", x.Context["data"].(map[string]any)["password"], "x is not changed")
}
