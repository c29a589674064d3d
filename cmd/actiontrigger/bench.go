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
)

// bench runs a burn-down: n executions of an async `condition -> create`
// workflow are queued first, then the workers drain them. It prints a progress
// line every second and a summary as its last line.
func bench(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(out)
	kind := fs.String("store", "memory", "store: memory, sqlite or postgres")
	db := fs.String("db", "", "sqlite: file path (default: a new temp file); postgres: DSN (default: $ACTIONTRIGGER_TEST_POSTGRES_DSN)")
	n := fs.Int("n", 20000, "executions to queue and drain")
	workers := fs.Int("workers", 0, "workers (default: the engine's default for this machine)")
	batch := fs.Int("batch", 1000, "records per AfterAction call while queueing (one execution each)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the drain (not the queueing) to this file")
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

	var (
		done    atomic.Int64
		mu      sync.Mutex
		latency []time.Duration // claim to end, per execution
	)
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{
		Store: store, Workers: *workers,
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		Collections: benchCollections(),
		OnRunDone: func(x *flow.Execution) {
			if !x.Status.Ended() {
				return
			}
			d := x.EndedAt.Sub(x.StartedAt)
			mu.Lock()
			latency = append(latency, d)
			mu.Unlock()
			done.Add(1)
		},
	})
	if err != nil {
		return err
	}
	key := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	if _, err := eng.SaveWorkflow(ctx, benchWorkflow(key)); err != nil {
		return err
	}
	fmt.Fprintf(out, "bench: %d executions of condition -> create on %s, %d CPUs, %s\n", *n, storeName, runtime.NumCPU(), runtime.Version())

	queued := time.Now()
	action := actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: key}
	user := actiontrigger.User{ID: 1, Role: "member"}
	for i := 0; i < *n; i += *batch {
		m := min(*batch, *n-i)
		recs := make([]map[string]any, m)
		for j := range recs {
			recs[j] = map[string]any{"id": i + j + 1, "title": fmt.Sprintf("claim %d", i+j+1), "amount": float64((i + j) % 1000)}
		}
		if _, err := eng.AfterAction(ctx, action, recs, user); err != nil {
			return fmt.Errorf("queue: %w", err)
		}
	}
	fmt.Fprintf(out, "queued %d executions in %.2fs\n", *n, time.Since(queued).Seconds())

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	if err := eng.Start(ctx); err != nil {
		return err
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last, lastAt := int64(0), start
	for done.Load() < int64(*n) {
		select {
		case <-ctx.Done():
			_ = eng.Stop(context.WithoutCancel(ctx))
			return ctx.Err()
		case now := <-tick.C:
			d := done.Load()
			fmt.Fprintf(out, "%5.1fs  %7d/%d done  %8.0f executions/s\n", now.Sub(start).Seconds(), d, *n, float64(d-last)/now.Sub(lastAt).Seconds())
			last, lastAt = d, now
		case <-time.After(10 * time.Millisecond):
		}
	}
	elapsed := time.Since(start)
	if err := eng.Stop(ctx); err != nil {
		return err
	}
	mu.Lock()
	slices.Sort(latency)
	p50, p99 := percentile(latency, 0.50), percentile(latency, 0.99)
	mu.Unlock()
	fmt.Fprintf(out, "total %d executions in %.2fs: %.0f executions/s, p50 %.2f ms, p99 %.2f ms\n",
		*n, elapsed.Seconds(), float64(*n)/elapsed.Seconds(), ms(p50), ms(p99))
	return nil
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

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
