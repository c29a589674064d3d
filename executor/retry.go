package executor

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"time"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
	"github.com/actiontrigger/actiontrigger/storage"
)

// Time and failure. Nothing here lives in a Go timer: a node waiting out its
// retry backoff, a pending job with a deadline (nodes.Waker) and a paused
// execution's timeout all leave the execution Runnable with RunAfter set, a
// row of the store's queue that any process sharing the store claims when it
// is due.
//
//   - A node whose run fails in an async execution, under a retry policy
//     (Step.retry), gets a RETRY_NEEDED job listing the failed attempt; the
//     execution waits, Runnable, ResumeJobID naming the job, RunAfter the end
//     of the backoff. The claim that comes then runs the node again (rerun)
//     on the same job, with the same upstream job.
//   - A pause (a PENDING job) arms the earliest of the pending jobs' WakeAt
//     and the execution's ExpiresAt; the claim that comes then aborts the
//     execution if it expired, else wakes the due job (wake).

func (x *Executor) rand() float64 {
	if x.cfg.Rand != nil {
		return x.cfg.Rand()
	}
	return rand.Float64()
}

// JobError is the error a failed job reports (in its attempts): its
// result's "message", its result when it is text, else the result printed,
// or its status when it has no result.
func JobError(j *flow.Job) string {
	switch r := j.Result.(type) {
	case map[string]any:
		if m, ok := r["message"].(string); ok {
			return m
		}
	case string:
		return r
	case nil:
		return j.Status.String()
	}
	return fmt.Sprint(j.Result)
}

// attemptsInRound counts the attempts since the last one Engine.Retry ran
// the node again after.
func attemptsInRound(as []flow.Attempt) int {
	n := 0
	for i := len(as) - 1; i >= 0 && !as[i].Retried; i-- {
		n++
	}
	return n
}

// retryOrFail decides what the filled job of a failed (or snoozing) run of s
// becomes. It returns true when the job waits to run again: its status is
// then RETRY_NEEDED and the run must exit pending (p.waitJob is set).
func (p *proc) retryOrFail(s *Step, job *flow.Job, err error) bool {
	now := p.x.now()
	var snooze *nodes.SnoozeError
	if errors.As(err, &snooze) {
		if !p.exec.Sync && job.Snoozes < s.retry.Snoozes() {
			job.Snoozes++
			job.Status = flow.JobRetryNeeded
			job.Result = map[string]any{"message": err.Error()}
			p.waitJob, p.waitAt = job, now.Add(snooze.After)
			return true
		}
		if p.exec.Sync {
			err = fmt.Errorf("node %q asked to run again in %s (nodes.Snooze), which a sync run cannot wait for", s.Node.Key, snooze.After)
		} else {
			err = fmt.Errorf("node %q asked to run again later more than %d times: %w", s.Node.Key, s.retry.Snoozes(), nodes.ErrSnoozeCap)
		}
		job.Status = flow.JobError
		job.Result = map[string]any{"message": err.Error()}
	}
	if job.Status != flow.JobError || s.retry == nil {
		return false
	}
	job.Attempts = append(slices.Clip(job.Attempts), flow.Attempt{N: len(job.Attempts) + 1, Error: JobError(job), At: now})
	job.UpdatedAt = now
	if p.exec.Sync || (err != nil && !nodes.Retryable(err)) {
		return false
	}
	used := attemptsInRound(job.Attempts)
	if used >= s.retry.MaxAttempts {
		return false
	}
	job.Status = flow.JobRetryNeeded
	p.waitJob, p.waitAt = job, now.Add(s.retry.Backoff(used, p.x.rand()))
	return true
}

// rerun runs the node of a RETRY_NEEDED job again, on the same job.
func (p *proc) rerun(ctx context.Context, s *Step, job *flow.Job) error {
	var prev *flow.Job
	if job.UpstreamID != "" {
		prev = p.findJob(job.UpstreamID)
	}
	attempt := len(job.Attempts) + 1
	updated := job.Clone()
	run := func(rc *nodes.RunContext) {
		rc.SetAttempt(attempt)
		p.runNode(ctx, s, rc, prev, updated)
		updated.UpdatedAt = p.x.now()
	}
	var err error
	if !s.atomic && p.tx == nil {
		run(p.runContext(s, p.x.store(ctx)))
		err = p.step(ctx, func(ctx context.Context, tx storage.Store) error {
			return tx.UpdateJob(ctx, updated, flow.JobRetryNeeded)
		})
	} else {
		err = p.step(ctx, func(ctx context.Context, tx storage.Store) error {
			run(p.runContext(s, tx))
			return tx.UpdateJob(ctx, updated, flow.JobRetryNeeded)
		})
	}
	if err != nil {
		return err
	}
	return p.goOn(ctx, s, updated)
}

// goOn records job, the new state of s's job, and goes on from it: a job
// still waiting (PENDING, or RETRY_NEEDED for a backoff) ends the run
// waiting; any other goes on after s.
func (p *proc) goOn(ctx context.Context, s *Step, job *flow.Job) error {
	p.record(job)
	if job.Status == flow.JobPending || job.Status == flow.JobRetryNeeded {
		return p.exit(ctx, flow.JobPending, "")
	}
	next, prev, err := p.after(ctx, s, job)
	if err != nil || next == nil {
		return err
	}
	return p.runFrom(ctx, next, prev)
}

// expired reports whether the execution's timeout has passed.
func (p *proc) expired() bool {
	exp := p.exec.ExpiresAt
	return !exp.IsZero() && !p.x.now().Before(exp)
}

// nextTimer returns the pending job (with its step) whose node wants to
// wake it first, and when (zero: no pending job has a timer).
func (p *proc) nextTimer() (*flow.Job, *Step, time.Time) {
	var (
		first *flow.Job
		fs    *Step
		t     time.Time
	)
	for _, j := range p.jobs {
		if j.Status != flow.JobPending {
			continue
		}
		s, ok := p.plan.Step(j.NodeKey)
		if !ok || s.waker == nil {
			continue
		}
		if at := p.wakeAt(s, j); !at.IsZero() && (t.IsZero() || at.Before(t)) {
			first, fs, t = j, s, at
		}
	}
	return first, fs, t
}

// wakeAt calls the node's WakeAt; a panic there means never (and is logged).
func (p *proc) wakeAt(s *Step, j *flow.Job) (at time.Time) {
	defer func() {
		if v := recover(); v != nil {
			at = time.Time{}
			p.x.logger().Error("actiontrigger: node panicked in WakeAt; its job has no timer", "execution", p.exec.ID,
				"node", s.Node.Key, "type", s.Node.Type, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	return s.waker.WakeAt(j)
}

// wake handles the claim of a paused execution whose timer fired: it aborts
// the execution if its timeout passed, else wakes its due pending job, and
// arms the next timer.
func (p *proc) wake(ctx context.Context) error {
	if p.expired() {
		return p.exit(ctx, flow.JobAborted, flow.ReasonTimeout)
	}
	now := p.x.now()
	due, ds, at := p.nextTimer()
	if due != nil && at.After(now) {
		due = nil
	}
	if due == nil {
		return p.exit(ctx, flow.JobPending, "") // early: arm the timer again
	}
	var nj *flow.Job
	err := p.step(ctx, func(ctx context.Context, tx storage.Store) error {
		// A submission deciding the job locks it too: whichever comes
		// second sees what the first committed.
		locked, err := tx.LockJob(ctx, due.ID)
		if err != nil {
			return err
		}
		if locked.Status != flow.JobPending {
			// Decided meanwhile; the decision queued the execution again
			// and took this claim's lease.
			return fmt.Errorf("job %s was decided while its timer fired: %w", due.ID, flow.ErrLeaseLost)
		}
		wc := &nodes.WakeContext{Node: ds.Node, Compiled: ds.Compiled, Workflow: p.plan.Workflow, Execution: p.exec,
			Job: locked, Tasks: tx, Scope: p.scope, Records: p.x.cfg.Records, Now: now, Remind: p.x.cfg.OnTaskReminder, Logger: p.x.logger()}
		nj, err = wakeSafe(ctx, ds, wc)
		if err != nil {
			return err
		}
		if nj == nil || nj.ID != locked.ID {
			return fmt.Errorf("node %q (%s) woke no job or another one: %w", ds.Node.Key, ds.Node.Type, nodes.ErrInvalidSubmission)
		}
		nj.UpdatedAt = now
		return tx.UpdateJob(ctx, nj, flow.JobPending)
	})
	if err != nil {
		return err
	}
	return p.goOn(ctx, ds, nj)
}

// wakeSafe calls Wake, turning a panic into an error.
func wakeSafe(ctx context.Context, s *Step, wc *nodes.WakeContext) (j *flow.Job, err error) {
	defer func() {
		if v := recover(); v != nil {
			j, err = nil, fmt.Errorf("node %q (%s) panicked waking its job: %v: %w", s.Node.Key, s.Node.Type, v, nodes.ErrPanic)
		}
	}()
	return s.waker.Wake(ctx, wc)
}
