package actiontrigger_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
	"github.com/actiontrigger/actiontrigger/storage"
)

// panicNode panics in Run, after writing a record.
type panicNode struct{}

func (panicNode) Compile(*nodes.CompileContext, *flow.Node) (any, error) { return nil, nil }
func (panicNode) Run(_ context.Context, r *nodes.RunContext, _ *flow.Job) (nodes.Result, error) {
	var keys []string
	return nodes.Resolved(keys[len(r.Node.Key)]), nil // a real runtime panic: index out of range
}

// atomicPanicNode is panicNode declared atomic (it runs inside the unit of work).
type atomicPanicNode struct{ panicNode }

func (atomicPanicNode) Atomic() bool { return true }

// stallNode ignores its context: it sleeps config.ms, then tries to write a
// post titled "late", and reports the write's error on done.
type stallNode struct{ done chan error }

func (stallNode) Compile(c *nodes.CompileContext, node *flow.Node) (any, error) {
	var cfg struct {
		MS int `json:"ms"`
	}
	if err := nodes.DecodeConfig(c, node, &cfg); err != nil {
		return nil, err
	}
	return time.Duration(cfg.MS) * time.Millisecond, nil
}

func (s stallNode) Run(ctx context.Context, r *nodes.RunContext, _ *flow.Job) (nodes.Result, error) {
	time.Sleep(r.Compiled.(time.Duration))
	_, err := r.Records.CreateRecord(context.WithoutCancel(ctx), "posts", flow.Record{"title": "late"})
	s.done <- err
	return nodes.Resolved("late"), nil
}

type atomicStallNode struct{ stallNode }

func (atomicStallNode) Atomic() bool { return true }

// tagNode forgets the status: a zero Result, which is PENDING.
type tagNode struct{}

func (tagNode) Compile(*nodes.CompileContext, *flow.Node) (any, error) { return nil, nil }
func (tagNode) Run(context.Context, *nodes.RunContext, *flow.Job) (nodes.Result, error) {
	return nodes.Result{Result: "tagged"}, nil
}

// resumeOnly can pause by capability: it implements Resumer, not Pauser.
type resumeOnly struct{ tagNode }

func (resumeOnly) Resume(_ context.Context, _ *nodes.RunContext, j *flow.Job) (nodes.Result, error) {
	return nodes.Resolved(j.Result), nil
}

func withFaultNodes(stallDone chan error) engineOpt {
	return withNodes(func(r *nodes.Registry) {
		r.MustRegister("panic", panicNode{})
		r.MustRegister("panic-atomic", atomicPanicNode{})
		r.MustRegister("stall", stallNode{done: stallDone})
		r.MustRegister("stall-atomic", atomicStallNode{stallNode{done: stallDone}})
		r.MustRegister("tag", tagNode{})
		r.MustRegister("resume-only", resumeOnly{})
	})
}

// requireNoStarted fails if any execution was left STARTED or QUEUEING.
func requireNoStarted(t *testing.T, eng *actiontrigger.Engine) {
	t.Helper()
	for _, x := range allExecs(t, eng) {
		require.True(t, x.Status.Ended(), "execution %s of %q left %s", x.ID, x.Key, x.Status)
	}
}

// lastJobMessage returns the message of the last job of x, which must be ERROR.
func lastJobMessage(t *testing.T, eng *actiontrigger.Engine, x *flow.Execution) string {
	t.Helper()
	js := jobsOf(t, eng, x.ID)
	require.NotEmpty(t, js)
	j := js[len(js)-1]
	require.Equal(t, flow.JobError, j.Status, "job %s", j.NodeKey)
	m, ok := j.Result.(map[string]any)
	require.True(t, ok, "job result %#v", j.Result)
	msg, _ := m["message"].(string)
	return msg
}

// A panicking node, atomic or not, in a sync workflow: an ERROR job holding the
// panic message, the execution ERROR, SyncError of kind failed, and the later
// workflows of the action do not run. The engine goes on.
func TestFault_PanicSync(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"panic", "panic-atomic"} {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			eng := newEngine(t, withFaultNodes(nil))
			save(t, eng, syncWF("p", "posts", n("first", "echo", nil), n("boom", typ, nil), n("never", "echo", nil)))
			save(t, eng, syncWF("later", "posts", n("e", "echo", nil)))
			save(t, eng, asyncWF("laterAsync", "posts", n("e", "echo", nil)))
			_, err := eng.AfterAction(ctx, createAction("posts", "p,later,laterAsync"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
			var se *actiontrigger.SyncError
			require.ErrorAs(t, err, &se)
			require.Equal(t, actiontrigger.SyncFailed, se.Kind)
			require.Equal(t, flow.ExecutionError, se.Execution.Status)
			require.Equal(t, []string{"p"}, keysOf(allExecs(t, eng)), "later workflows ran")
			x := execution(t, eng, se.Execution.ID)
			require.Equal(t, flow.ExecutionError, x.Status)
			js := jobsOf(t, eng, x.ID)
			require.Equal(t, []flow.JobStatus{flow.JobResolved, flow.JobError}, jobStatuses(js))
			msg := lastJobMessage(t, eng, x)
			require.Contains(t, msg, fmt.Sprintf(`node "boom" (type %q) panicked`, typ))
			require.Contains(t, msg, "runtime error: index out of range [4] with length 0")
			requireNoStarted(t, eng)

			// The engine goes on: the next action runs normally.
			save(t, eng, syncWF("ok", "posts", n("e", "echo", nil)))
			res := after(t, eng, createAction("posts", "ok"), record(t, eng, "posts", flow.Record{"title": "t2"}), memberA)
			require.Equal(t, flow.ExecutionResolved, res.Executions[0].Status)
		})
	}
}

// A panicking node in an async workflow: the worker survives, the execution
// ends ERROR with the panic in its job, and other executions run.
func TestFault_PanicAsync(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"panic", "panic-atomic"} {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			eng := newEngine(t, started(), withFaultNodes(nil))
			save(t, eng, asyncWF("p", "posts", n("boom", typ, nil)))
			save(t, eng, asyncWF("ok", "posts", n("e", "echo", nil)))
			for i := range 3 {
				after(t, eng, createAction("posts", "p,ok"), record(t, eng, "posts", flow.Record{"title": fmt.Sprint("t", i)}), memberA)
			}
			waitIdle(t, eng)
			ps := execsOf(t, eng, "p")
			require.Len(t, ps, 3)
			for _, x := range ps {
				require.Equal(t, flow.ExecutionError, x.Status)
				require.Contains(t, lastJobMessage(t, eng, x), `node "boom" (type `+fmt.Sprintf("%q", typ)+`) panicked: runtime error: index out of range [4] with length 0`)
			}
			require.Equal(t, []flow.ExecutionStatus{flow.ExecutionResolved, flow.ExecutionResolved, flow.ExecutionResolved}, statusesOf(execsOf(t, eng, "ok")))
			requireNoStarted(t, eng)
		})
	}
}

// A node that ignores its context past its timeout: after the grace period the
// executor stops waiting, the job is ERROR ("exceeded its timeout"), and what
// the run writes later is refused. Sync and async, atomic and not; the node's
// own timeout, or Config.NodeTimeout.
func TestFault_Timeout(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"stall", "stall-atomic"} {
		for _, mode := range []string{"sync", "async", "default"} {
			t.Run(typ+"/"+mode, func(t *testing.T) {
				t.Parallel()
				done := make(chan error, 1)
				opts := []engineOpt{withFaultNodes(done), withConfig(func(c *actiontrigger.Config) {
					c.NodeTimeoutGrace = 50 * time.Millisecond
					if mode == "default" {
						c.NodeTimeout = 50 * time.Millisecond
					}
				})}
				if mode == "async" {
					opts = append(opts, started())
				}
				eng := newEngine(t, opts...)
				stall := n("slow", typ, map[string]any{"ms": 600})
				if mode != "default" {
					stall.Timeout = 50
				}
				wf := syncWF("w", "posts", n("first", "echo", nil), stall, n("never", "echo", nil))
				wf.Sync = mode != "async"
				save(t, eng, wf)
				save(t, eng, syncWF("later", "posts", n("e", "echo", nil)))
				trigger := "w,later"
				if mode == "async" {
					trigger = "w"
				}
				began := time.Now()
				_, err := eng.AfterAction(testCtx(t), createAction("posts", trigger), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
				if mode == "async" {
					require.NoError(t, err)
					waitIdle(t, eng)
				} else {
					var se *actiontrigger.SyncError
					require.ErrorAs(t, err, &se)
					require.Equal(t, actiontrigger.SyncFailed, se.Kind)
					require.Empty(t, execsOf(t, eng, "later"), "a later sync workflow ran")
				}
				require.Less(t, time.Since(began), 500*time.Millisecond, "the executor waited for the stalled node")
				xs := execsOf(t, eng, "w")
				require.Len(t, xs, 1)
				require.Equal(t, flow.ExecutionError, xs[0].Status)
				require.Equal(t, []flow.JobStatus{flow.JobResolved, flow.JobError}, jobStatuses(jobsOf(t, eng, xs[0].ID)))
				require.Equal(t, `node "slow" (type "`+typ+`") exceeded its timeout of 50ms`, lastJobMessage(t, eng, xs[0]))
				requireNoStarted(t, eng)

				// The abandoned run wakes up: its write is refused and
				// nothing it returns is recorded.
				select {
				case err := <-done:
					require.Error(t, err, "the abandoned run could still write")
				case <-time.After(5 * time.Second):
					t.Fatal("the stalled node never returned")
				}
				late, err := eng.Records().ListRecords(context.Background(), "posts", storage.Filter{"title": "late"}, nil)
				require.NoError(t, err)
				require.Empty(t, late)
				require.Len(t, jobsOf(t, eng, xs[0].ID), 2)
			})
		}
	}
}

// A node that honours its context gets the deadline: its run ends with the
// context's error, recorded as the timeout.
func TestFault_TimeoutHonoured(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, withSleepNode())
	slow := n("slow", "sleep", map[string]any{"ms": 5000})
	slow.Timeout = 30
	save(t, eng, syncWF("w", "posts", slow))
	began := time.Now()
	_, err := eng.AfterAction(testCtx(t), createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	var se *actiontrigger.SyncError
	require.ErrorAs(t, err, &se)
	require.Less(t, time.Since(began), 900*time.Millisecond)
	require.Equal(t, `node "slow" (type "sleep") exceeded its timeout of 30ms`, lastJobMessage(t, eng, se.Execution))
}

// A node returning a zero Result (PENDING) that cannot pause is an ERROR job
// naming the node, not a pause; a node that can pause by capability (Resumer)
// is refused in a sync workflow when saved, and pauses in an async one.
func TestFault_PendingWithoutCapability(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, withFaultNodes(nil))
	save(t, eng, syncWF("s", "posts", n("tagger", "tag", nil)))
	save(t, eng, asyncWF("a", "posts", n("tagger", "tag", nil)))
	_, err := eng.AfterAction(ctx, createAction("posts", "s"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	var se *actiontrigger.SyncError
	require.ErrorAs(t, err, &se)
	require.Equal(t, actiontrigger.SyncFailed, se.Kind)
	require.Equal(t, flow.ExecutionError, se.Execution.Status)
	require.Contains(t, lastJobMessage(t, eng, se.Execution), `node "tagger" (type "tag") returned a PENDING result, but its type cannot pause`)

	x, err := eng.Execute(ctx, "a", flow.Record{"title": "t"}, memberA)
	require.NoError(t, err)
	require.Equal(t, flow.ExecutionError, x.Status)

	_, err = eng.SaveWorkflow(ctx, syncWF("r", "posts", n("wait", "resume-only", nil)))
	require.ErrorIs(t, err, flow.ErrInvalidWorkflow)
	var ve *flow.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "wait", ve.Node)
	save(t, eng, asyncWF("ra", "posts", n("wait", "resume-only", nil)))
	y, err := eng.Execute(ctx, "ra", flow.Record{"title": "t"}, memberA)
	require.NoError(t, err)
	require.Equal(t, flow.ExecutionStarted, y.Status)
	pendingJob(t, eng, y.ID)
}

// A negative node timeout is refused when saved, naming the node and field.
func TestFault_NegativeTimeoutRefused(t *testing.T) {
	t.Parallel()
	eng := newEngine(t)
	bad := n("e", "echo", nil)
	bad.Timeout = -1
	_, err := eng.SaveWorkflow(testCtx(t), asyncWF("w", "posts", bad))
	require.ErrorIs(t, err, flow.ErrInvalidWorkflow)
	var ve *flow.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "e", ve.Node)
	require.Equal(t, "timeout", ve.Field)

	_, err = actiontrigger.New(context.Background(), actiontrigger.Config{Store: testStore(t), NodeTimeout: -time.Second})
	require.ErrorIs(t, err, actiontrigger.ErrInvalidConfig)
}

// queueOne enqueues one async execution of key through an engine that is not
// started, and returns it.
func queueOne(t *testing.T, eng *actiontrigger.Engine, key string) *flow.Execution {
	t.Helper()
	res := after(t, eng, createAction("posts", key), record(t, eng, "posts", flow.Record{"title": key}), memberA)
	require.Len(t, res.Executions, 1)
	return res.Executions[0]
}

// An execution claimed more than MaxClaims times without its run finishing (as
// when its run kills the process, here simulated by claims of a process that
// died each time) is quarantined: ERROR with the reason, never run, never
// claimed again. A fresh execution runs.
func TestFault_Quarantine(t *testing.T) {
	t.Parallel()
	for _, maxClaims := range []int{0, 2} {
		t.Run(fmt.Sprint("maxClaims=", maxClaims), func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			limit := maxClaims
			if limit == 0 {
				limit = actiontrigger.DefaultMaxClaims
			}
			store := testStore(t)
			eng := newEngine(t, withConfig(func(c *actiontrigger.Config) {
				c.Store = store
				c.MaxClaims = maxClaims
			}))
			save(t, eng, asyncWF("poison", "posts", n("e", "echo", nil)))
			save(t, eng, asyncWF("ok", "posts", n("e", "echo", nil)))
			poison := queueOne(t, eng, "poison")
			// Dead processes claimed it limit times; each lease has ended.
			for i := range limit {
				now := time.Now()
				got, err := store.ClaimExecutions(ctx, storage.ClaimParams{Owner: fmt.Sprint("dead-", i), Limit: 10, Now: now, LeaseUntil: now.Add(-time.Millisecond)})
				require.NoError(t, err)
				require.Len(t, got, 1)
				require.Equal(t, i+1, got[0].Attempt)
			}
			ok := queueOne(t, eng, "ok")
			require.NoError(t, eng.Start(ctx))
			t.Cleanup(func() { _ = eng.Stop(context.Background()) })
			waitIdle(t, eng)

			x := execution(t, eng, poison.ID)
			require.Equal(t, flow.ExecutionError, x.Status)
			require.Equal(t, fmt.Sprintf("%s: claimed %d times without finishing a run (MaxClaims %d)", flow.ReasonQuarantined, limit+1, limit), x.Reason)
			require.Empty(t, jobsOf(t, eng, x.ID), "a quarantined execution must not run")
			require.False(t, x.Runnable)
			require.Empty(t, x.LeaseOwner)
			listed, err := eng.Executions(ctx, storage.ExecutionFilter{Statuses: []flow.ExecutionStatus{flow.ExecutionError}})
			require.NoError(t, err)
			require.Equal(t, []string{poison.ID}, executionIDsOf(listed))
			require.Equal(t, flow.ExecutionResolved, execution(t, eng, ok.ID).Status)

			// Never claimed again.
			now := time.Now()
			got, err := store.ClaimExecutions(ctx, storage.ClaimParams{Owner: "other", Limit: 10, Now: now, LeaseUntil: now.Add(time.Minute)})
			require.NoError(t, err)
			require.Empty(t, got)
		})
	}
}

func executionIDsOf(xs []*flow.Execution) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = x.ID
	}
	return out
}

// A graceful stop gives back what it claimed and did not finish: a second
// engine on the same store runs everything at once, although every lease
// would hold for an hour.
func TestFault_StopReleasesLeases(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	store := testStore(t)
	cfg := func(c *actiontrigger.Config) {
		c.Store = store
		c.Workers = 1
		c.Lease = time.Hour
	}
	eng1 := newEngine(t, withSleepNode(), withConfig(cfg))
	save(t, eng1, asyncWF("w", "posts", n("s", "sleep", map[string]any{"ms": 2000})))
	var ids []string
	for range 5 {
		ids = append(ids, queueOne(t, eng1, "w").ID)
	}
	require.NoError(t, eng1.Start(ctx))
	eventually(t, 5*time.Second, func() bool {
		xs, err := store.ListExecutions(ctx, storage.ExecutionFilter{Key: "w"})
		require.NoError(t, err)
		leased := 0
		for _, x := range xs {
			if x.LeaseOwner != "" {
				leased++
			}
		}
		return leased == len(ids)
	}, "the first engine never claimed all executions")
	stopCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	// The running node may or may not honour the stop within the deadline
	// (it sleeps until its context ends); either way, the claims the pool
	// did not run must be given back.
	if err := eng1.Stop(stopCtx); err != nil {
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	for _, id := range ids {
		x, err := store.GetExecution(ctx, id)
		require.NoError(t, err)
		require.Empty(t, x.LeaseOwner, "execution %s still leased after the stop", id)
		require.LessOrEqual(t, x.Attempt, 1, "a claim that did not run must not count (execution %s)", id)
	}

	eng2 := newEngine(t, withSleepNode(), withConfig(func(c *actiontrigger.Config) {
		cfg(c)
		c.Workers = 8
	}), started())
	eventually(t, 10*time.Second, func() bool {
		for _, id := range ids {
			x, err := store.GetExecution(ctx, id)
			require.NoError(t, err)
			if x.Status != flow.ExecutionResolved {
				return false
			}
		}
		return true
	}, "the second engine did not run the released executions")
	_ = eng2
}

// resumePanic pauses; its Resume panics.
type resumePanic struct{ tagNode }

func (resumePanic) CanPause(*flow.Node) bool { return true }
func (resumePanic) Run(context.Context, *nodes.RunContext, *flow.Job) (nodes.Result, error) {
	return nodes.Pending(map[string]any{"waiting": true}), nil
}
func (resumePanic) Resume(context.Context, *nodes.RunContext, *flow.Job) (nodes.Result, error) {
	panic("resume exploded")
}

// A panic in Resume, on a worker: the resumed job is ERROR with the panic, the
// execution ends ERROR, and the worker runs the next execution.
func TestFault_PanicInResume(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started(), withNodes(func(r *nodes.Registry) { r.MustRegister("resume-panic", resumePanic{}) }))
	save(t, eng, asyncWF("w", "posts", n("wait", "resume-panic", nil), n("never", "echo", nil)))
	save(t, eng, asyncWF("ok", "posts", n("e", "echo", nil)))
	res := after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	waitIdle(t, eng)
	x := res.Executions[0]
	j := pendingJob(t, eng, x.ID)
	require.NoError(t, eng.Resume(ctx, j.ID, flow.JobResolved, "go"))
	eventually(t, 5*time.Second, func() bool { return execution(t, eng, x.ID).Status.Ended() }, "the resumed execution never ended")
	x = execution(t, eng, x.ID)
	require.Equal(t, flow.ExecutionError, x.Status)
	require.Equal(t, `node "wait" (type "resume-panic") panicked: resume exploded`, lastJobMessage(t, eng, x))
	require.Len(t, jobsOf(t, eng, x.ID), 1)

	res = after(t, eng, createAction("posts", "ok"), record(t, eng, "posts", flow.Record{"title": "t2"}), memberA)
	waitIdle(t, eng)
	require.Equal(t, flow.ExecutionResolved, execution(t, eng, res.Executions[0].ID).Status)
}
