package storagetest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

func testWorkflows(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Run("InsertGet", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		w := newWorkflow("k1", 1)
		w.Executed, w.AllExecuted = 7, 9 // ignored: counters start at 0
		require.NoError(t, s.InsertWorkflow(ctx, w))

		got, err := s.GetWorkflow(ctx, w.ID)
		require.NoError(t, err)
		requireWorkflow(t, w, got, false)
		require.Zero(t, got.Executed)
		require.Zero(t, got.AllExecuted)
	})

	t.Run("GetMissing", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		_, err := s.GetWorkflow(ctx, newID())
		requireErrorIs(t, err, flow.ErrNotFound)
	})

	t.Run("DuplicateID", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		w := newWorkflow("k1", 1)
		mustInsertWorkflow(t, s, w)
		again := newWorkflow("k2", 2)
		again.ID = w.ID
		requireErrorIs(t, s.InsertWorkflow(ctx, again), flow.ErrDuplicate)
		got, err := s.GetWorkflow(ctx, w.ID)
		require.NoError(t, err)
		require.Equal(t, "k1", got.Key)
	})

	t.Run("OneCurrentVersionPerKey", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		v1 := newWorkflow("k", 1)
		mustInsertWorkflow(t, s, v1)

		v2 := newWorkflow("k", 2)
		v2.Version = 2
		requireErrorIs(t, s.InsertWorkflow(ctx, v2), flow.ErrDuplicate, "insert a second current version")
		_, err := s.GetWorkflow(ctx, v2.ID)
		requireErrorIs(t, err, flow.ErrNotFound, "the rejected version was stored")

		v2.Current = false
		require.NoError(t, s.InsertWorkflow(ctx, v2))
		// Another key may have its own current version.
		mustInsertWorkflow(t, s, newWorkflow("other", 3))

		v2.Current = true
		requireErrorIs(t, s.UpdateWorkflow(ctx, v2), flow.ErrDuplicate, "update into a second current version")

		v1.Current = false
		require.NoError(t, s.UpdateWorkflow(ctx, v1))
		require.NoError(t, s.UpdateWorkflow(ctx, v2))
		// Updating the current version itself is not a conflict.
		v2.Title = "renamed"
		require.NoError(t, s.UpdateWorkflow(ctx, v2))

		cur := true
		ws, err := s.ListWorkflows(ctx, storage.WorkflowFilter{Key: "k", Current: &cur})
		require.NoError(t, err)
		require.Equal(t, []string{v2.ID}, workflowIDs(ws))
	})

	t.Run("Update", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		w := newWorkflow("k1", 1)
		mustInsertWorkflow(t, s, w)
		mustInsertExecution(t, s, newExecution(w, 2))

		w.Title = "new title"
		w.Enabled = false
		w.Options.Timeout = 5
		w.Nodes = append(w.Nodes, flow.Node{Key: "end2", Type: "end"})
		w.UpdatedAt = at(10)
		w.Executed, w.AllExecuted = 0, 100 // ignored: the store keeps its counters
		require.NoError(t, s.UpdateWorkflow(ctx, w))

		got, err := s.GetWorkflow(ctx, w.ID)
		require.NoError(t, err)
		requireWorkflow(t, w, got, false)
		require.EqualValues(t, 1, got.Executed)
		require.EqualValues(t, 1, got.AllExecuted)

		missing := newWorkflow("k2", 3)
		requireErrorIs(t, s.UpdateWorkflow(ctx, missing), flow.ErrNotFound)
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		w := newWorkflow("k1", 1)
		keep := newWorkflow("k2", 2)
		mustInsertWorkflow(t, s, w)
		mustInsertWorkflow(t, s, keep)

		require.NoError(t, s.DeleteWorkflow(ctx, w.ID))
		_, err := s.GetWorkflow(ctx, w.ID)
		requireErrorIs(t, err, flow.ErrNotFound)
		requireErrorIs(t, s.DeleteWorkflow(ctx, w.ID), flow.ErrNotFound)

		ws, err := s.ListWorkflows(ctx, storage.WorkflowFilter{})
		require.NoError(t, err)
		require.Equal(t, []string{keep.ID}, workflowIDs(ws))
		// The key may have a current version again.
		mustInsertWorkflow(t, s, newWorkflow("k1", 3))

		// A version deleted and inserted again counts from 0.
		mustInsertExecution(t, s, newExecution(keep, 4))
		require.NoError(t, s.DeleteWorkflow(ctx, keep.ID))
		keep.Current = false
		mustInsertWorkflow(t, s, keep)
		got, err := s.GetWorkflow(ctx, keep.ID)
		require.NoError(t, err)
		require.Zero(t, got.Executed, "the counter of a deleted version came back")
	})

	t.Run("List", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		a1 := newWorkflow("a", 1) // old version: not current, disabled
		a1.Current, a1.Enabled = false, false
		a2 := newWorkflow("a", 2)
		a2.Version = 2
		b := newWorkflow("b", 3)
		b.Enabled = false
		c := newWorkflow("c", 4)
		c.Type = "schedule"
		for _, w := range []*flow.Workflow{a1, a2, b, c} {
			mustInsertWorkflow(t, s, w)
		}
		yes, no := true, false
		for _, tc := range []struct {
			name string
			f    storage.WorkflowFilter
			want []string
		}{
			{"all", storage.WorkflowFilter{}, []string{a1.ID, a2.ID, b.ID, c.ID}},
			{"key", storage.WorkflowFilter{Key: "a"}, []string{a1.ID, a2.ID}},
			{"enabled", storage.WorkflowFilter{Enabled: &yes}, []string{a2.ID, c.ID}},
			{"disabled", storage.WorkflowFilter{Enabled: &no}, []string{a1.ID, b.ID}},
			{"current", storage.WorkflowFilter{Current: &yes}, []string{a2.ID, b.ID, c.ID}},
			{"not current", storage.WorkflowFilter{Current: &no}, []string{a1.ID}},
			{"type", storage.WorkflowFilter{Type: "schedule"}, []string{c.ID}},
			{"key and enabled", storage.WorkflowFilter{Key: "a", Enabled: &yes}, []string{a2.ID}},
			{"no match", storage.WorkflowFilter{Key: "zzz"}, []string{}},
		} {
			ws, err := s.ListWorkflows(ctx, tc.f)
			require.NoError(t, err, tc.name)
			require.Equal(t, tc.want, workflowIDs(ws), tc.name)
		}
		ws, err := s.ListWorkflows(ctx, storage.WorkflowFilter{Key: "a"})
		require.NoError(t, err)
		requireWorkflow(t, a1, ws[0], false)
		requireWorkflow(t, a2, ws[1], false)

		// Pages, in creation order, and counts (of stores that count: a
		// wrapper such as StateOnly may hide it), which ignore Limit and Offset.
		wc, counts := s.(storage.WorkflowCounter)
		for _, tc := range []struct {
			name  string
			f     storage.WorkflowFilter
			want  []string
			count int
		}{
			{"first page", storage.WorkflowFilter{Limit: 2}, []string{a1.ID, a2.ID}, 4},
			{"second page", storage.WorkflowFilter{Limit: 2, Offset: 2}, []string{b.ID, c.ID}, 4},
			{"offset only", storage.WorkflowFilter{Offset: 3}, []string{c.ID}, 4},
			{"beyond the end", storage.WorkflowFilter{Limit: 2, Offset: 4}, []string{}, 4},
			{"filtered page", storage.WorkflowFilter{Current: &yes, Limit: 1, Offset: 1}, []string{b.ID}, 3},
			{"no match", storage.WorkflowFilter{Key: "zzz", Limit: 1}, []string{}, 0},
		} {
			ws, err := s.ListWorkflows(ctx, tc.f)
			require.NoError(t, err, tc.name)
			require.Equal(t, tc.want, workflowIDs(ws), tc.name)
			if counts {
				n, err := wc.CountWorkflows(ctx, tc.f)
				require.NoError(t, err, tc.name)
				require.Equal(t, tc.count, n, tc.name)
			}
		}
	})

	t.Run("Copies", func(t *testing.T) {
		t.Parallel()
		s, ctx := newStore(t), t.Context()
		w := newWorkflow("k1", 1)
		want := w.Clone()
		mustInsertWorkflow(t, s, w)

		// Mutating the inserted object does not reach the store.
		w.Title = "changed"
		w.Config.Actions[0] = "changed"
		w.Nodes[0].Config["engine"] = "changed"
		w.Nodes[0].Branches[1][0].Key = "changed"

		got, err := s.GetWorkflow(ctx, want.ID)
		require.NoError(t, err)
		requireWorkflow(t, want, got, false)

		// Nor does mutating a returned one.
		got.Title = "changed"
		got.Config.Actions[0] = "changed"
		got.Options.DeleteExecutionOnStatus[0] = flow.ExecutionError
		got.Nodes[0].Config["engine"] = "changed"
		got.Nodes[0].Branches[1][0].Key = "changed"
		ws, err := s.ListWorkflows(ctx, storage.WorkflowFilter{})
		require.NoError(t, err)
		require.Len(t, ws, 1)
		requireWorkflow(t, want, ws[0], false)
		ws[0].Nodes[0].Config["engine"] = "changed"

		again, err := s.GetWorkflow(ctx, want.ID)
		require.NoError(t, err)
		requireWorkflow(t, want, again, false)
	})
}
