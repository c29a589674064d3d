package actiontrigger

import (
	"context"
	"errors"
	"fmt"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
	"github.com/actiontrigger/actiontrigger/storage"
)

// Errors of the approval API. nodes.ErrForbidden and nodes.ErrInvalidSubmission
// are re-exported so hosts need not import package nodes.
var (
	// ErrForbidden: the user is not the task's assignee (HTTP 403).
	ErrForbidden = nodes.ErrForbidden
	// ErrInvalidSubmission: the task, job or execution is no longer waiting, or
	// the submission is malformed (HTTP 400).
	ErrInvalidSubmission = nodes.ErrInvalidSubmission
	// ErrUnauthenticated: no user (HTTP 401).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrExecutionTimedOut: the task's execution passed its timeout; it has been
	// aborted (HTTP 400 "Execution timed out").
	ErrExecutionTimedOut = errors.New("execution timed out")
)

// TaskFilter selects a user's tasks.
type TaskFilter struct {
	// Statuses to list (none: all).
	Statuses []flow.TaskStatus
	// WorkflowKey restricts to one workflow.
	WorkflowKey string
	// Limit and Offset page the result (oldest first).
	Limit, Offset int
}

// Tasks lists the manual-approval tasks assigned to user.
func (e *Engine) Tasks(ctx context.Context, user User, f TaskFilter) ([]*flow.Task, error) {
	uid := flow.UserKey(user.ID)
	if uid == "" {
		return nil, fmt.Errorf("actiontrigger: tasks: %w", ErrUnauthenticated)
	}
	return e.db(ctx).ListTasks(ctx, storage.TaskFilter{UserID: uid, Statuses: f.Statuses, WorkflowKey: f.WorkflowKey, Limit: f.Limit, Offset: f.Offset})
}

// SubmitTask records user's decision on a task: submission is
// {"<formKey>": {...values}, "_": "<actionKey>"}. The action's status decides:
// resolve (1) and reject (-5) decide the task, save (0) keeps it pending. When
// the task's job leaves PENDING (by the node's mode), the execution is queued to
// resume: resolved, it continues after the node; rejected, it ends REJECTED.
//
// Errors: ErrUnauthenticated without a user, flow.ErrNotFound for an unknown
// task, ErrForbidden when user is not the task's assignee, ErrInvalidSubmission
// when the task, job or execution is no longer waiting or the action is not one
// of the form's, ErrExecutionTimedOut when the execution expired (it is aborted).
// However many submissions race, exactly one decides the job and resumes the
// execution.
func (e *Engine) SubmitTask(ctx context.Context, taskID string, user User, submission map[string]any) (*flow.Task, error) {
	uid := flow.UserKey(user.ID)
	if uid == "" {
		return nil, fmt.Errorf("actiontrigger: submit task: %w", ErrUnauthenticated)
	}
	var (
		dec     *nodes.Decision
		expired bool
	)
	// The task names its job and its workflow version. The plan is loaded
	// before the unit of work begins: while it holds the job locked, the
	// unit of work must not wait for another connection of the pool, which
	// the units of work queued behind the lock may be holding.
	t0, err := e.db(ctx).GetTask(ctx, taskID)
	if err != nil {
		return nil, fmt.Errorf("actiontrigger: submit task %s: %w", taskID, err)
	}
	plan, err := e.planFor(ctx, t0.WorkflowID)
	if err != nil {
		return nil, fmt.Errorf("actiontrigger: submit task %s: %w", taskID, err)
	}
	err = e.db(ctx).InTx(ctx, func(ctx context.Context, tx storage.Store) error {
		// Deciding the job reads its other tasks: lock the job first, so that
		// a concurrent submission on the same job waits for this unit of work
		// and then reads what it committed (else both could see the other's
		// task still pending and leave the job PENDING for good). The task is
		// read again under the lock.
		j, err := tx.LockJob(ctx, t0.JobID)
		if err != nil {
			return fmt.Errorf("job of task %s: %w: %w", taskID, ErrInvalidSubmission, err)
		}
		t, err := tx.GetTask(ctx, taskID)
		if err != nil {
			return fmt.Errorf("task %s: %w", taskID, err)
		}
		x, err := tx.GetExecution(ctx, t.ExecutionID)
		if err != nil {
			return fmt.Errorf("execution of task %s: %w: %w", taskID, ErrInvalidSubmission, err)
		}
		if x.WorkflowID != plan.Workflow.ID {
			return fmt.Errorf("task %s is not of its execution's workflow version: %w", taskID, ErrInvalidSubmission)
		}
		now := e.cfg.Now()
		if x.Status == flow.ExecutionStarted && !x.ExpiresAt.IsZero() && now.After(x.ExpiresAt) {
			expired = true
			return nil
		}
		step, ok := plan.Step(t.NodeKey)
		if !ok {
			return fmt.Errorf("node %q of task %s is gone: %w", t.NodeKey, taskID, ErrInvalidSubmission)
		}
		sub, ok := step.Instruction.(nodes.Submitter)
		if !ok {
			return fmt.Errorf("node %q (%s) takes no submissions: %w", t.NodeKey, step.Node.Type, ErrInvalidSubmission)
		}
		if j.Status != flow.JobPending || x.Status != flow.ExecutionStarted {
			return fmt.Errorf("task %s: its job is %s and its execution %s, no longer waiting: %w", taskID, j.Status, x.Status, ErrInvalidSubmission)
		}
		jobs, err := tx.ListJobs(ctx, x.ID)
		if err != nil {
			return err
		}
		jobsMap := map[string]any{}
		seq := map[string]int{}
		for _, jj := range jobs {
			if jj.Seq >= seq[jj.NodeKey] {
				seq[jj.NodeKey] = jj.Seq
				jobsMap[jj.NodeKey] = jj.Result
			}
		}
		ctx = storage.WithTx(ctx, tx)
		dec, err = submitSafe(ctx, sub, &nodes.SubmitContext{
			Node: step.Node, Compiled: step.Compiled, Workflow: plan.Workflow,
			Task: t, Job: j, Execution: x, Scope: e.exec.Scope(x, jobsMap),
			UserID: uid, User: e.userContext(user), Submission: submission,
			Tasks: tx, Records: e.Records(), Now: now,
		})
		if err != nil {
			return err
		}
		if dec == nil || dec.Job == nil || dec.Job.ID != j.ID {
			return fmt.Errorf("node %q (%s) decided no job for task %s: %w", t.NodeKey, step.Node.Type, taskID, ErrInvalidSubmission)
		}
		if err := tx.UpdateJob(ctx, dec.Job, flow.JobPending); err != nil {
			if errors.Is(err, flow.ErrConflict) {
				return fmt.Errorf("job of task %s was decided meanwhile: %w", taskID, ErrInvalidSubmission)
			}
			return err
		}
		dec.Resume = dec.Job.Status != flow.JobPending
		if dec.Resume {
			ux := x.Clone()
			// Runnable at once; and a worker that claimed the execution
			// for a timer (a deadline) loses its lease, so that it writes
			// nothing over this resume.
			ux.Requeue(j.ID)
			ux.UpdatedAt = now
			return tx.UpdateExecution(ctx, ux, storage.ExecutionExpect{Status: flow.ExecutionStarted})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("actiontrigger: submit task: %w", err)
	}
	if expired {
		t, _ := e.db(ctx).GetTask(ctx, taskID)
		if t != nil {
			if err := e.abort(ctx, t.ExecutionID, flow.ReasonTimeout); err != nil && !errors.Is(err, ErrExecutionEnded) {
				return nil, fmt.Errorf("actiontrigger: submit task: abort expired execution: %w", err)
			}
		}
		return nil, fmt.Errorf("actiontrigger: submit task %s: %w", taskID, ErrExecutionTimedOut)
	}
	if dec.Resume {
		e.notify()
	}
	return dec.Task, nil
}

// submitSafe calls a node's Submit, turning a panic into an error that fails
// the submission (and rolls its unit of work back) instead of the caller.
func submitSafe(ctx context.Context, sub nodes.Submitter, sc *nodes.SubmitContext) (dec *nodes.Decision, err error) {
	defer func() {
		if v := recover(); v != nil {
			dec, err = nil, fmt.Errorf("node %q (%s) panicked deciding a submission: %v: %w", sc.Node.Key, sc.Node.Type, v, nodes.ErrPanic)
		}
	}()
	return sub.Submit(ctx, sc)
}
