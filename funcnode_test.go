package actiontrigger_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
)

type tagConfig struct {
	Tag string `json:"tag"`
}

func (c tagConfig) Validate() error {
	if c.Tag == "" {
		return errors.New("tag is required")
	}
	return nil
}

func withTagNode() engineOpt {
	return withNodes(func(r *nodes.Registry) {
		r.MustRegister("tag", &nodes.Func[tagConfig]{
			InTx: true,
			Do: func(ctx context.Context, r *nodes.FuncRun[tagConfig]) (nodes.Result, error) {
				amount, _ := r.Data().Float("amount")
				return nodes.Result{Status: flow.JobResolved, Result: map[string]any{
					"tag": r.Config.Tag, "title": strings.ToUpper(r.Data().String("title")), "amount": amount,
					"user": r.User().String("nickname"),
				}}, nil
			},
		})
	})
}

// A function node is a few lines: its config decodes into a struct checked
// when the workflow is saved, and the event reads without map digging.
func TestFuncNode(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, withTagNode())
	save(t, eng, syncWF("w", "posts", n("t", "tag", map[string]any{"tag": "urgent"})))
	res := after(t, eng, createAction("posts", "w"), flow.Record{"id": 1, "title": "hello", "amount": 3}, memberA)
	require.Len(t, res.Executions, 1)
	require.Equal(t, flow.ExecutionResolved, res.Executions[0].Status)
	js := jobsOf(t, eng, res.Executions[0].ID)
	require.Equal(t, map[string]any{"tag": "urgent", "title": "HELLO", "amount": 3.0, "user": "a"}, asJSON(t, js[0].Result))

	// Bad configs are refused at save, naming the node.
	for _, cfg := range []map[string]any{{"tag": ""}, {"tag": "x", "colour": "red"}, {"tag": 3}} {
		_, err := eng.SaveWorkflow(testCtx(t), syncWF("bad", "posts", n("t", "tag", cfg)))
		require.ErrorIs(t, err, flow.ErrInvalidWorkflow, "%v", cfg)
		require.ErrorContains(t, err, `node "t"`)
	}
}

func TestFields(t *testing.T) {
	t.Parallel()
	f := nodes.Fields{"title": "t", "n": int64(3), "x": 2.5, "category": map[string]any{"title": "travel", "id": 7}}
	require.Equal(t, "t", f.String("title"))
	require.Equal(t, "travel", f.String("category.title"))
	require.Equal(t, "", f.String("category.nope"))
	require.Equal(t, "", f.String("n"))
	n, ok := f.Int("category.id")
	require.True(t, ok)
	require.Equal(t, int64(7), n)
	_, ok = f.Int("x")
	require.False(t, ok)
	x, ok := f.Float("x")
	require.True(t, ok)
	require.Equal(t, 2.5, x)
	require.Equal(t, "travel", f.Record("category").String("title"))
	require.Nil(t, f.Record("title"))
	_, ok = f.Get("title.deeper")
	require.False(t, ok)
}

// Whether a workflow runs in one unit of work is on the saved version, so
// adding one non-atomic custom node is visible, not a silent change.
func TestWorkflowAtomicIsVisible(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, withSleepNode(), withTagNode())
	all := save(t, eng, syncWF("all", "posts", n("c", "condition", map[string]any{"engine": "expr", "expression": "true"}), n("t", "tag", map[string]any{"tag": "x"})))
	require.True(t, all.Atomic)
	mixed := save(t, eng, syncWF("mixed", "posts", n("c", "condition", map[string]any{"engine": "expr", "expression": "true"}), n("s", "sleep", map[string]any{"ms": 1})))
	require.False(t, mixed.Atomic)

	got, err := eng.Workflow(ctx, "mixed")
	require.NoError(t, err)
	require.False(t, got.Atomic)
	got, err = eng.WorkflowVersion(ctx, all.ID)
	require.NoError(t, err)
	require.True(t, got.Atomic)
	list, err := eng.Workflows(ctx, storageFilterKey("all"))
	require.NoError(t, err)
	require.True(t, list[0].Atomic)
}
