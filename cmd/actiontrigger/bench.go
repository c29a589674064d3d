package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
)

// bench runs a burn-down: n executions of an async `condition -> create`
// workflow are queued first, then the workers drain them. It prints a progress
// line every second and a summary as its last line. With --fail-first it runs
// two burn-downs on one store, of `condition -> node -> create` whose middle
// node passes, then fails its first attempt (a retry policy runs it again
// 1 ms later), and prints both and the ratio of their rates: the cost of a
// retry, read in one command.
func bench(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(out)
	kind := fs.String("store", "memory", "store: memory, sqlite or postgres")
	db := fs.String("db", "", "sqlite: file path (default: a new temp file); postgres: DSN (default: $ACTIONTRIGGER_TEST_POSTGRES_DSN)")
	n := fs.Int("n", 20000, "executions to queue and drain (per burn-down with --fail-first)")
	workers := fs.Int("workers", 0, "workers (default: the engine's default for this machine)")
	batch := fs.Int("batch", 1000, "records per AfterAction call while queueing (one execution each)")
	failFirst := fs.Bool("fail-first", false, "drain n executions whose middle node passes, then n whose middle node fails its first attempt and is retried, and print both and their ratio")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the drain (not the queueing; with --fail-first, of the retrying drain) to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n <= 0 || *batch <= 0 {
		return errors.New("--n and --batch must be positive")
	}
	target := *db
	switch *kind {
	case "memory":
		target = "memory"
	case "sqlite":
		if target == "" {
			dir, err := os.MkdirTemp("", "actiontrigger-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			target = filepath.Join(dir, "bench.db")
		}
	case "postgres":
		if target == "" {
			target = os.Getenv("ACTIONTRIGGER_TEST_POSTGRES_DSN")
		}
		if target == "" {
			return errors.New("--store postgres needs --db <dsn> or ACTIONTRIGGER_TEST_POSTGRES_DSN")
		}
	default:
		return fmt.Errorf("unknown --store %q (memory, sqlite or postgres)", *kind)
	}
	store, storeName, err := openStore(ctx, target)
	if err != nil {
		return err
	}
	if c, ok := store.(io.Closer); ok {
		defer c.Close()
	}
	d := benchDrain{store: store, n: *n, workers: *workers, batch: *batch}
	if !*failFirst {
		fmt.Fprintf(out, "bench: %d executions of condition -> create on %s, %d CPUs, %s\n", *n, storeName, runtime.NumCPU(), runtime.Version())
		d.cpuprofile = *cpuprofile
		_, err := d.run(ctx, out, benchWorkflow(fmt.Sprintf("bench-%d", time.Now().UnixNano())), "")
		return err
	}

	fmt.Fprintf(out, "bench --fail-first: %d executions of condition -> node -> create whose node passes, then %d whose node fails its first attempt (retried %d ms later), on %s, %d CPUs, %s\n",
		*n, *n, benchRetry.InitialInterval, storeName, runtime.NumCPU(), runtime.Version())
	plain, err := d.run(ctx, out, benchRetryWorkflow(fmt.Sprintf("bench-pass-%d", time.Now().UnixNano()), 0), "passing node: ")
	if err != nil {
		return err
	}
	d.cpuprofile = *cpuprofile
	retried, err := d.run(ctx, out, benchRetryWorkflow(fmt.Sprintf("bench-fail-first-%d", time.Now().UnixNano()), 1), "failing first attempt: ")
	if err != nil {
		return err
	}
	if plain.retries != 0 || retried.retries != *n {
		return fmt.Errorf("retries: %d without failures and %d with, want 0 and %d", plain.retries, retried.retries, *n)
	}
	printPaired(out, "fail-first/passing", "executions/s", plain.timing, retried.timing)
	return nil
}

// benchDrain is one store's burn-down settings.
type benchDrain struct {
	store           recordsStore
	n, workers      int
	batch           int
	cpuprofile      string
	firstID, lastID int // record ids of the last run
}

// benchResult is what one burn-down measured.
type benchResult struct {
	timing // executions/s; start to end of each execution
	// retries counts the runs that ended waiting (a retry backoff).
	retries int
}

// run queues d.n executions of w on a new engine, drains them, and prints
// progress and a total line starting with label.
func (d *benchDrain) run(ctx context.Context, out io.Writer, w flow.Workflow, label string) (benchResult, error) {
	var (
		done    atomic.Int64
		waits   atomic.Int64
		failed  atomic.Int64
		mu      sync.Mutex
		latency []time.Duration // claim to end, per execution
	)
	reg := nodes.DefaultRegistry()
	reg.MustRegister("bench-fail-first", benchFailFirst{})
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{
		Store: d.store, Workers: d.workers, Nodes: reg,
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		Collections: benchCollections(),
		OnRunDone: func(x *flow.Execution) {
			if !x.Status.Ended() {
				waits.Add(1)
				return
			}
			if x.Status != flow.ExecutionResolved {
				failed.Add(1)
			}
			d := x.EndedAt.Sub(x.StartedAt)
			mu.Lock()
			latency = append(latency, d)
			mu.Unlock()
			done.Add(1)
		},
	})
	if err != nil {
		return benchResult{}, err
	}
	if _, err := eng.SaveWorkflow(ctx, w); err != nil {
		return benchResult{}, err
	}

	queued := time.Now()
	action := actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: w.Key}
	user := actiontrigger.User{ID: 1, Role: "member"}
	d.firstID = d.lastID + 1
	for i := 0; i < d.n; i += d.batch {
		m := min(d.batch, d.n-i)
		recs := make([]map[string]any, m)
		for j := range recs {
			id := d.firstID + i + j
			recs[j] = map[string]any{"id": id, "title": fmt.Sprintf("claim %d", id), "amount": float64(id % 1000)}
		}
		if _, err := eng.AfterAction(ctx, action, recs, user); err != nil {
			return benchResult{}, fmt.Errorf("queue: %w", err)
		}
	}
	d.lastID = d.firstID + d.n - 1
	fmt.Fprintf(out, "%squeued %d executions in %.2fs\n", label, d.n, time.Since(queued).Seconds())

	if d.cpuprofile != "" {
		f, err := os.Create(d.cpuprofile)
		if err != nil {
			return benchResult{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return benchResult{}, err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	if err := eng.Start(ctx); err != nil {
		return benchResult{}, err
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastAt := int64(0), start
	for done.Load() < int64(d.n) {
		select {
		case <-ctx.Done():
			_ = eng.Stop(context.WithoutCancel(ctx))
			return benchResult{}, ctx.Err()
		case now := <-tick.C:
			c := done.Load()
			fmt.Fprintf(out, "%5.1fs  %7d/%d done  %8.0f executions/s\n", now.Sub(start).Seconds(), c, d.n, float64(c-last)/now.Sub(lastAt).Seconds())
			last, lastAt = c, now
		case <-time.After(10 * time.Millisecond):
		}
	}
	elapsed := time.Since(start)
	if err := eng.Stop(ctx); err != nil {
		return benchResult{}, err
	}
	if f := failed.Load(); f > 0 {
		return benchResult{}, fmt.Errorf("%d executions did not end RESOLVED", f)
	}
	mu.Lock()
	slices.Sort(latency)
	r := benchResult{timing: timingOf(d.n, elapsed, latency), retries: int(waits.Load())}
	mu.Unlock()
	fmt.Fprintf(out, "%stotal %d executions in %.2fs: %.0f executions/s, p50 %.2f ms, p99 %.2f ms\n",
		label, d.n, elapsed.Seconds(), r.rate, ms(r.p50), ms(r.p99))
	return r, nil
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// timing is what a run measured and a paired run compares: its rate and
// the percentiles of its latencies.
type timing struct {
	rate     float64
	p50, p99 time.Duration
}

// timingOf is the timing of n operations in elapsed, with their latencies
// sorted.
func timingOf(n int, elapsed time.Duration, sorted []time.Duration) timing {
	return timing{rate: float64(n) / elapsed.Seconds(), p50: percentile(sorted, 0.50), p99: percentile(sorted, 0.99)}
}

// printPaired prints the line of a paired run: the rate of other against
// base, in unit, and how its latencies moved.
func printPaired(out io.Writer, what, unit string, base, other timing) {
	fmt.Fprintf(out, "paired: %s rate %.2fx (%.0f / %.0f %s), p50 %.2f -> %.2f ms (%+.2f ms), p99 %.2f -> %.2f ms (%+.2f ms)\n",
		what, other.rate/base.rate, other.rate, base.rate, unit,
		ms(base.p50), ms(other.p50), ms(other.p50)-ms(base.p50),
		ms(base.p99), ms(other.p99), ms(other.p99)-ms(base.p99))
}

func benchCollections() []flow.Collection {
	return []flow.Collection{
		{Name: "expenses", Fields: []flow.Field{{Name: "title", Type: flow.FieldString}, {Name: "amount", Type: flow.FieldNumber}}},
		{Name: "ledger", Fields: []flow.Field{{Name: "title", Type: flow.FieldString}, {Name: "amount", Type: flow.FieldNumber}}},
	}
}

func benchWorkflow(key string) flow.Workflow {
	return flow.Workflow{
		Key: key, Title: "bench: condition -> create", Enabled: true,
		Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{
			{Key: "small", Type: "condition", Config: map[string]any{"engine": "expr", "expression": "$context.data.amount < 500"}},
			{Key: "book", Type: "create", Config: map[string]any{"collection": "ledger",
				"params": map[string]any{"values": map[string]any{"title": "{{$context.data.title}}", "amount": "{{$context.data.amount}}"}}}},
		},
	}
}

// benchRetry is the retry policy of the --fail-first workflows: one more
// attempt, 1 ms after the first (the shortest backoff a policy sets).
var benchRetry = flow.RetryPolicy{MaxAttempts: 2, InitialInterval: 1, MaxInterval: 1}

// benchRetryWorkflow is `condition -> bench-fail-first -> create` whose
// middle node fails its first failFirst attempts, under benchRetry.
func benchRetryWorkflow(key string, failFirst int) flow.Workflow {
	w := benchWorkflow(key)
	w.Title = "bench: condition -> node -> create"
	w.Nodes = []flow.Node{w.Nodes[0], {Key: "flaky", Type: "bench-fail-first", Config: map[string]any{"failFirst": failFirst}}, w.Nodes[1]}
	p := benchRetry
	w.Options.Retry = &p
	return w
}

// benchFailFirst is a node type that fails its first config.failFirst
// attempts of each execution, then resolves. It only computes (atomic), as
// the other nodes of the bench workflows do.
type benchFailFirst struct{}

func (benchFailFirst) Atomic() bool { return true }

func (benchFailFirst) Compile(_ *nodes.CompileContext, n *flow.Node) (any, error) {
	switch v := n.Config["failFirst"].(type) {
	case int:
		return v, nil
	case float64:
		return int(v), nil
	case nil:
		return 0, nil
	}
	return nil, fmt.Errorf("failFirst: want a number, not %T", n.Config["failFirst"])
}

func (benchFailFirst) Run(_ context.Context, r *nodes.RunContext, _ *flow.Job) (nodes.Result, error) {
	if a := r.Attempt(); a <= r.Compiled.(int) {
		return nodes.Result{}, fmt.Errorf("bench: attempt %d fails on purpose", a)
	}
	return nodes.Resolved(nil), nil
}
