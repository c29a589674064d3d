package actiontrigger_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/memory"
	"github.com/actiontrigger/actiontrigger/storage/storagetest"
)

// Engine.InTx is the host's unit of work on any store, the memory store
// included: what AfterAction queues inside it is kept only when fn succeeds.
func TestEngineInTx(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started())
	save(t, eng, asyncWF("w", "posts"))

	errRollback := errors.New("host rolls back")
	err := eng.InTx(ctx, func(ctx context.Context) error {
		res, err := eng.AfterAction(ctx, createAction("posts", "w"), flow.Record{"id": 1, "title": "rolled back"}, memberA)
		require.NoError(t, err)
		require.Len(t, res.Executions, 1)
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)

	require.NoError(t, eng.InTx(ctx, func(ctx context.Context) error {
		// Nested units of work join the outer one.
		return eng.InTx(ctx, func(ctx context.Context) error {
			_, err := eng.AfterAction(ctx, createAction("posts", "w"), flow.Record{"id": 2, "title": "committed"}, memberA)
			return err
		})
	}))
	waitIdle(t, eng)
	xs := allExecs(t, eng)
	require.Len(t, xs, 1, "the rolled-back unit of work queued nothing")
	require.Equal(t, "committed", dataOf(t, xs[0])["title"])
	require.Equal(t, flow.ExecutionResolved, xs[0].Status)
}

// A store without the capability to join a *sql.Tx says so with ErrNoHostTx.
func TestWithSQLTxNeedsCapability(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, withConfig(func(c *actiontrigger.Config) { c.Store = memory.New() }))
	_, err := eng.WithSQLTx(testCtx(t), nil)
	require.ErrorIs(t, err, actiontrigger.ErrNoHostTx)
	_, err = eng.AfterActionTx(testCtx(t), nil, createAction("posts", ""), flow.Record{"id": 1}, memberA)
	require.ErrorIs(t, err, actiontrigger.ErrNoHostTx)
}

// failingStore fails InsertExecution with a database error, in and outside
// units of work.
type failingStore struct{ storagetest.RecordsStore }

var errDisk = errors.New("disk I/O error")

func (s failingStore) InTx(ctx context.Context, fn func(ctx context.Context, tx storage.Store) error) error {
	return s.RecordsStore.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
		return fn(ctx, failingStore{tx.(storagetest.RecordsStore)})
	})
}

func (s failingStore) InsertExecution(context.Context, *flow.Execution) error {
	return errors.Join(flow.ErrStorage, errDisk)
}

// A storage failure during AfterAction is ErrStore with its cause, never a
// SyncError: a database outage must not read as a workflow that failed.
func TestAfterActionStoreFailureIsNotSyncError(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	for _, sync := range []bool{true, false} {
		eng := newEngine(t, withConfig(func(c *actiontrigger.Config) { c.Store = failingStore{memory.New()} }))
		wf := asyncWF("w", "posts")
		if sync {
			wf = syncWF("w", "posts", n("c", "condition", map[string]any{"engine": "expr", "expression": "true"}))
		}
		save(t, eng, wf)
		_, err := eng.AfterAction(ctx, createAction("posts", "w"), flow.Record{"id": 1}, memberA)
		require.ErrorIs(t, err, actiontrigger.ErrStore, "sync=%v", sync)
		require.ErrorIs(t, err, flow.ErrStorage)
		require.ErrorIs(t, err, errDisk)
		require.NotErrorIs(t, err, actiontrigger.ErrSync, "sync=%v", sync)
		var se *actiontrigger.SyncError
		require.False(t, errors.As(err, &se))
	}
}

// A typo in the action's name with workflows named is an error, not a
// silent no-op; the reference's other actions still trigger nothing.
func TestUnknownActionName(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	for _, policy := range []actiontrigger.BindingPolicy{actiontrigger.Strict, actiontrigger.Lenient} {
		eng := newEngine(t, withConfig(func(c *actiontrigger.Config) { c.BindingPolicy = policy }))
		save(t, eng, asyncWF("w", "posts"))
		for _, name := range []string{"Create", "", "crate", " update"} {
			a := actiontrigger.Action{Collection: "posts", Name: name, TriggerWorkflows: "w"}
			_, err := eng.AfterAction(ctx, a, flow.Record{"id": 1}, memberA)
			require.ErrorIs(t, err, actiontrigger.ErrUnknownAction, "%q", name)
			require.ErrorIs(t, eng.CheckBinding(a), actiontrigger.ErrUnknownAction, "%q", name)
		}
		_, err := eng.AfterAction(ctx, actiontrigger.Action{Collection: "posts", Name: "Create"}, flow.Record{"id": 1}, memberA)
		require.NoError(t, err, "nothing named: nothing to refuse")
		_, err = eng.AfterAction(ctx, actiontrigger.Action{Collection: "posts", Name: "destroy", TriggerWorkflows: "w"}, flow.Record{"id": 1}, memberA)
		require.NoError(t, err)
		require.Empty(t, allExecs(t, eng))
	}
}

// New refuses a belongsToMany through a collection that is not declared,
// instead of failing inside AfterAction.
func TestNewRefusesUndeclaredThrough(t *testing.T) {
	t.Parallel()
	_, err := actiontrigger.New(testCtx(t), actiontrigger.Config{Store: memory.New(), Collections: []flow.Collection{
		{Name: "posts", Fields: []flow.Field{{Name: "id", Type: flow.FieldInteger},
			{Name: "tags", Type: flow.FieldBelongsToMany, Target: "tags", Through: "posts_tags", ForeignKey: "postId", OtherKey: "tagId"}}},
		{Name: "tags", Fields: []flow.Field{{Name: "id", Type: flow.FieldInteger}}},
	}})
	require.ErrorIs(t, err, flow.ErrUnknownCollection)
	require.ErrorContains(t, err, "posts_tags")
}
