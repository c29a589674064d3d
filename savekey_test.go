package actiontrigger_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
)

// Processes sharing one database that save the same new workflow key at once
// leave one version, not one each (storage.KeyLocker on PostgreSQL; SQLite
// and memory serialise their writers).
func TestSaveWorkflowSameKeyFromSeveralEngines(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	store := testStore(t)
	var engines []*actiontrigger.Engine
	for range 4 {
		engines = append(engines, newEngine(t, withConfig(func(c *actiontrigger.Config) { c.Store = store })))
	}
	for round := range 5 {
		key := "shared-" + string(rune('a'+round))
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = engines[i%len(engines)].SaveWorkflow(ctx, asyncWF(key, "posts"))
			}()
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "save %d of %s", i, key)
		}
		versions, err := store.ListWorkflows(ctx, storageFilterKey(key))
		require.NoError(t, err)
		require.Len(t, versions, 1, "%s: one version, not one per saving process", key)
		require.True(t, versions[0].Current)
		require.True(t, versions[0].Enabled)
	}
}

// EnsureWorkflow is the "declare workflows in code, save them at every start"
// recipe: unchanged is a no-op, changed updates the version, and a version
// that has run gets an enabled revision instead of ErrFrozen.
func TestEnsureWorkflow(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t)
	wf := syncWF("declared", "posts", n("c", "condition", map[string]any{"engine": "expr", "expression": "true"}))
	v1, err := eng.EnsureWorkflow(ctx, wf)
	require.NoError(t, err)
	again, err := eng.EnsureWorkflow(ctx, wf)
	require.NoError(t, err)
	require.Equal(t, v1.ID, again.ID, "unchanged: no new version")

	wf.Title = "renamed"
	upd, err := eng.EnsureWorkflow(ctx, wf)
	require.NoError(t, err)
	require.Equal(t, v1.ID, upd.ID, "a version that has not run is updated in place")
	require.Equal(t, "renamed", upd.Title)

	after(t, eng, createAction("posts", "declared"), flow.Record{"id": 1}, memberA) // the version runs: frozen
	wf.Nodes[0].Config = map[string]any{"engine": "expr", "expression": "1 == 1"}
	rev, err := eng.EnsureWorkflow(ctx, wf)
	require.NoError(t, err)
	require.NotEqual(t, v1.ID, rev.ID, "a frozen version gets a revision")
	require.True(t, rev.Current)
	require.True(t, rev.Enabled)
	versions, err := eng.Workflows(ctx, storageFilterKey("declared"))
	require.NoError(t, err)
	require.Len(t, versions, 2)
	res := after(t, eng, createAction("posts", "declared"), flow.Record{"id": 2}, memberA)
	require.Equal(t, rev.ID, res.Executions[0].WorkflowID, "the revision runs")

	_, err = eng.EnsureWorkflow(ctx, flow.Workflow{})
	require.ErrorIs(t, err, flow.ErrInvalidWorkflow)
}
