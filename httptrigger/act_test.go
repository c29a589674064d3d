package httptrigger_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
)

// A request whose sync workflow fails on a write (the create node's record is
// a duplicate) keeps what it kept when every write ran under a savepoint: the
// API runs a request all or nothing first and, when a write fails, runs it
// again with savepoints. The host's record and the failed execution are kept,
// the duplicate is not written, and each runs once.
func TestCreate_SyncWorkflowWriteFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.record("categories", flow.Record{"title": "taken"})
	e.save(syncWF("w", "posts", n("dup", "create", map[string]any{"collection": "categories",
		"params": map[string]any{"values": map[string]any{"id": c["id"], "title": "again"}}})))

	r := e.post("/api/posts:create?triggerWorkflows=w", "tok-a", map[string]any{"title": "p"})
	require.Equal(t, 500, r.code, "body: %s", r.raw)
	require.Len(t, e.records("posts", nil), 1)
	cats := e.records("categories", nil)
	require.Len(t, cats, 1)
	require.Equal(t, "taken", cats[0]["title"])
	xs := e.execs("w")
	require.Len(t, xs, 1)
	require.Equal(t, flow.ExecutionError, xs[0].Status)

	// The next request is served as usual.
	e.save(syncWF("ok", "posts", n("e", "echo", nil)))
	r = e.post("/api/posts:create?triggerWorkflows=ok", "tok-a", map[string]any{"title": "q"})
	require.Equal(t, 200, r.code, "body: %s", r.raw)
	require.Len(t, e.records("posts", nil), 2)
	require.Len(t, e.execs("ok"), 1)
}
