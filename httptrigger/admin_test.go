package httptrigger_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
)

// manualWF is an async workflow on posts whose manual node "m" waits for
// user a (id 2), then "after" runs.
func manualWF(key string) flow.Workflow {
	return asyncWF(key, "posts",
		flow.Node{Key: "m", Type: "manual", Title: "review", Config: map[string]any{
			"assignees": []any{2},
			"mode":      0,
			"forms": map[string]any{"f1": map[string]any{"type": "custom", "actions": []any{
				map[string]any{"key": "resolve", "status": 1},
				map[string]any{"key": "reject", "status": -5},
			}}},
		}},
		n("after", "echo", nil))
}

// REF F.7 #70/#72 over HTTP.
func TestApproval(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(manualWF("appr"))
	r := e.post("/api/posts:create?triggerWorkflows=appr", "tok-a", map[string]any{"title": "t1"})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	e.waitIdle()
	xs := e.execs("appr")
	require.Len(t, xs, 1)
	require.Equal(t, flow.ExecutionStarted, xs[0].Status)

	// The assignee sees the task; the other user sees none.
	r = e.do(http.MethodGet, "/api/workflowManualTasks:listMine", "tok-a", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	tasks := r.body["data"].([]any)
	require.Len(t, tasks, 1)
	task := tasks[0].(map[string]any)
	require.Equal(t, "appr", task["workflowKey"])
	require.Equal(t, xs[0].ID, task["executionId"])
	require.EqualValues(t, flow.TaskPending, task["status"])
	id := task["id"].(string)

	r = e.do(http.MethodGet, "/api/workflowManualTasks:listMine?filter="+url.QueryEscape(`{"status":[1]}`), "tok-a", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Empty(t, r.body["data"])
	r = e.post("/api/workflowManualTasks:listMine", "tok-b", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Empty(t, r.body["data"])

	submit := map[string]any{"result": map[string]any{"f1": map[string]any{"ok": true}, "_": "resolve"}}
	// Anonymous: 401; not the assignee: 403; malformed: 400. Nothing resumes.
	requireError(t, e.post("/api/workflowManualTasks:submit?filterByTk="+id, "", submit), http.StatusUnauthorized)
	requireError(t, e.post("/api/workflowManualTasks:submit?filterByTk="+id, "tok-b", submit), http.StatusForbidden)
	requireError(t, e.post("/api/workflowManualTasks:submit?filterByTk="+id, "tok-a", map[string]any{"result": map[string]any{"f1": map[string]any{}}}), http.StatusBadRequest)
	requireError(t, e.post("/api/workflowManualTasks:submit?filterByTk="+id, "tok-a", map[string]any{}), http.StatusBadRequest)
	requireError(t, e.post("/api/workflowManualTasks:submit", "tok-a", submit), http.StatusBadRequest)
	requireError(t, e.post("/api/workflowManualTasks:submit?filterByTk=nope", "tok-a", submit), http.StatusNotFound)
	requireError(t, e.do(http.MethodGet, "/api/workflowManualTasks:submit?filterByTk="+id, "tok-a", nil), http.StatusMethodNotAllowed)
	e.waitIdle()
	x, err := e.eng.Execution(t.Context(), xs[0].ID)
	require.NoError(t, err)
	require.Equal(t, flow.ExecutionStarted, x.Status)

	// The assignee decides: the execution resumes to RESOLVED.
	r = e.post("/api/workflowManualTasks:submit?filterByTk="+id, "tok-a", submit)
	require.Equal(t, http.StatusAccepted, r.code, "body: %s", r.raw)
	require.EqualValues(t, flow.TaskResolved, r.data()["status"])
	eventually(t, func() bool {
		x, err := e.eng.Execution(t.Context(), xs[0].ID)
		return err == nil && x.Status == flow.ExecutionResolved
	}, "execution %s did not resolve", xs[0].ID)
	jobs, err := e.eng.Jobs(t.Context(), xs[0].ID)
	require.NoError(t, err)
	require.Len(t, jobs, 2)
	require.Equal(t, "after", jobs[1].NodeKey)

	// Again: 400.
	requireError(t, e.post("/api/workflowManualTasks:submit?filterByTk="+id, "tok-a", submit), http.StatusBadRequest)
}

// The admin routes: workflows:* and executions:*.
func TestAdmin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.save(manualWF("appr"))

	// A member may use none of them.
	for _, p := range []string{
		"/api/workflows:list", "/api/workflows:get?filterByTk=x", "/api/workflows:create",
		"/api/workflows:update?filterByTk=x", "/api/workflows:revision?filterByTk=x",
		"/api/workflows:execute?filterByTk=x", "/api/workflows:destroy?filterByTk=x",
		"/api/executions:list", "/api/executions:get?filterByTk=x", "/api/executions:cancel?filterByTk=x",
	} {
		requireError(t, e.post(p, "tok-a", map[string]any{}), http.StatusForbidden)
		requireError(t, e.post(p, "tok-b", map[string]any{}, header("X-Role", "manager")), http.StatusForbidden)
		requireError(t, e.post(p, "", map[string]any{}), http.StatusUnauthorized)
	}

	// create
	r := e.post("/api/workflows:create", "tok-root", map[string]any{
		"key": "w", "title": "W", "enabled": true, "sync": true,
		"config": map[string]any{"collection": "posts", "appends": []string{"category"}},
		"nodes":  []any{map[string]any{"key": "say", "type": "response-message", "config": map[string]any{"message": "hi {{$context.user.nickname}}"}}},
	})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	wid := r.data()["id"].(string)
	require.NotEmpty(t, wid)
	require.Equal(t, true, r.data()["current"])
	// The same key again: 409. An id: 400. An invalid document: 400.
	requireError(t, e.post("/api/workflows:create", "tok-root", map[string]any{"key": "w", "config": map[string]any{"collection": "posts"}}), http.StatusConflict)
	requireError(t, e.post("/api/workflows:create", "tok-root", map[string]any{"id": "x", "config": map[string]any{"collection": "posts"}}), http.StatusBadRequest)
	requireError(t, e.post("/api/workflows:create", "tok-root", map[string]any{"key": "bad", "config": map[string]any{"collection": "nope"}}), http.StatusBadRequest)
	requireError(t, e.post("/api/workflows:create", "tok-root", map[string]any{"key": "bad2", "config": map[string]any{"collection": "posts"},
		"nodes": []any{map[string]any{"key": "x", "type": "nope"}}}), http.StatusBadRequest)

	// list (with a filter) and get
	r = e.do(http.MethodGet, "/api/workflows:list?filter="+url.QueryEscape(`{"key":"w"}`), "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Len(t, r.body["data"], 1)
	r = e.do(http.MethodGet, "/api/workflows:list", "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Len(t, r.body["data"], 2)
	r = e.do(http.MethodGet, "/api/workflows:get?filterByTk="+wid, "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Equal(t, "W", r.data()["title"])
	requireError(t, e.do(http.MethodGet, "/api/workflows:get?filterByTk=nope", "tok-root", nil), http.StatusNotFound)
	requireError(t, e.do(http.MethodGet, "/api/workflows:get", "tok-root", nil), http.StatusBadRequest)

	// update (not yet run: nodes may change); key and id cannot.
	r = e.post("/api/workflows:update?filterByTk="+wid, "tok-root", map[string]any{"title": "W2", "description": "d"})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Equal(t, "W2", r.data()["title"])
	require.Equal(t, "posts", r.data()["config"].(map[string]any)["collection"], "update lost the other members")
	requireError(t, e.post("/api/workflows:update?filterByTk="+wid, "tok-root", map[string]any{"key": "other"}), http.StatusBadRequest)
	requireError(t, e.post("/api/workflows:update?filterByTk="+wid, "tok-root", map[string]any{"config": map[string]any{"collection": "nope"}}), http.StatusBadRequest)

	// execute: userId is required and must exist.
	p := e.record("posts", flow.Record{"title": "p1"})
	requireError(t, e.post("/api/workflows:execute?filterByTk="+wid, "tok-root", map[string]any{"data": p}), http.StatusBadRequest, "userId")
	requireError(t, e.post("/api/workflows:execute?filterByTk="+wid, "tok-root", map[string]any{"data": p, "userId": 99}), http.StatusBadRequest, "user not found")
	require.Empty(t, e.execs("w"))
	r = e.post("/api/workflows:execute?filterByTk="+wid, "tok-root", map[string]any{"data": p["id"], "userId": 3})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	ex := r.data()["execution"].(map[string]any)
	require.EqualValues(t, flow.ExecutionResolved, ex["status"])
	xs := e.execs("w")
	require.Len(t, xs, 1)
	require.Equal(t, ex["id"], xs[0].ID)
	require.True(t, xs[0].Manually)
	require.Equal(t, "member", xs[0].Context["roleName"])
	require.Equal(t, "p1", dataOf(t, xs[0])["title"])
	require.Contains(t, dataOf(t, xs[0]), "category", "appends not loaded")

	// The version ran: it is frozen.
	requireError(t, e.post("/api/workflows:update?filterByTk="+wid, "tok-root", map[string]any{"nodes": []any{}}), http.StatusBadRequest, "frozen")
	// Title may still change.
	r = e.post("/api/workflows:update?filterByTk="+wid, "tok-root", map[string]any{"title": "W3"})
	require.Equal(t, 200, r.code, "body: %s", r.raw)

	// revision
	r = e.post("/api/workflows:revision?filterByTk="+wid, "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	rev := r.data()
	require.NotEqual(t, wid, rev["id"])
	require.Equal(t, "w", rev["key"])
	require.Equal(t, false, rev["enabled"])

	// executions: list, get with jobs, cancel
	r = e.post("/api/posts:create?triggerWorkflows=appr", "tok-a", map[string]any{"title": "t1"})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	e.waitIdle()
	pending := e.execs("appr")
	require.Len(t, pending, 1)
	r = e.do(http.MethodGet, "/api/executions:list?filter="+url.QueryEscape(`{"key":"appr","status":0}`), "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Len(t, r.body["data"], 1)
	r = e.do(http.MethodGet, "/api/executions:list", "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Len(t, r.body["data"], 2)
	r = e.do(http.MethodGet, "/api/executions:get?appends=jobs&filterByTk="+pending[0].ID, "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Equal(t, pending[0].ID, r.data()["id"])
	jobs := r.data()["jobs"].([]any)
	require.Len(t, jobs, 1)
	require.Equal(t, "m", jobs[0].(map[string]any)["nodeKey"])
	r = e.do(http.MethodGet, "/api/executions:get?filterByTk="+pending[0].ID, "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.NotContains(t, r.data(), "jobs")
	requireError(t, e.do(http.MethodGet, "/api/executions:get?filterByTk=nope", "tok-root", nil), http.StatusNotFound)

	r = e.post("/api/executions:cancel?filterByTk="+pending[0].ID, "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.EqualValues(t, flow.ExecutionAborted, r.data()["status"])
	requireError(t, e.post("/api/executions:cancel?filterByTk="+pending[0].ID, "tok-root", nil), http.StatusBadRequest)
	// Its task was aborted: submitting is a 400.
	r = e.do(http.MethodGet, "/api/workflowManualTasks:listMine", "tok-a", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	task := r.body["data"].([]any)[0].(map[string]any)
	require.EqualValues(t, flow.TaskAborted, task["status"])
	requireError(t, e.post("/api/workflowManualTasks:submit?filterByTk="+task["id"].(string), "tok-a",
		map[string]any{"result": map[string]any{"f1": map[string]any{}, "_": "resolve"}}), http.StatusBadRequest)

	// destroy: every version goes; the key no longer triggers.
	r = e.post("/api/workflows:destroy?filterByTk="+wid, "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	requireError(t, e.do(http.MethodGet, "/api/workflows:get?filterByTk="+wid, "tok-root", nil), http.StatusNotFound)
	requireError(t, e.post("/api/posts:create?triggerWorkflows=w", "tok-a", map[string]any{"title": "t9"}), http.StatusBadRequest)
	requireError(t, e.post("/api/workflows:nope", "tok-root", nil), http.StatusNotFound)
}

// Destroying a version that is not current destroys only that version (as in
// the reference); the live workflow keeps running. A version with paused
// executions is kept until they are canceled. Revisions copy the current
// version only.
func TestAdmin_DestroyAndReviseVersions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	v1 := e.save(manualWF("appr"))
	r := e.post("/api/posts:create?triggerWorkflows=appr", "tok-a", map[string]any{"title": "t1"})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	e.waitIdle()
	paused := e.execs("appr")
	require.Len(t, paused, 1)
	require.Equal(t, flow.ExecutionStarted, paused[0].Status)

	// A draft revision, destroyed: the workflow keeps triggering.
	r = e.post("/api/workflows:revision?filterByTk="+v1.ID, "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	draft := r.data()["id"].(string)
	r = e.post("/api/workflows:destroy?filterByTk="+draft, "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	requireError(t, e.do(http.MethodGet, "/api/workflows:get?filterByTk="+draft, "tok-root", nil), http.StatusNotFound)
	r = e.do(http.MethodGet, "/api/workflows:get?filterByTk="+v1.ID, "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Equal(t, true, r.data()["enabled"])

	// v2 becomes current; v1 still holds a paused execution: kept (409).
	r = e.post("/api/workflows:revision?filterByTk="+v1.ID, "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	v2 := r.data()["id"].(string)
	r = e.post("/api/workflows:update?filterByTk="+v2, "tok-root", map[string]any{"enabled": true})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Equal(t, true, r.data()["current"])
	// Revising the old version (not current) is refused rather than copying v2.
	requireError(t, e.post("/api/workflows:revision?filterByTk="+v1.ID, "tok-root", nil), http.StatusBadRequest, "not the current version")
	// So is executing it: the engine would run v2 instead.
	requireError(t, e.post("/api/workflows:execute?filterByTk="+v1.ID, "tok-root", map[string]any{"data": map[string]any{"id": 1, "title": "t1"}, "userId": 2}), http.StatusBadRequest, "not the current version")
	require.Len(t, e.execs("appr"), 1)
	requireError(t, e.post("/api/workflows:destroy?filterByTk="+v1.ID, "tok-root", nil), http.StatusConflict, "executions:cancel")
	r = e.post("/api/executions:cancel?filterByTk="+paused[0].ID, "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	r = e.post("/api/workflows:destroy?filterByTk="+v1.ID, "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	requireError(t, e.do(http.MethodGet, "/api/workflows:get?filterByTk="+v1.ID, "tok-root", nil), http.StatusNotFound)
	// The finished execution of v1 is kept; the key runs on v2.
	r = e.do(http.MethodGet, "/api/executions:get?filterByTk="+paused[0].ID, "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	r = e.post("/api/posts:create?triggerWorkflows=appr", "tok-a", map[string]any{"title": "t2"})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	e.waitIdle()
	xs := e.execs("appr")
	require.Len(t, xs, 2)
	require.Equal(t, v2, xs[1].WorkflowID)

	// Destroying the current version destroys the key.
	r = e.post("/api/workflows:destroy?filterByTk="+v2, "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	r = e.do(http.MethodGet, "/api/workflows:list?filter="+url.QueryEscape(`{"key":"appr"}`), "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Empty(t, r.body["data"])
}

// Pages far beyond any data are refused, not a crash.
func TestPaging_HugePage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.record("posts", flow.Record{"title": "t1"})
	for _, p := range []string{
		"/api/posts:list?page=9223372036854775807",
		"/api/posts:list?page=4611686018427387905&pageSize=2",
		"/api/executions:list?page=9223372036854775807",
		"/api/workflows:list?page=9223372036854775807",
		"/api/workflowManualTasks:listMine?page=9223372036854775807",
	} {
		requireError(t, e.do(http.MethodGet, p, "tok-root", nil), http.StatusBadRequest, "page")
	}
	r := e.do(http.MethodGet, "/api/posts:list?page=1000", "tok-root", nil)
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Equal(t, "[]", rawMember(t, r, "data"))
}
