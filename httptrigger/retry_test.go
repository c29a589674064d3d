package httptrigger_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
)

// executions:retry continues executions that ended by a fault, for admins.
func TestExecutionsRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.post("/api/workflows:create", "tok-root", map[string]any{
		"key": "boom", "enabled": true,
		"config": map[string]any{"collection": "posts"},
		"nodes":  []any{map[string]any{"key": "e", "type": "error"}},
	})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	for i := 0; i < 3; i++ {
		r = e.post("/api/posts:create?triggerWorkflows=boom", "tok-a", map[string]any{"title": "t"})
		require.Equal(t, 200, r.code, "body: %s", r.raw)
	}
	e.waitIdle()
	xs := e.execs("boom")
	require.Len(t, xs, 3)
	for _, x := range xs {
		require.Equal(t, flow.ExecutionError, x.Status)
	}

	// Members may not.
	requireError(t, e.post("/api/executions:retry?filterByTk="+xs[0].ID, "tok-a", nil), http.StatusForbidden)
	// Neither an id nor a filter with a key: 400 saying what is needed.
	requireError(t, e.post("/api/executions:retry", "tok-root", nil), http.StatusBadRequest, "filterByTk")
	requireError(t, e.do(http.MethodGet, "/api/executions:retry?filterByTk="+xs[0].ID, "tok-root", nil), http.StatusMethodNotAllowed)
	requireError(t, e.post("/api/executions:retry?filterByTk=nope", "tok-root", nil), http.StatusNotFound)

	// One: it runs again from the failed node (and fails again here).
	r = e.post("/api/executions:retry?filterByTk="+xs[0].ID, "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Equal(t, xs[0].ID, r.data()["id"])
	require.EqualValues(t, flow.ExecutionStarted, r.data()["status"])
	e.waitIdle()
	r = e.do(http.MethodGet, "/api/executions:get?appends=jobs&filterByTk="+xs[0].ID, "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.EqualValues(t, flow.ExecutionError, r.data()["status"])
	jobs := r.data()["jobs"].([]any)
	require.Len(t, jobs, 1, "the node ran again on its job")
	attempts := jobs[0].(map[string]any)["attempts"].([]any)
	require.Len(t, attempts, 1, "the attempt before the retry is kept: %s", r.raw)
	require.Equal(t, true, attempts[0].(map[string]any)["retried"])

	// Many, by workflow key and status.
	r = e.post("/api/executions:retry?filter="+url.QueryEscape(`{"key":"boom","status":-2}`), "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.EqualValues(t, 3, r.data()["count"])
	e.waitIdle()
	// A status that ended by a decision is refused.
	requireError(t, e.post("/api/executions:retry?filter="+url.QueryEscape(`{"key":"boom","status":1}`), "tok-root", nil), http.StatusBadRequest)

	// An execution canceled by hand ended by a decision: 400.
	e.save(manualWF("appr"))
	r = e.post("/api/posts:create?triggerWorkflows=appr", "tok-a", map[string]any{"title": "t1"})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	e.waitIdle()
	paused := e.execs("appr")
	require.Len(t, paused, 1)
	requireError(t, e.post("/api/executions:retry?filterByTk="+paused[0].ID, "tok-root", nil), http.StatusBadRequest, "STARTED")
	r = e.post("/api/executions:cancel?filterByTk="+paused[0].ID, "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	requireError(t, e.post("/api/executions:retry?filterByTk="+paused[0].ID, "tok-root", nil), http.StatusBadRequest, "manual_cancel")
}
