package actiontrigger_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
	"github.com/actiontrigger/actiontrigger/storage"
)

// firstVote is a third party's pausing node that owns tasks, as the manual
// node does, through the same interfaces: one task per user of config.users;
// the first vote decides the job (Submitter); aborting the job withdraws the
// tasks still open (Aborter).
type firstVote struct{}

func (firstVote) Compile(c *nodes.CompileContext, node *flow.Node) (any, error) {
	var cfg struct {
		Users []string `json:"users"`
	}
	if err := nodes.DecodeConfig(c, node, &cfg); err != nil {
		return nil, err
	}
	return cfg.Users, nil
}

func (firstVote) CanPause(*flow.Node) bool { return true }

func (firstVote) Run(ctx context.Context, r *nodes.RunContext, _ *flow.Job) (nodes.Result, error) {
	for _, u := range r.Compiled.([]string) {
		t := &flow.Task{ID: "vote-" + r.JobID + "-" + u, JobID: r.JobID, ExecutionID: r.Execution.ID, WorkflowID: r.Workflow.ID,
			WorkflowKey: r.Workflow.Key, NodeKey: r.Node.Key, UserID: u, Title: "vote", Status: flow.TaskPending, CreatedAt: r.Now, UpdatedAt: r.Now}
		if err := r.Tasks.InsertTask(ctx, t); err != nil {
			return nodes.Result{}, err
		}
	}
	return nodes.Pending(nil), nil
}

func (firstVote) Submit(ctx context.Context, s *nodes.SubmitContext) (*nodes.Decision, error) {
	if s.Task.Status != flow.TaskPending {
		return nil, nodes.ErrInvalidSubmission
	}
	yes, _ := s.Submission["yes"].(bool)
	t := s.Task.Clone()
	t.Status, t.Result, t.UpdatedAt = flow.TaskResolved, s.Submission, s.Now
	if err := s.Tasks.UpdateTask(ctx, t, flow.TaskPending); err != nil {
		return nil, err
	}
	j := s.Job.Clone()
	j.Status, j.Result = flow.JobResolved, map[string]any{"yes": yes, "by": s.UserID}
	if !yes {
		j.Status = flow.JobRejected
	}
	return &nodes.Decision{Task: t, Job: j}, nil
}

func (firstVote) Abort(ctx context.Context, a *nodes.AbortContext) error {
	open, err := a.Tasks.ListTasks(ctx, storage.TaskFilter{JobID: a.Job.ID, Statuses: []flow.TaskStatus{flow.TaskPending}})
	for _, t := range open {
		u := t.Clone()
		u.Status = flow.TaskAborted
		if err == nil {
			err = a.Tasks.UpdateTask(ctx, u, flow.TaskPending)
		}
	}
	return err
}

// Submission, resume and abort of a paused job go through the node's
// interfaces, for any node: the engine names no node type.
func TestThirdPartyPausingNode(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started(), withNodes(func(r *nodes.Registry) { r.MustRegister("first-vote", firstVote{}) }))
	save(t, eng, asyncWF("vote", "posts", n("v", "first-vote", map[string]any{"users": []any{"2", "3"}}), n("e", "echo", nil)))

	// A sync workflow with the node is refused: it can pause.
	_, err := eng.SaveWorkflow(ctx, syncWF("sync-vote", "posts", n("v", "first-vote", map[string]any{"users": []any{"2"}})))
	require.ErrorIs(t, err, flow.ErrInvalidWorkflow)

	decided := after(t, eng, createAction("posts", "vote"), flow.Record{"id": 1, "title": "a"}, memberA)
	canceled := after(t, eng, createAction("posts", "vote"), flow.Record{"id": 2, "title": "b"}, memberA)
	waitIdle(t, eng)

	tasks, err := eng.Tasks(ctx, memberA, actiontrigger.TaskFilter{Statuses: []flow.TaskStatus{flow.TaskPending}})
	require.NoError(t, err)
	require.Len(t, tasks, 2, "one open vote per execution for user 2")
	var mine *flow.Task
	for _, tk := range tasks {
		if tk.ExecutionID == decided.Executions[0].ID {
			mine = tk
		}
	}
	require.NotNil(t, mine)
	got, err := eng.SubmitTask(ctx, mine.ID, memberA, map[string]any{"yes": true})
	require.NoError(t, err)
	require.Equal(t, flow.TaskResolved, got.Status)
	waitIdle(t, eng)
	x := execution(t, eng, decided.Executions[0].ID)
	require.Equal(t, flow.ExecutionResolved, x.Status)
	js := jobsOf(t, eng, x.ID)
	require.Equal(t, map[string]any{"yes": true, "by": "2"}, asJSON(t, js[0].Result))
	require.Len(t, js, 2, "the node after the vote ran once")

	// The job is decided: the other voter's task takes no submission.
	others, err := eng.Tasks(ctx, actiontrigger.User{ID: 3}, actiontrigger.TaskFilter{Statuses: []flow.TaskStatus{flow.TaskPending}})
	require.NoError(t, err)
	for _, tk := range others {
		if tk.ExecutionID == decided.Executions[0].ID {
			_, err := eng.SubmitTask(ctx, tk.ID, actiontrigger.User{ID: 3}, map[string]any{"yes": false})
			require.ErrorIs(t, err, actiontrigger.ErrInvalidSubmission)
		}
	}

	// Canceling the other execution withdraws its open votes through Abort.
	require.NoError(t, eng.CancelExecution(ctx, canceled.Executions[0].ID))
	for _, u := range []actiontrigger.User{memberA, {ID: 3}} {
		open, err := eng.Tasks(ctx, u, actiontrigger.TaskFilter{Statuses: []flow.TaskStatus{flow.TaskPending}})
		require.NoError(t, err)
		for _, tk := range open {
			require.NotEqual(t, canceled.Executions[0].ID, tk.ExecutionID, "a canceled execution's vote is still open")
		}
	}
}

// panickyVote panics in Submit and Abort: the submission fails with
// nodes.ErrPanic, and a cancel still aborts the execution.
type panickyVote struct{ firstVote }

func (panickyVote) Submit(context.Context, *nodes.SubmitContext) (*nodes.Decision, error) {
	panic("submit exploded")
}

func (panickyVote) Abort(context.Context, *nodes.AbortContext) error { panic("abort exploded") }

func TestPausingNodePanicsStayContained(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started(), withNodes(func(r *nodes.Registry) { r.MustRegister("panicky-vote", panickyVote{}) }))
	save(t, eng, asyncWF("vote", "posts", n("v", "panicky-vote", map[string]any{"users": []any{"2"}})))
	res := after(t, eng, createAction("posts", "vote"), flow.Record{"id": 1, "title": "a"}, memberA)
	waitIdle(t, eng)
	tasks, err := eng.Tasks(ctx, memberA, actiontrigger.TaskFilter{Statuses: []flow.TaskStatus{flow.TaskPending}})
	require.NoError(t, err)
	require.Len(t, tasks, 1)
	_, err = eng.SubmitTask(ctx, tasks[0].ID, memberA, map[string]any{"yes": true})
	require.ErrorIs(t, err, nodes.ErrPanic)
	require.ErrorContains(t, err, "submit exploded")
	require.Equal(t, flow.TaskPending, pendingTask(t, eng, tasks[0].ID).Status, "the failed submission changed nothing")

	require.NoError(t, eng.CancelExecution(ctx, res.Executions[0].ID))
	require.Equal(t, flow.ExecutionAborted, execution(t, eng, res.Executions[0].ID).Status)
}

func pendingTask(t *testing.T, eng *actiontrigger.Engine, id string) *flow.Task {
	t.Helper()
	tk, err := eng.Store().GetTask(testCtx(t), id)
	require.NoError(t, err)
	return tk
}

// compilePanics panics in Compile: saving a workflow with it is refused with
// a validation error, not a panic in the caller.
type compilePanics struct{ firstVote }

func (compilePanics) Compile(*nodes.CompileContext, *flow.Node) (any, error) {
	panic("compile exploded")
}

func TestCompilePanicRefusesTheSave(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, withNodes(func(r *nodes.Registry) { r.MustRegister("compile-panics", compilePanics{}) }))
	_, err := eng.SaveWorkflow(testCtx(t), asyncWF("bad", "posts", n("x", "compile-panics", nil)))
	require.ErrorIs(t, err, flow.ErrInvalidWorkflow)
	require.ErrorIs(t, err, nodes.ErrPanic)
	require.ErrorContains(t, err, `node "x"`)
	require.ErrorContains(t, err, "compile exploded")
}
