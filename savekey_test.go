package actiontrigger_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
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
