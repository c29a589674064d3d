package actiontrigger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/actiontrigger/actiontrigger/executor"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// Retryable reports whether Engine.Retry accepts an execution in status st
// ended with reason: ERROR (a node's error, a quarantine), and ABORTED by its
// timeout.
func Retryable(st flow.ExecutionStatus, reason string) bool {
	return st == flow.ExecutionError || (st == flow.ExecutionAborted && reason == flow.ReasonTimeout)
}

// Retry continues an execution that ended by a fault (ERROR, or ABORTED by
// its timeout) from the node that failed: that node runs again, on the
// workflow version the execution is pinned to, after the jobs before it,
// which are kept. It runs on the workers (async), whatever the workflow's
// mode, and gets a new timeout if the workflow has one. A fix published in a
// new revision of the workflow does not apply: start a new execution for it.
//
// The node's job keeps its attempts (flow.Job.Attempts; the last is marked
// Retried) and its idempotency key (nodes.RunContext.IdempotencyKey), and its
// retry policy counts its attempts anew. The execution's claim count
// (Config.MaxClaims) starts again from zero.
//
// Errors: flow.ErrNotFound for an unknown (or deleted) execution;
// ErrNotRetryable for one still running or ended by a decision (RESOLVED,
// FAILED, REJECTED, CANCELED, ABORTED by a cancel).
func (e *Engine) Retry(ctx context.Context, executionID string) (*flow.Execution, error) {
	x, err := e.retry(ctx, executionID)
	if err != nil {
		return nil, fmt.Errorf("actiontrigger: retry %s: %w", executionID, err)
	}
	e.notify()
	return x, nil
}

func (e *Engine) retry(ctx context.Context, id string) (*flow.Execution, error) {
	x0, err := e.db(ctx).GetExecution(ctx, id)
	if err != nil {
		return nil, err
	}
	plan, err := e.planFor(ctx, x0.WorkflowID) // loaded before the unit of work
	if err != nil {
		return nil, fmt.Errorf("its workflow version %s: %w", x0.WorkflowID, err)
	}
	var out *flow.Execution
	err = e.db(ctx).InTx(ctx, func(ctx context.Context, tx storage.Store) error {
		x, err := tx.GetExecution(ctx, id)
		if err != nil {
			return err
		}
		if !Retryable(x.Status, x.Reason) {
			return fmt.Errorf("it is %s%s: %w", x.Status, reasonSuffix(x.Reason), ErrNotRetryable)
		}
		jobs, err := tx.ListJobs(ctx, id)
		if err != nil {
			return err
		}
		now := e.cfg.Now()
		u := x.Clone()
		u.Status, u.Reason, u.EndedAt, u.UpdatedAt = flow.ExecutionStarted, "", time.Time{}, now
		u.Requeue("")
		u.Attempt = 0
		u.ExpiresAt = time.Time{}
		if t := plan.Workflow.Options.Timeout; t > 0 {
			u.ExpiresAt = now.Add(time.Duration(t) * time.Millisecond)
		}
		if u.StartedAt.IsZero() {
			u.StartedAt = now
		}
		// The failed node is the last job, when it ended ERROR or ABORTED
		// (a quarantined run may have failed between nodes: then the
		// execution goes on after its last job, as a recovery does).
		if n := len(jobs); n > 0 {
			last := jobs[n-1]
			if last.Status == flow.JobError || last.Status == flow.JobAborted {
				j := last.Clone()
				j.Attempts = slices.Clone(j.Attempts)
				// A node with a retry policy listed its last attempt when it
				// ended ERROR; any other failed job lists it now.
				step, _ := plan.Step(j.NodeKey)
				if k := len(j.Attempts); k > 0 && j.Status == flow.JobError && step != nil && step.RetryPolicy() != nil {
					j.Attempts[k-1].Retried = true
				} else {
					j.Attempts = append(j.Attempts, flow.Attempt{N: k + 1, Error: executor.JobError(j), At: j.UpdatedAt, Retried: true})
				}
				j.Status, j.UpdatedAt = flow.JobRetryNeeded, now
				if err := tx.UpdateJob(ctx, j, last.Status); err != nil {
					return err
				}
				u.ResumeJobID = j.ID
			}
		}
		if err := tx.UpdateExecution(ctx, u, storage.ExecutionExpect{Status: x.Status}); err != nil {
			if errors.Is(err, flow.ErrConflict) {
				return fmt.Errorf("it changed meanwhile: %w", ErrNotRetryable)
			}
			return err
		}
		out = u
		return nil
	})
	return out, err
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return " (" + r + ")"
}

// RetryFilter selects the executions RetryExecutions continues.
type RetryFilter struct {
	// WorkflowKey, required, names the workflow.
	WorkflowKey string
	// Status is ERROR (the default) or ABORTED (by timeout).
	Status flow.ExecutionStatus
	// Limit caps how many are retried (0: all).
	Limit int
}

// RetryExecutions retries (Engine.Retry) every execution of a workflow that
// ended in f.Status, oldest first, and returns how many it requeued.
// Executions that changed meanwhile are skipped; another error stops it,
// returned with the count so far.
func (e *Engine) RetryExecutions(ctx context.Context, f RetryFilter) (int, error) {
	if f.WorkflowKey == "" {
		return 0, fmt.Errorf("actiontrigger: retry executions: a workflow key is required: %w", ErrNotRetryable)
	}
	st := f.Status
	if st == 0 {
		st = flow.ExecutionError
	}
	if st != flow.ExecutionError && st != flow.ExecutionAborted {
		return 0, fmt.Errorf("actiontrigger: retry executions: status %s: %w", st, ErrNotRetryable)
	}
	const page = 500
	n := 0
	after := 0
	for {
		list, err := e.db(ctx).ListExecutions(ctx, storage.ExecutionFilter{Key: f.WorkflowKey, Statuses: []flow.ExecutionStatus{st}, Limit: page, Offset: after})
		if err != nil {
			return n, fmt.Errorf("actiontrigger: retry executions: %w", err)
		}
		for _, x := range list {
			if !Retryable(x.Status, x.Reason) {
				after++ // stays in the listing (ABORTED by a cancel)
				continue
			}
			if _, err := e.retry(ctx, x.ID); err != nil {
				if errors.Is(err, ErrNotRetryable) || errors.Is(err, flow.ErrNotFound) {
					after++
					continue
				}
				return n, fmt.Errorf("actiontrigger: retry executions: %s: %w", x.ID, err)
			}
			n++
			if f.Limit > 0 && n >= f.Limit {
				e.notify()
				return n, nil
			}
		}
		if len(list) < page {
			break
		}
	}
	if n > 0 {
		e.notify()
	}
	return n, nil
}
