package actiontrigger_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/expression"
	"github.com/actiontrigger/actiontrigger/flow"
)

// syncFailure runs the sync workflow key on the create of a post with a
// 2,000-character title and returns the failed execution's only job, after
// checking that the action failed fast with a SyncError of kind failed and
// that the execution ended ERROR.
func syncFailure(t *testing.T, eng *actiontrigger.Engine, key string) *flow.Job {
	t.Helper()
	ctx := testCtx(t)
	rec := record(t, eng, "posts", flow.Record{"title": strings.Repeat("t", 2000)})
	start := time.Now()
	_, err := eng.AfterAction(ctx, createAction("posts", key), rec, memberA)
	elapsed := time.Since(start)
	require.Error(t, err)
	require.Less(t, elapsed, 2*time.Second, "the bound stops the run early")
	var se *actiontrigger.SyncError
	require.True(t, errors.As(err, &se), "got %v", err)
	require.Equal(t, actiontrigger.SyncFailed, se.Kind)
	require.Equal(t, key, se.Workflow)
	require.NotNil(t, se.Execution)

	x := execution(t, eng, se.Execution.ID)
	require.Equal(t, flow.ExecutionError, x.Status)
	jobs := jobsOf(t, eng, x.ID)
	require.Len(t, jobs, 1)
	require.Equal(t, flow.JobError, jobs[0].Status)
	return jobs[0]
}

// The memory bomb of issue 10: a sync condition that doubles a string 32
// times (4 GiB) is an ERROR job naming the exceeded bound, not a dead host.
func TestBudget_ExpressionBombIsAnErrorJob(t *testing.T) {
	t.Parallel()
	eng := newEngine(t)
	save(t, eng, syncWF("bomb", "posts",
		n("c", "condition", map[string]any{"engine": "expr", "expression": `len(reduce(1..32, #acc + #acc, "x")) > 0`}),
		n("after", "echo", nil)))

	job := syncFailure(t, eng, "bomb")
	require.Equal(t, "c", job.NodeKey)
	msg := fmt.Sprint(job.Result)
	require.Contains(t, msg, "budget exceeded")
	require.Contains(t, msg, "exceeds MaxStringBytes (1048576)")

	// The engine goes on: a harmless sync workflow on the same action runs.
	save(t, eng, syncWF("fine", "posts",
		n("c", "condition", map[string]any{"engine": "expr", "expression": `len(reduce(1..10, #acc + #acc, "x")) > 0`})))
	res := after(t, eng, createAction("posts", "fine"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	require.Len(t, res.Executions, 1)
	require.Equal(t, flow.ExecutionResolved, res.Executions[0].Status)
}

// A template whose rendered text passes MaxRenderBytes fails its node.
func TestBudget_TemplateRenderIsAnErrorJob(t *testing.T) {
	t.Parallel()
	eng := newEngine(t)
	// 600 placeholders over a 2,000-character title: 1.2 MB per run.
	save(t, eng, syncWF("wide", "posts",
		n("c", "create", map[string]any{"collection": "comments", "params": map[string]any{"values": map[string]any{
			"content": strings.Repeat("{{$context.data.title}}", 600)}}})))

	job := syncFailure(t, eng, "wide")
	require.Equal(t, "c", job.NodeKey)
	msg := fmt.Sprint(job.Result)
	require.Contains(t, msg, "budget exceeded")
	require.Contains(t, msg, "exceeds MaxRenderBytes (1048576)")
	comments, err := eng.Records().ListRecords(testCtx(t), "comments", nil, nil)
	require.NoError(t, err)
	require.Empty(t, comments, "nothing was created")
}

// A template with more placeholders than MaxTemplatePlaceholders is known to
// be too big when it is saved: SaveWorkflow refuses it.
func TestBudget_TemplatePlaceholdersRefusedAtSave(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t)
	many := strings.Repeat("{{$context.data.title}}", 40_000)
	for name, node := range map[string]flow.Node{
		"create values": n("c", "create", map[string]any{"collection": "comments", "params": map[string]any{"values": map[string]any{
			"content": many}}}),
		"response message": n("c", "response-message", map[string]any{"message": many}),
		"calculation": n("c", "condition", map[string]any{"calculation": map[string]any{
			"calculator": "equal", "operands": []any{many, "x"}}}),
	} {
		got, err := eng.SaveWorkflow(ctx, syncWF("many", "posts", node))
		require.Nil(t, got, name)
		require.ErrorIs(t, err, flow.ErrInvalidWorkflow, name)
		require.ErrorIs(t, err, expression.ErrBudget, name)
		require.ErrorIs(t, err, expression.ErrTemplate, name)
		require.Contains(t, err.Error(), "a template with 40000 placeholders exceeds MaxTemplatePlaceholders (1000)", name)
		_, err = eng.Workflow(ctx, "many")
		require.ErrorIs(t, err, flow.ErrNotFound, "%s: nothing stored", name)
	}
}

// The manual node renders its title within the same bound: past it, its job
// is ERROR instead of a task with an empty title.
func TestBudget_ManualTitleIsAnErrorJob(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started())
	save(t, eng, asyncWF("wide-title", "posts",
		n("m", "manual", map[string]any{"assignees": []any{2}, "title": strings.Repeat("{{$context.data.title}}", 600),
			"forms": map[string]any{"f": map[string]any{"type": "custom", "actions": []any{map[string]any{"key": "ok", "status": 1}}}}})))
	res := after(t, eng, createAction("posts", "wide-title"), flow.Record{"id": 1, "title": strings.Repeat("x", 2000)}, memberA)
	waitIdle(t, eng)
	x := execution(t, eng, res.Executions[0].ID)
	require.Equal(t, flow.ExecutionError, x.Status)
	js := jobsOf(t, eng, x.ID)
	require.Contains(t, fmt.Sprint(js[len(js)-1].Result), "exceeds MaxRenderBytes")
	tasks, err := eng.Tasks(ctx, memberA, actiontrigger.TaskFilter{})
	require.NoError(t, err)
	require.Empty(t, tasks, "no task with an empty title")
}
