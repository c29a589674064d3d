package httptrigger_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/httptrigger"
	"github.com/actiontrigger/actiontrigger/storage"
)

// The routes a create goes through: the API, and the Middleware around a host
// handler that reports its record or only answers {"data": record}.
var createRoutes = []struct{ name, path string }{
	{"api", "/api/posts:create"},
	{"middleware-report", "/host/posts"},
	{"middleware-body", "/host/posts-body"},
}

// saveStatusWorkflows saves the workflows of the status table: "later" (sync)
// and "laterAsync" (async) record that the action went on.
func saveStatusWorkflows(e *env) {
	e.save(syncWF("say", "posts", n("m", "response-message", map[string]any{"message": "hello {{$context.data.title}}"})))
	e.save(syncWF("stop", "posts",
		n("m", "response-message", map[string]any{"message": "stopping"}),
		n("end", "end", map[string]any{"endStatus": 1})))
	e.save(syncWF("reject", "posts",
		n("m", "response-message", map[string]any{"message": "{{$context.data.title}} is over the limit"}),
		n("end", "end", map[string]any{"endStatus": -1})))
	e.save(syncWF("boom", "posts", n("boom", "error", nil)))
	e.save(syncWF("rof", "posts", n("c", "condition", map[string]any{"engine": "expr", "expression": "$context.data.published == true", "rejectOnFalse": true})))
	e.save(syncWF("hang", "posts", n("h", "hang", nil)))
	e.save(syncWF("later", "posts", n("e", "echo", nil)))
	e.save(asyncWF("laterAsync", "posts", n("e", "echo", nil)))
}

// The status table of the package documentation, row by row, through each route.
func TestStatusTable(t *testing.T) {
	t.Parallel()
	type row struct {
		name     string
		trigger  string
		code     int
		messages []string // error messages (errors) or response messages (pass)
		stopKey  string   // the workflow whose execution is checked
		status   flow.ExecutionStatus
		goesOn   bool // later and laterAsync run
	}
	rows := []row{
		{name: "pass-through", trigger: "say,later,laterAsync", code: 200, messages: []string{"hello t1"}, stopKey: "say", status: flow.ExecutionResolved, goesOn: true},
		{name: "end-node-resolved", trigger: "stop,later,laterAsync", code: 200, messages: []string{"stopping"}, stopKey: "stop", status: flow.ExecutionResolved},
		{name: "end-node-rejected", trigger: "say,reject,later,laterAsync", code: 400, messages: []string{"hello t1", "t1 is over the limit"}, stopKey: "reject", status: flow.ExecutionFailed},
		{name: "node-error", trigger: "boom,later,laterAsync", code: 500, messages: []string{httptrigger.MessageFailed}, stopKey: "boom", status: flow.ExecutionError},
		{name: "reject-on-false", trigger: "rof,later,laterAsync", code: 500, messages: []string{httptrigger.MessageFailed}, stopKey: "rof", status: flow.ExecutionFailed},
		// The reference hangs here (REF B.11.10); our engine refuses the
		// pause of a node that cannot pause: a node error.
		{name: "hangs", trigger: "hang,later,laterAsync", code: 500, messages: []string{httptrigger.MessageFailed}, stopKey: "hang", status: flow.ExecutionError},
	}
	for _, rt := range createRoutes {
		for _, c := range rows {
			t.Run(rt.name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				saveStatusWorkflows(e)
				r := e.post(rt.path+"?triggerWorkflows="+c.trigger, "tok-a", map[string]any{"title": "t1", "published": false})
				if c.code == 200 {
					require.Equal(t, 200, r.code, "body: %s", r.raw)
					require.Equal(t, "t1", r.data()["title"], "body: %s", r.raw)
					var got []string
					for _, m := range r.body["messages"].([]any) {
						got = append(got, m.(map[string]any)["message"].(string))
					}
					require.Equal(t, c.messages, got, "body: %s", r.raw)
				} else {
					requireError(t, r, c.code)
					require.Equal(t, c.messages, r.errorMessages(), "body: %s", r.raw)
					require.NotContains(t, r.raw, "definite error", "a node's error must not leak")
				}
				// The record stays written, whatever the workflows decided.
				require.Len(t, e.records("posts", storage.Filter{"title": "t1"}), 1)
				xs := e.execs(c.stopKey)
				require.Len(t, xs, 1)
				require.Equal(t, c.status, xs[0].Status)
				require.True(t, xs[0].Sync)
				require.Equal(t, "t1", dataOf(t, xs[0])["title"])
				e.waitIdle()
				if c.goesOn {
					require.Len(t, e.execs("later"), 1)
					later := e.execs("laterAsync")
					require.Len(t, later, 1)
					require.Equal(t, flow.ExecutionResolved, later[0].Status)
					require.False(t, later[0].Sync)
				} else {
					require.Empty(t, e.execs("later"), "a workflow after the stop ran")
					require.Empty(t, e.execs("laterAsync"), "an async workflow after the stop ran")
				}
				// Nothing else ran: the stopping workflow's execution, and those after it.
				for _, x := range e.allExecs() {
					require.Contains(t, []string{c.stopKey, "say", "later", "laterAsync"}, x.Key)
				}
			})
		}
	}
}

// A sync workflow cannot hold a manual node: saving it fails (so the "hangs"
// row needs a node that does not declare it can pause).
func TestStatusTable_ManualNodeInSyncWorkflowRejected(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.eng.SaveWorkflow(context.Background(), syncWF("m", "posts", n("m", "manual", map[string]any{
		"assignees": []any{2}, "forms": map[string]any{"f1": map[string]any{"type": "custom", "actions": []any{map[string]any{"key": "resolve", "status": 1}}}},
	})))
	require.ErrorIs(t, err, flow.ErrInvalidWorkflow)
}

// A host handler that answers an error itself: the response passes untouched
// and nothing triggers.
func TestMiddleware_HandlerErrorPassesThrough(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	saveStatusWorkflows(e)
	r := e.post("/host/posts-refuse?triggerWorkflows=boom,laterAsync", "tok-a", map[string]any{"title": "t1"})
	require.Equal(t, http.StatusUnprocessableEntity, r.code)
	require.Equal(t, []string{"title is required"}, r.errorMessages())
	e.waitIdle()
	require.Empty(t, e.allExecs())
}

// A sync workflow's execution, pass or fail, runs as the acting user.
func TestStatusTable_ContextUser(t *testing.T) {
	t.Parallel()
	for _, rt := range createRoutes {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			saveStatusWorkflows(e)
			r := e.post(rt.path+"?triggerWorkflows=boom", "tok-b", map[string]any{"title": "t1"}, header("X-Role", "manager"))
			requireError(t, r, 500, httptrigger.MessageFailed)
			xs := e.execs("boom")
			require.Len(t, xs, 1)
			require.Equal(t, "manager", xs[0].Context["roleName"])
			user, _ := xs[0].Context["user"].(map[string]any)
			require.EqualValues(t, 3, num(t, user["id"]))
		})
	}
}
