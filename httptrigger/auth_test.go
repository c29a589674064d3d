package httptrigger_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/httptrigger"
)

func TestAuth_API(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(syncWF("w", "posts", n("e", "echo", nil)))
	body := map[string]any{"title": "t1"}
	paths := []string{"/api/posts:create?triggerWorkflows=w", "/host/posts?triggerWorkflows=w", "/host/posts-body?triggerWorkflows=w"}

	for _, p := range paths {
		// No credentials.
		r := e.post(p, "", body)
		requireError(t, r, http.StatusUnauthorized)
		require.Equal(t, "Bearer", r.header.Get("WWW-Authenticate"))
		// A bad token, in the header and in the query.
		requireError(t, e.post(p, "nope", body), http.StatusUnauthorized, "invalid token")
		requireError(t, e.post(p+"&token=nope", "", body), http.StatusUnauthorized)
		// Another scheme is no credential.
		requireError(t, e.post(p, "", body, header("Authorization", "Basic dG9rLWE6")), http.StatusUnauthorized)
		// X-Role the user does not have.
		requireError(t, e.post(p, "tok-a", body, header("X-Role", "root")), http.StatusForbidden, "root")
	}
	require.Zero(t, e.hostRuns.Load(), "a host handler ran for a refused request")
	require.Empty(t, e.records("posts", nil))
	require.Empty(t, e.allExecs())

	// The token query parameter authenticates.
	for i, p := range paths {
		r := e.post(p+"&token=tok-a", "", body)
		require.Equal(t, 200, r.code, "%s: %s", p, r.raw)
		xs := e.execs("w")
		require.Len(t, xs, i+1)
		require.Equal(t, "member", xs[i].Context["roleName"])
	}

	// X-Role picks one of the user's roles; without it the first one acts.
	for _, c := range []struct{ role, want string }{{"", "member"}, {"manager", "manager"}, {"member", "member"}} {
		for _, p := range paths {
			var opts []reqOpt
			if c.role != "" {
				opts = append(opts, header("X-Role", c.role))
			}
			before := len(e.execs("w"))
			r := e.post(p, "tok-b", body, opts...)
			require.Equal(t, 200, r.code, "%s: %s", p, r.raw)
			xs := e.execs("w")
			require.Len(t, xs, before+1)
			x := xs[len(xs)-1]
			require.Equal(t, c.want, x.Context["roleName"], "%s X-Role %q", p, c.role)
			user, _ := x.Context["user"].(map[string]any)
			require.EqualValues(t, 3, num(t, user["id"]))
			require.Equal(t, "b", user["nickname"])
		}
	}
}

// Without an Authenticator the Middleware acts as the user WithUser put in
// the context, or anonymously; RequireAuth refuses anonymous requests.
func TestMiddleware_WithUserAndAnonymous(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(syncWF("w", "posts", n("e", "echo", nil)))
	host := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec, ok := e.hostCreate(w, r)
		if !ok {
			return
		}
		httptrigger.Report(r, rec)
		w.WriteHeader(http.StatusCreated)
	})
	open := httptrigger.NewMiddleware(e.eng, httptrigger.Options{Logger: quiet}).Wrap("posts", actiontrigger.ActionCreate, host)
	closed := httptrigger.NewMiddleware(e.eng, httptrigger.Options{Logger: quiet, RequireAuth: true}).Wrap("posts", actiontrigger.ActionCreate, host)
	withUser := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(httptrigger.WithUser(r.Context(), actiontrigger.User{ID: 7, Role: "editor"})))
		})
	}
	serve := func(h http.Handler) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/?triggerWorkflows=w", jsonBody(t, map[string]any{"title": "x"}))
		h.ServeHTTP(rec, req)
		return rec
	}

	rec := serve(closed)
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	require.Empty(t, e.records("posts", nil))

	rec = serve(withUser(closed))
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	xs := e.execs("w")
	require.Len(t, xs, 1)
	require.Equal(t, "editor", xs[0].Context["roleName"])

	rec = serve(open)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	require.Len(t, e.execs("w"), 2)
}

func TestTokens_LookupUser(t *testing.T) {
	t.Parallel()
	for _, id := range []any{2, int64(2), 2.0, "2"} {
		p, err := testTokens.LookupUser(context.Background(), id)
		require.NoError(t, err, "%T", id)
		require.EqualValues(t, 2, p.User.ID)
	}
	_, err := testTokens.LookupUser(context.Background(), 99)
	require.Error(t, err)
}

// NewAPI needs an engine and an Authenticator; Prefix and AdminRoles apply;
// without Grants only admin roles reach records.
func TestNewAPI_Options(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := httptrigger.NewAPI(nil, httptrigger.APIOptions{Authenticator: testTokens})
	require.Error(t, err)
	_, err = httptrigger.NewAPI(e.eng, httptrigger.APIOptions{})
	require.Error(t, err)

	api, err := httptrigger.NewAPI(e.eng, httptrigger.APIOptions{Authenticator: testTokens, Prefix: "/v1", AdminRoles: []string{"manager"}, Logger: quiet})
	require.NoError(t, err)
	serve := func(path, token, role string) int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if role != "" {
			req.Header.Set("X-Role", role)
		}
		api.ServeHTTP(rec, req)
		return rec.Code
	}
	require.Equal(t, http.StatusOK, serve("/v1/workflows:list", "tok-b", "manager"))
	require.Equal(t, http.StatusForbidden, serve("/v1/workflows:list", "tok-b", ""))
	require.Equal(t, http.StatusForbidden, serve("/v1/workflows:list", "tok-root", ""))
	require.Equal(t, http.StatusNotFound, serve("/api/workflows:list", "tok-b", "manager"))
	// No grants: records are for admin roles only.
	require.Equal(t, http.StatusForbidden, serve("/v1/posts:list", "tok-a", ""))
	require.Equal(t, http.StatusOK, serve("/v1/posts:list", "tok-b", "manager"))
}
