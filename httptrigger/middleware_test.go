package httptrigger_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/httptrigger"
)

// serveMW runs one request through the Middleware (as user a) around h.
func serveMW(t *testing.T, e *env, action, trigger string, h http.HandlerFunc) *httptest.ResponseRecorder {
	t.Helper()
	mw := httptrigger.NewMiddleware(e.eng, httptrigger.Options{Authenticator: testTokens, Logger: quiet})
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/?triggerWorkflows="+trigger, strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer tok-a")
	mw.Action("posts", action)(h).ServeHTTP(rec, req)
	return rec
}

// The records the Middleware gives to AfterAction: a reported slice (one event
// each), the "data" list of a JSON body, a whole JSON body, and nothing for an
// empty report or a body that is not JSON.
func TestMiddleware_Records(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(syncWF("w", "posts", n("m", "response-message", map[string]any{"message": "saw {{$context.data.title}}"})))
	p1 := e.record("posts", flow.Record{"title": "p1"})
	p2 := e.record("posts", flow.Record{"title": "p2"})

	// A reported slice: one execution per record, messages of both.
	rec := serveMW(t, e, actiontrigger.ActionUpdate, "w", func(w http.ResponseWriter, r *http.Request) {
		httptrigger.Report(r, []flow.Record{p1, p2})
		body := `{"data":{"updated":2}}`
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Header().Set("X-Host", "kept")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, body)
	})
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	require.Equal(t, "kept", rec.Header().Get("X-Host"))
	require.Equal(t, strconv.Itoa(rec.Body.Len()), rec.Header().Get("Content-Length"), "Content-Length does not match the body with messages")
	var body struct {
		Data     map[string]any      `json:"data"`
		Messages []map[string]string `json:"messages"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
	require.EqualValues(t, 2, body.Data["updated"])
	require.Equal(t, []map[string]string{{"message": "saw p1"}, {"message": "saw p2"}}, body.Messages)
	require.Len(t, e.execs("w"), 2)

	// The "data" list of a JSON body (a +json type).
	rec = serveMW(t, e, actiontrigger.ActionUpdate, "w", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.host+json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": []any{p1, p2}})
	})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Contains(t, rec.Body.String(), "saw p2")
	require.Len(t, e.execs("w"), 4)

	// A whole JSON body without a "data" member is the record.
	rec = serveMW(t, e, actiontrigger.ActionCreate, "w", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"id": 9, "title": "bare"}`)
	})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	xs := e.execs("w")
	require.Len(t, xs, 5)
	require.Equal(t, "bare", dataOf(t, xs[4])["title"])

	// An empty report, a non-JSON body, a null data: nothing runs, the response passes.
	for _, h := range []http.HandlerFunc{
		func(w http.ResponseWriter, r *http.Request) {
			httptrigger.Report(r, []flow.Record{})
			_, _ = io.WriteString(w, `{"data":{}}`)
		},
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "saved")
		},
		func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{"data":null}`) },
		func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) },
	} {
		rec = serveMW(t, e, actiontrigger.ActionCreate, "w", h)
		require.Less(t, rec.Code, 300)
		require.NotContains(t, rec.Body.String(), "messages")
	}
	require.Len(t, e.execs("w"), 5)

	// Report outside a Middleware says so.
	require.False(t, httptrigger.Report(httptest.NewRequest(http.MethodPost, "/", nil), p1))
}

// Actions other than create and update trigger nothing.
func TestMiddleware_OtherAction(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(syncWF("w", "posts", n("e", "echo", nil)))
	rec := serveMW(t, e, "destroy", "w", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"data":{"id":1}}`)
	})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Empty(t, e.allExecs())
}

// Concurrent requests on every route: each runs its own workflows, once.
func TestConcurrentRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(syncWF("s", "posts", n("m", "response-message", map[string]any{"message": "{{$context.data.title}} by {{$context.user.nickname}}"})))
	e.save(asyncWF("a", "posts", n("e", "echo", nil)))
	const per = 8
	var wg sync.WaitGroup
	errs := make(chan string, per*len(createRoutes))
	for _, rt := range createRoutes {
		for i := range per {
			wg.Go(func() {
				tok := []string{"tok-a", "tok-b"}[i%2]
				title := rt.name + "-" + strconv.Itoa(i)
				r := e.post(rt.path+"?triggerWorkflows=s,a", tok, map[string]any{"title": title})
				nick := map[string]string{"tok-a": "a", "tok-b": "b"}[tok]
				want := title + " by " + nick
				if r.code != 200 || !strings.Contains(r.raw, want) {
					errs <- r.raw
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for raw := range errs {
		t.Errorf("bad response: %s", raw)
	}
	e.waitIdle()
	require.Len(t, e.records("posts", nil), per*len(createRoutes))
	require.Len(t, e.execs("s"), per*len(createRoutes))
	xs := e.execs("a")
	require.Len(t, xs, per*len(createRoutes))
	for _, x := range xs {
		require.Equal(t, flow.ExecutionResolved, x.Status)
	}
}
