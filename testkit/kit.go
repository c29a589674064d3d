// Package testkit runs a host's workflows in its unit tests, deterministically
// and without sleeping: an engine on a fresh memory store whose clock is a
// fake one (Clock), never started, so that nothing runs in the background.
// The test runs the async executions itself, on its own goroutine:
// RunUntilIdle runs what is due, Advance moves the clock and runs what
// became due, and AdvanceToNextTimer jumps to the next durable timer (a
// retry backoff, a snooze, an approval deadline, a paused execution's
// timeout) and fires it, so a test drains every retry with
//
//	for kit.AdvanceToNextTimer() {
//	}
//
// whatever the intervals. Stub replaces a node type (one that calls a
// service, say) with a scripted one that records its calls, and
// RequireStatus, RequirePath and Summary check and show an execution.
//
//	kit := testkit.New(t, actiontrigger.Config{Collections: collections},
//		testkit.Stub("mail", testkit.Fail(errSMTP), testkit.Return("sent")))
//	// save workflows and trigger them through kit.Engine, then:
//	kit.RunUntilIdle()
//	for kit.AdvanceToNextTimer() {
//	}
//	kit.RequireStatus(id, flow.ExecutionResolved)
//	kit.RequirePath(id, "check", "mail")
//
// docs/testing.md walks through it.
package testkit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
	"github.com/actiontrigger/actiontrigger/storage/memory"
)

// TB is the part of testing.TB the kit uses: *testing.T, *testing.B,
// *testing.F and any testing.TB satisfy it. It is an interface of its own so
// that a runnable Example, which gets no *testing.T, can pass a small
// implementation (see the package's examples).
type TB interface {
	Helper()
	Cleanup(func())
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Option configures New.
type Option func(*settings)

type settings struct {
	start    time.Time
	replace  map[string]nodes.Instruction // node type -> instruction to install
	stubbed  map[string][]Outcome         // node type -> a stub's outcomes
	problems []string
}

func (s *settings) taken(nodeType string) bool {
	_, a := s.replace[nodeType]
	_, b := s.stubbed[nodeType]
	return a || b
}

// StartAt starts the kit's clock at t instead of DefaultStart.
func StartAt(t time.Time) Option {
	return func(s *settings) { s.start = t }
}

// Stub installs a scripted node under nodeType, in place of the registered
// type (Config.Nodes, else the built-ins) or as a new one. Its runs return
// outcomes in order, one per run whatever the execution, the last one again
// once they are used up (no outcomes: Return(nil) every time). Kit.Calls
// lists its runs.
//
// Only Run is scripted: a stub of a registered type keeps that type's
// Compile (a node's config is validated as in production), its branches,
// whether it can pause and whether it is atomic; a stub of a new type takes
// any config, has no branches, cannot pause and is not atomic. The host's
// Config.Nodes registry is not changed: the engine gets a copy.
func Stub(nodeType string, outcomes ...Outcome) Option {
	return func(s *settings) {
		if nodeType == "" || s.taken(nodeType) {
			s.problems = append(s.problems, fmt.Sprintf("node type %q stubbed twice, or empty", nodeType))
			return
		}
		s.stubbed[nodeType] = slices.Clone(outcomes)
	}
}

// WithNode installs in under nodeType, in place of the registered type or as
// a new one, for a fake that a stub's outcomes cannot express (one that
// pauses and is resumed). The host's Config.Nodes registry is not changed.
func WithNode(nodeType string, in nodes.Instruction) Option {
	return func(s *settings) {
		if nodeType == "" || in == nil || s.taken(nodeType) {
			s.problems = append(s.problems, fmt.Sprintf("node type %q installed twice, or empty, or nil", nodeType))
			return
		}
		s.replace[nodeType] = in
	}
}

// Kit is an engine under a test's control. Create it with New.
type Kit struct {
	// Engine is the engine under test: save workflows, trigger actions,
	// submit tasks and cancel executions through it as the host does. It is
	// not started; do not Start it, or background workers and real timers
	// come back and the test is no longer deterministic.
	Engine *actiontrigger.Engine
	// Clock is the engine's clock (Config.Now).
	Clock *Clock

	t     TB
	start time.Time
	stubs map[string]*stub
}

// New returns a kit for t: an engine made from cfg with
//
//   - Config.Store: a fresh memory store when cfg.Store is nil. A store
//     set there is used as given (to run the same test on SQLite or
//     PostgreSQL); it must be fresh and used by this kit alone, since the
//     kit runs, and reads the timers of, every execution it holds. The kit
//     does not close it;
//   - Config.Now: the kit's Clock, starting at DefaultStart (StartAt
//     changes it). A cfg.Now already set fails the test: the kit owns the
//     clock;
//   - Config.Logger: when nil, engine logs at level WARN and above go to
//     t.Logf, which go test shows only for a failed test or with -v;
//   - Config.Nodes: with the opts' stubs and nodes installed in a copy.
//
// The engine is not started. At cleanup it is stopped, in case the test
// started it anyway. A cfg New refuses fails the test.
func New(t TB, cfg actiontrigger.Config, opts ...Option) *Kit {
	t.Helper()
	s := &settings{start: DefaultStart, replace: map[string]nodes.Instruction{}, stubbed: map[string][]Outcome{}}
	for _, o := range opts {
		o(s)
	}
	if len(s.problems) > 0 {
		t.Fatalf("testkit: %s", strings.Join(s.problems, "; "))
		return nil
	}
	if cfg.Now != nil {
		t.Fatalf("testkit: Config.Now is set, but the kit's clock is the engine's (start it where you want with testkit.StartAt)")
		return nil
	}
	k := &Kit{Clock: NewClock(s.start), t: t, start: s.start, stubs: map[string]*stub{}}
	cfg.Now = k.Clock.Now
	if cfg.Store == nil {
		cfg.Store = memory.New()
	}
	var logs *tbWriter
	if cfg.Logger == nil {
		logs = &tbWriter{t: t}
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn, ReplaceAttr: dropTime}))
	}
	if len(s.replace)+len(s.stubbed) > 0 {
		cfg.Nodes = k.registry(cfg.Nodes, s)
	}
	eng, err := actiontrigger.New(context.Background(), cfg)
	if err != nil {
		logs.close()
		t.Fatalf("testkit: new engine: %v", err)
		return nil
	}
	k.Engine = eng
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = eng.Stop(ctx)
		logs.close()
	})
	return k
}

// registry copies base (the built-ins when nil) with s's nodes and stubs
// installed, and keeps the stubs.
func (k *Kit) registry(base *nodes.Registry, s *settings) *nodes.Registry {
	if base == nil {
		base = nodes.DefaultRegistry()
	}
	reg := nodes.NewRegistry()
	for _, name := range base.Names() {
		if s.taken(name) {
			continue
		}
		in, _ := base.Lookup(name)
		reg.MustRegister(name, in)
	}
	for name, in := range s.replace {
		reg.MustRegister(name, in)
	}
	for name, outs := range s.stubbed {
		st := &stub{outcomes: outs}
		st.base, _ = base.Lookup(name)
		k.stubs[name] = st
		reg.MustRegister(name, st)
	}
	return reg
}

// RunUntilIdle runs every async execution that is due now (queued, resumed,
// or whose timer has passed), on the calling goroutine, until none is
// (Engine.RunDue), and returns how many runs it made. An error fails the
// test.
func (k *Kit) RunUntilIdle() int {
	k.t.Helper()
	n, err := k.Engine.RunDue(context.Background())
	if err != nil {
		k.t.Fatalf("testkit: run due executions at %s: %v", k.offset(k.Clock.Now()), err)
	}
	return n
}

// Advance moves the clock forward by d and runs what is due then
// (RunUntilIdle), returning how many runs it made. Every timer that passed
// fires at the new reading, as it would for a worker that comes late; to
// fire each one on time, use AdvanceToNextTimer.
func (k *Kit) Advance(d time.Duration) int {
	k.t.Helper()
	if d < 0 {
		k.t.Fatalf("testkit: Advance(%s): the kit's clock only moves forward (Clock.Set moves it anywhere)", d)
	}
	k.Clock.Advance(d)
	return k.RunUntilIdle()
}

// NextTimer returns the earliest time after the clock's reading at which an
// async execution becomes due (its durable timer, Execution.RunAfter, or the
// end of a lease it holds), and false when none waits for a time: every
// execution has ended, is paused without a timer (an approval without
// deadline or timeout), or is due now.
func (k *Kit) NextTimer() (time.Time, bool) {
	k.t.Helper()
	xs, err := k.Engine.Executions(context.Background(), actiontrigger.ExecutionFilter{
		Statuses: []flow.ExecutionStatus{flow.ExecutionQueueing, flow.ExecutionStarted},
	})
	if err != nil {
		k.t.Fatalf("testkit: list executions: %v", err)
	}
	now := k.Clock.Now()
	var next time.Time
	for _, x := range xs {
		if !x.Runnable {
			continue
		}
		due := x.RunAfter
		if x.LeaseOwner != "" && x.LeaseUntil.After(due) {
			due = x.LeaseUntil
		}
		if due.After(now) && (next.IsZero() || due.Before(next)) {
			next = due
		}
	}
	return next, !next.IsZero()
}

// AdvanceToNextTimer runs what is due now, then moves the clock to the next
// timer (NextTimer) and runs what is due then. It returns false, leaving the
// clock where it was, when no timer is waiting. Nothing sleeps: a one-hour
// backoff takes no longer than a one-millisecond one.
func (k *Kit) AdvanceToNextTimer() bool {
	k.t.Helper()
	k.RunUntilIdle()
	at, ok := k.NextTimer()
	if !ok {
		return false
	}
	k.Clock.Set(at)
	k.RunUntilIdle()
	return true
}

// Calls lists the runs of the node type Stub installed under nodeType, in
// the order they happened. A type that was not stubbed fails the test.
func (k *Kit) Calls(nodeType string) []Call {
	k.t.Helper()
	s, ok := k.stubs[nodeType]
	if !ok {
		k.t.Fatalf("testkit: node type %q is not stubbed (testkit.Stub)", nodeType)
		return nil
	}
	return s.recorded()
}

// Execution returns the execution id. An unknown id fails the test.
func (k *Kit) Execution(id string) *flow.Execution {
	k.t.Helper()
	x, err := k.Engine.Execution(context.Background(), id)
	if err != nil {
		k.t.Fatalf("testkit: execution %s: %v", id, err)
	}
	return x
}

// Jobs returns the jobs of execution id in run order (Seq).
func (k *Kit) Jobs(id string) []*flow.Job {
	k.t.Helper()
	js, err := k.Engine.Jobs(context.Background(), id)
	if err != nil {
		k.t.Fatalf("testkit: jobs of execution %s: %v", id, err)
	}
	return js
}

// Job returns the current job of node nodeKey in execution id (its latest:
// the one $jobsMapByNodeKey reads). A node that has not run fails the test.
func (k *Kit) Job(id, nodeKey string) *flow.Job {
	k.t.Helper()
	js := k.Jobs(id)
	for i := len(js) - 1; i >= 0; i-- {
		if js[i].NodeKey == nodeKey {
			return js[i]
		}
	}
	k.t.Fatalf("testkit: node %q has no job\n%s", nodeKey, k.Summary(id))
	return nil
}

// Path returns the node keys of execution id's jobs in run order.
func (k *Kit) Path(id string) []string {
	k.t.Helper()
	js := k.Jobs(id)
	keys := make([]string, len(js))
	for i, j := range js {
		keys[i] = j.NodeKey
	}
	return keys
}

// RequireStatus fails the test, showing the execution (Summary), unless
// execution id has status want.
func (k *Kit) RequireStatus(id string, want flow.ExecutionStatus) {
	k.t.Helper()
	if x := k.Execution(id); x.Status != want {
		k.t.Fatalf("testkit: execution %s is %s, want %s\n%s", id, x.Status, want, k.Summary(id))
	}
}

// RequirePath fails the test, showing the execution (Summary), unless the
// node keys of execution id's jobs, in run order, are nodeKeys.
func (k *Kit) RequirePath(id string, nodeKeys ...string) {
	k.t.Helper()
	if got := k.Path(id); !slices.Equal(got, nodeKeys) {
		k.t.Fatalf("testkit: execution %s ran %q, want %q\n%s", id, got, nodeKeys, k.Summary(id))
	}
}

// Summary describes execution id for a failure message or a log: its
// workflow, status and reason, its timer, and each job with its node, type,
// status, result, attempts and snoozes. Times are offsets from the clock's
// start ("+1m30s").
func (k *Kit) Summary(id string) string {
	ctx := context.Background()
	x, err := k.Engine.Execution(ctx, id)
	if err != nil {
		return fmt.Sprintf("execution %s: %v", id, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "execution %s of workflow %q: %s", x.ID, x.Key, x.Status)
	if x.Reason != "" {
		fmt.Fprintf(&b, " (reason %q)", x.Reason)
	}
	fmt.Fprintf(&b, ", created %s", k.offset(x.CreatedAt))
	if !x.EndedAt.IsZero() {
		fmt.Fprintf(&b, ", ended %s", k.offset(x.EndedAt))
	}
	if x.Runnable && !x.Status.Ended() {
		if x.RunAfter.IsZero() {
			b.WriteString(", due now")
		} else {
			fmt.Fprintf(&b, ", waiting until %s", k.offset(x.RunAfter))
		}
	}
	if !x.ExpiresAt.IsZero() {
		fmt.Fprintf(&b, ", expires %s", k.offset(x.ExpiresAt))
	}
	fmt.Fprintf(&b, "; clock %s\n", k.offset(k.Clock.Now()))
	js, err := k.Engine.Jobs(ctx, id)
	if err != nil {
		fmt.Fprintf(&b, "  jobs: %v\n", err)
		return b.String()
	}
	if len(js) == 0 {
		b.WriteString("  no jobs\n")
	}
	for _, j := range js {
		fmt.Fprintf(&b, "  %d. %s (%s): %s %s", j.Seq, j.NodeKey, j.NodeType, j.Status, brief(j.Result))
		if j.Branch != nil {
			fmt.Fprintf(&b, ", branch %d", *j.Branch)
		}
		if j.End {
			b.WriteString(", ended the execution")
		}
		if j.Snoozes > 0 {
			fmt.Fprintf(&b, ", %d snoozes", j.Snoozes)
		}
		b.WriteString("\n")
		for _, a := range j.Attempts {
			retried := ""
			if a.Retried {
				retried = " (then Engine.Retry)"
			}
			fmt.Fprintf(&b, "     attempt %d failed at %s: %s%s\n", a.N, k.offset(a.At), a.Error, retried)
		}
	}
	return b.String()
}

// offset formats t as an offset from the clock's start.
func (k *Kit) offset(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := t.Sub(k.start)
	if d < 0 {
		return d.String()
	}
	return "+" + d.String()
}

// brief is v as compact JSON, cut at 200 bytes.
func brief(v any) string {
	out, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	const limit = 200
	if len(out) > limit {
		return string(out[:limit]) + "..."
	}
	return string(out)
}

// tbWriter writes the engine's log lines to t.Logf until the test's
// cleanup, and drops them after it (a test's Logf panics once the test has
// completed).
type tbWriter struct {
	mu     sync.Mutex
	t      TB
	closed bool
}

func (w *tbWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Logf("engine: %s", bytes.TrimRight(p, "\n"))
	}
	return len(p), nil
}

func (w *tbWriter) close() {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

// dropTime leaves out the wall-clock time of log records: the engine's time
// is the kit's clock.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}
