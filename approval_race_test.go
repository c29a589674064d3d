package actiontrigger_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
	"github.com/actiontrigger/actiontrigger/storage/storagetest"
)

// apprOnTestStore runs the test's engine on a fresh store of the kind
// ACTIONTRIGGER_TEST_STORE names (memory, SQLite or PostgreSQL), still behind
// the spy that counts decisions and resumes.
func apprOnTestStore(t *testing.T) apprOpt {
	return func(c *actiontrigger.Config) {
		c.Store.(*apprSpyStore).RecordsStore = testStore(t).(storagetest.RecordsStore)
	}
}

// Issue 10 item 8: the two assignees of a manual node submit at the same
// instant, for many executions at once (100 goroutines), on every store. Each
// submitter must see the other's decision when it commits first: otherwise,
// in mode 1 with both resolving (or mode -1 with both rejecting), both
// submissions are accepted, both tasks are decided and the job stays PENDING
// forever. Every execution must end exactly once, with exactly one decision
// of its job and exactly one resume.
func TestApprovalRacingAssigneesResumeOnce(t *testing.T) {
	t.Parallel()
	const perCase = 10
	cases := []struct {
		key      string
		mode     int
		a, b     string // the actions users a and b submit
		accepted int    // submissions accepted per execution
		job      flow.JobStatus
	}{
		{"all-resolve", nodes.ModeAll, "resolve", "resolve", 2, flow.JobResolved},
		{"all-reject", nodes.ModeAll, "reject", "reject", 1, flow.JobRejected},
		{"any-reject", nodes.ModeAny, "reject", "reject", 2, flow.JobRejected},
		{"any-resolve", nodes.ModeAny, "resolve", "resolve", 1, flow.JobResolved},
		{"single-mixed", nodes.ModeSingle, "resolve", "reject", 1, flow.JobPending}, // the winner's
	}
	e := apprNew(t, apprOnTestStore(t))
	type run struct {
		c     int
		x     *flow.Execution
		tasks [2]*flow.Task
		errs  [2]error
	}
	var runs []*run
	for ci, c := range cases {
		e.save(c.key, apprManual(apprIDs(2, 3), c.mode, apprStdForms()), apprAfter())
		for i := range perCase {
			x := e.trigger(c.key, flow.Record{"title": fmt.Sprintf("%s %d", c.key, i)})
			require.Equal(t, flow.ExecutionStarted, x.Status)
			runs = append(runs, &run{c: ci, x: x, tasks: [2]*flow.Task{e.taskOf(x.ID, apprUserA), e.taskOf(x.ID, apprUserB)}})
		}
	}

	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, r := range runs {
		c := cases[r.c]
		for k, u := range []actiontrigger.User{apprUserA, apprUserB} {
			action := c.a
			if k == 1 {
				action = c.b
			}
			wg.Go(func() {
				<-start
				_, r.errs[k] = e.eng.SubmitTask(e.ctx, r.tasks[k].ID, u, apprSub("f1", map[string]any{"k": k}, action))
			})
		}
	}
	require.Len(t, runs, 50)
	close(start)
	wg.Wait()

	// Every execution ends (none is left waiting on a job nobody can decide).
	deadline := time.Now().Add(20 * time.Second)
	for {
		e.idle()
		var stuck []string
		for _, r := range runs {
			if x := e.exec(r.x.ID); !x.Status.Ended() {
				stuck = append(stuck, fmt.Sprintf("%s (%s, job %v)", r.x.ID, cases[r.c].key, e.job(r.x.ID, "m").Status))
			}
		}
		if len(stuck) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d executions never ended: %v", len(stuck), len(runs), stuck)
		}
		time.Sleep(20 * time.Millisecond)
	}

	for _, r := range runs {
		c := cases[r.c]
		accepted := 0
		for k, err := range r.errs {
			if err == nil {
				accepted++
				require.NotEqual(t, flow.TaskPending, e.task(r.tasks[k].ID).Status)
				continue
			}
			require.ErrorIs(t, err, actiontrigger.ErrInvalidSubmission, "%s: only a 400 may refuse a racing submission", c.key)
			require.Equal(t, flow.TaskPending, e.task(r.tasks[k].ID).Status, "%s: a refused submission leaves its task", c.key)
		}
		require.Equal(t, c.accepted, accepted, "%s: accepted submissions of execution %s", c.key, r.x.ID)
		j := e.job(r.x.ID, "m")
		want := c.job
		if c.mode == nodes.ModeSingle {
			want = flow.JobResolved
			if r.errs[0] != nil {
				want = flow.JobRejected // b won
			}
		}
		require.Equal(t, want, j.Status, "%s: job of execution %s", c.key, r.x.ID)
		if c.mode != nodes.ModeSingle {
			require.InDelta(t, float64(accepted)/2, j.Result, 1e-9, "%s: the job's ratio of decided tasks", c.key)
		}
		x := e.exec(r.x.ID)
		counts := e.jobCounts(r.x.ID)
		require.Equal(t, 1, counts["m"], c.key)
		if want == flow.JobResolved {
			require.Equal(t, flow.ExecutionResolved, x.Status, c.key)
			require.Equal(t, 1, counts["after"], "%s: the execution resumed exactly once", c.key)
		} else {
			require.Equal(t, flow.ExecutionRejected, x.Status, c.key)
			require.Zero(t, counts["after"], c.key)
		}
	}
	require.EqualValues(t, len(runs), e.spy.decided.Load(), "committed decisions of manual jobs")
	require.EqualValues(t, len(runs), e.spy.resumes.Load(), "resumes queued")
}
