package actiontrigger_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/memory"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore/sqlite"
)

// A host that writes its record and calls AfterActionTx in one transaction:
// rolled back, the queued execution never existed; committed, it runs.
func TestHostTransaction(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	var store *sqlstore.Store
	switch kind := testStoreKind(); kind {
	case "sqlite", "memory":
		s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "host.db"))
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		store = s
	default:
		store = testStore(t).(*sqlstore.Store)
	}
	eng := newEngine(t, withConfig(func(c *actiontrigger.Config) { c.Store = store }))
	save(t, eng, asyncWF("w", "posts", n("c", "create", map[string]any{
		"collection": "comments", "params": map[string]any{"values": map[string]any{"content": "on {{$context.data.title}}"}}})))

	hostWrite := func(title string, commit bool) {
		tx, err := store.DB().BeginTx(ctx, nil)
		require.NoError(t, err)
		rec, err := store.BindTx(tx).CreateRecord(ctx, "posts", flow.Record{"title": title})
		require.NoError(t, err)
		res, err := eng.AfterActionTx(ctx, tx, createAction("posts", "w"), rec, memberA)
		require.NoError(t, err)
		require.Len(t, res.Executions, 1)
		if commit {
			require.NoError(t, tx.Commit())
		} else {
			require.NoError(t, tx.Rollback())
		}
	}
	hostWrite("rolled back", false)
	hostWrite("committed", true)

	// Workers start after the host's transactions: on SQLite a host transaction
	// holds the single write lock while it is open.
	require.NoError(t, eng.Start(ctx))
	t.Cleanup(func() { _ = eng.Stop(context.Background()) })
	eng.Notify()
	waitIdle(t, eng)

	xs := allExecs(t, eng)
	require.Len(t, xs, 1, "the rolled-back action queued nothing")
	require.Equal(t, flow.ExecutionResolved, xs[0].Status)
	require.Equal(t, "committed", dataOf(t, xs[0])["title"])
	posts, err := store.ListRecords(ctx, "posts", nil, nil)
	require.NoError(t, err)
	require.Len(t, posts, 1)
	comments, err := store.ListRecords(ctx, "comments", storage.Filter{"content": "on committed"}, nil)
	require.NoError(t, err)
	require.Len(t, comments, 1)
}

func TestHostTransactionNeedsSQLStore(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, withConfig(func(c *actiontrigger.Config) { c.Store = memory.New() }))
	_, err := eng.AfterActionTx(testCtx(t), nil, createAction("posts", ""), flow.Record{"id": 1}, memberA)
	require.ErrorIs(t, err, actiontrigger.ErrNoSQLStore)
}
