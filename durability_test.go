package actiontrigger_test

// Durability tests: crash recovery of the durable SQL queue (SQLite) and two
// processes draining one queue (PostgreSQL).
//
// They use the re-exec pattern: the test binary runs itself as a child process
// (-test.run=^TestDurabilityChild$) with DUR_* environment variables telling the
// child what to do; TestDurabilityChild returns at once without them.

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver for the admin connection
	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore/postgres"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore/sqlite"
)

// Environment of a child process.
const (
	durEnvMode    = "DUR_CHILD_MODE"   // "drain": run workers until no execution is left
	durEnvStore   = "DUR_CHILD_STORE"  // "sqlite" or "postgres"
	durEnvDB      = "DUR_CHILD_DB"     // SQLite path or PostgreSQL DSN
	durEnvLease   = "DUR_CHILD_LEASE"  // lease (time.ParseDuration)
	durEnvOut     = "DUR_CHILD_OUT"    // file the child writes its OnRunDone count to
	durEnvReady   = "DUR_CHILD_READY"  // optional file the child creates once its engine exists
	durEnvGo      = "DUR_CHILD_GO"     // optional file the child waits for before starting workers
	durEnvRunLog  = "DUR_CHILD_RUNLOG" // optional file the failfirst nodes append their runs to
	durEnvTag     = "DUR_CHILD_TAG"    // names the child in the run log
	durPGEnv      = "ACTIONTRIGGER_TEST_POSTGRES_DSN"
	durWaitBound  = 2 * time.Minute // every wait of these tests
	durWorkflowID = "dur-expense-ledger"
)

// durLogger prints only the engine's errors (on the child's stderr, which the
// parent logs).
var durLogger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

func durCollections() []flow.Collection {
	return []flow.Collection{
		{Name: "expenses", Fields: []flow.Field{{Name: "title", Type: flow.FieldString}, {Name: "amount", Type: flow.FieldNumber}}},
		{Name: "claims", Fields: []flow.Field{{Name: "title", Type: flow.FieldString}, {Name: "fails", Type: flow.FieldInteger}}},
		{Name: "ledger", Fields: []flow.Field{{Name: "expenseId", Type: flow.FieldInteger}, {Name: "title", Type: flow.FieldString}, {Name: "amount", Type: flow.FieldNumber}}},
	}
}

// durWorkflow is the async `condition (expr) -> create` workflow: every expense
// passes the condition and books one ledger record pointing back at it.
func durWorkflow() flow.Workflow {
	return flow.Workflow{
		Key: durWorkflowID, Title: "durability: condition -> create", Enabled: true,
		Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{
			{Key: "check", Type: "condition", Config: map[string]any{
				"engine": "expr", "expression": "$context.data.amount >= 0", "rejectOnFalse": true,
			}},
			{Key: "book", Type: "create", Config: map[string]any{"collection": "ledger", "params": map[string]any{
				"values": map[string]any{
					"expenseId": "{{$context.data.id}}",
					"title":     "{{$context.data.title}}",
					"amount":    "{{$context.data.amount}}",
				},
			}}},
		},
	}
}

func durOpen(ctx context.Context, kind, db string) (*sqlstore.Store, error) {
	switch kind {
	case "sqlite":
		return sqlite.Open(ctx, db)
	case "postgres":
		return postgres.Open(ctx, db)
	}
	return nil, fmt.Errorf("unknown store kind %q", kind)
}

// durQueue creates n expense records (ids 1..n) and queues one execution of the
// workflow per record through AfterAction, in batches. The engine is not
// started: nothing runs in the parent.
func durQueue(t *testing.T, ctx context.Context, store storage.Store, n, batch int) {
	t.Helper()
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{Store: store, Collections: durCollections(), Logger: durLogger})
	require.NoError(t, err)
	_, err = eng.SaveWorkflow(ctx, durWorkflow())
	require.NoError(t, err)
	action := actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: durWorkflowID}
	for i := 0; i < n; i += batch {
		m := min(batch, n-i)
		recs := make([]map[string]any, m)
		for j := range recs {
			id := i + j + 1
			recs[j] = map[string]any{"id": id, "title": fmt.Sprintf("expense %d", id), "amount": float64(id % 1000)}
		}
		require.NoError(t, store.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
			for _, r := range recs {
				if _, err := tx.(storage.RecordStore).CreateRecord(ctx, "expenses", r); err != nil {
					return err
				}
			}
			return nil
		}))
		res, err := eng.AfterAction(ctx, action, recs, actiontrigger.User{ID: 1, Role: "member"})
		require.NoError(t, err)
		require.Len(t, res.Executions, m, "one queued execution per record")
	}
}

// durCount runs a COUNT(*) query on the store's database.
func durCount(ctx context.Context, store *sqlstore.Store, query string) (int, error) {
	var n int
	err := store.DB().QueryRowContext(ctx, query).Scan(&n)
	return n, err
}

// durUnfinished reports whether an execution is still queued or started.
func durUnfinished(ctx context.Context, store storage.Store) (bool, error) {
	list, err := store.ListExecutions(ctx, storage.ExecutionFilter{
		Statuses: []flow.ExecutionStatus{flow.ExecutionQueueing, flow.ExecutionStarted}, Limit: 1,
	})
	return len(list) > 0, err
}

// durWaitFile polls for a file until it exists or ctx ends.
func durWaitFile(ctx context.Context, path string) error {
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", path, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestDurabilityChild is the child process of the durability tests. In "drain"
// mode it opens the store, starts an engine and runs until no execution is left
// queued or started, then writes how many runs ended on its workers.
func TestDurabilityChild(t *testing.T) {
	mode := os.Getenv(durEnvMode)
	if mode == "" {
		return // not a child: nothing to do
	}
	require.Equal(t, "drain", mode)
	ctx, cancel := context.WithTimeout(context.Background(), durWaitBound)
	defer cancel()
	lease, err := time.ParseDuration(os.Getenv(durEnvLease))
	require.NoError(t, err)
	store, err := durOpen(ctx, os.Getenv(durEnvStore), os.Getenv(durEnvDB))
	require.NoError(t, err)
	defer store.Close()

	reg, closeLog, err := durNodes(os.Getenv(durEnvRunLog), os.Getenv(durEnvTag))
	require.NoError(t, err)
	defer closeLog()
	var done atomic.Int64
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{
		Store: store, Collections: durCollections(), Logger: durLogger, Nodes: reg,
		Workers: 4, Lease: lease, PollInterval: 100 * time.Millisecond,
		OnRunDone: func(x *flow.Execution) {
			if x.Status.Ended() {
				done.Add(1)
			}
		},
	})
	require.NoError(t, err)
	if f := os.Getenv(durEnvReady); f != "" {
		require.NoError(t, os.WriteFile(f, nil, 0o600))
	}
	if f := os.Getenv(durEnvGo); f != "" {
		require.NoError(t, durWaitFile(ctx, f))
	}
	require.NoError(t, eng.Start(ctx))
	for {
		left, err := durUnfinished(ctx, store)
		require.NoError(t, err)
		if !left {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("executions still unfinished after %s (%d ended here)", durWaitBound, done.Load())
		case <-time.After(100 * time.Millisecond):
		}
	}
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer stopCancel()
	require.NoError(t, eng.Stop(stopCtx))
	require.NoError(t, os.WriteFile(os.Getenv(durEnvOut), []byte(strconv.FormatInt(done.Load(), 10)), 0o600))
}

// durChild is a running child process.
type durChild struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	exited chan error
	out    string
}

// durStartChild starts the test binary as a drain child with extra env.
func durStartChild(t *testing.T, ctx context.Context, name string, env ...string) *durChild {
	t.Helper()
	c := &durChild{stderr: &bytes.Buffer{}, exited: make(chan error, 1), out: filepath.Join(t.TempDir(), name+".count")}
	c.cmd = exec.CommandContext(ctx, os.Args[0], "-test.run=^TestDurabilityChild$", "-test.count=1", "-test.timeout=5m")
	c.cmd.Env = append(os.Environ(), append([]string{durEnvMode + "=drain", durEnvOut + "=" + c.out}, env...)...)
	c.cmd.Stdout = c.stderr // go test's own PASS/FAIL lines; kept with the logs
	c.cmd.Stderr = c.stderr
	require.NoError(t, c.cmd.Start(), "start child %s", name)
	go func() { c.exited <- c.cmd.Wait() }()
	t.Cleanup(func() {
		// A failing parent must not leave a child behind (a no-op once it exited).
		_ = c.cmd.Process.Kill()
	})
	return c
}

// logs returns the child's output (read it only once it exited).
func (c *durChild) logs() string { return strings.TrimSpace(c.stderr.String()) }

// durCheck asserts the end state: n executions, all RESOLVED, released, each of
// one distinct expense with exactly the two jobs of the workflow; and exactly
// one ledger record per expense. It returns how many executions were claimed
// more than once (reclaimed after a crash or a lost lease).
func durCheck(t *testing.T, ctx context.Context, store storage.Store, n int) (reclaimed int) {
	t.Helper()
	xs, err := store.ListExecutions(ctx, storage.ExecutionFilter{Key: durWorkflowID})
	require.NoError(t, err)
	require.Len(t, xs, n, "executions")
	byExpense := map[string]string{}
	bad := 0
	for _, x := range xs {
		if x.Status != flow.ExecutionResolved || x.Runnable || x.LeaseOwner != "" {
			if bad++; bad <= 10 {
				t.Errorf("execution %s: status %v runnable %v lease %q attempt %d reason %q, want RESOLVED and released",
					x.ID, x.Status, x.Runnable, x.LeaseOwner, x.Attempt, x.Reason)
			}
		}
		if x.Attempt > 1 {
			reclaimed++
		}
		data, _ := x.Context["data"].(map[string]any)
		id := fmt.Sprint(data["id"])
		if prev, dup := byExpense[id]; dup {
			t.Errorf("expense %s has two executions: %s and %s", id, prev, x.ID)
		}
		byExpense[id] = x.ID
		jobs, err := store.ListJobs(ctx, x.ID)
		require.NoError(t, err)
		var keys []string
		okJobs := len(jobs) == 2
		for i, j := range jobs {
			keys = append(keys, fmt.Sprintf("%s#%d:%v", j.NodeKey, j.Seq, j.Status))
			want := []string{"check", "book"}
			if i < 2 && (j.NodeKey != want[i] || j.Seq != i+1 || j.Status != flow.JobResolved) {
				okJobs = false
			}
		}
		if !okJobs {
			if bad++; bad <= 10 {
				t.Errorf("execution %s (expense %s, attempt %d): jobs %v, want [check#1:RESOLVED book#2:RESOLVED]", x.ID, id, x.Attempt, keys)
			}
		}
	}
	if bad > 10 {
		t.Errorf("... %d problems with executions in all", bad)
	}
	for i := 1; i <= n; i++ {
		if _, ok := byExpense[strconv.Itoa(i)]; !ok {
			t.Errorf("expense %d has no execution", i)
		}
	}

	ledger, err := store.(storage.RecordStore).ListRecords(ctx, "ledger", nil, nil)
	require.NoError(t, err)
	perExpense := map[string]int{}
	for _, r := range ledger {
		perExpense[fmt.Sprint(r["expenseId"])]++
	}
	missing, dups := 0, 0
	for i := 1; i <= n; i++ {
		switch c := perExpense[strconv.Itoa(i)]; {
		case c == 0:
			if missing++; missing <= 10 {
				t.Errorf("expense %d has no ledger record", i)
			}
		case c > 1:
			if dups++; dups <= 10 {
				t.Errorf("expense %d has %d ledger records, want 1", i, c)
			}
		}
	}
	require.Zero(t, missing, "expenses without a ledger record")
	require.Zero(t, dups, "expenses with duplicate ledger records")
	require.Len(t, ledger, n, "ledger records (some point at no expense)")
	return reclaimed
}

// TestDurabilityCrashSQLite kills two draining processes in turn with SIGKILL
// and checks that a third engine (the parent's) finishes every execution once,
// reclaiming the executions whose leases the dead processes held.
func TestDurabilityCrashSQLite(t *testing.T) {
	const (
		n     = 2000
		lease = time.Second
	)
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 3*durWaitBound)
	defer cancel()
	path := filepath.Join(t.TempDir(), "durability.db")
	store, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	durQueue(t, ctx, store, n, 500)
	t.Logf("queued %d executions in %s", n, time.Since(started).Round(time.Millisecond))

	ledgerCount := func() int {
		c, err := durCount(ctx, store, `SELECT COUNT(*) FROM ledger`)
		require.NoError(t, err)
		return c
	}
	// Kill each child once it ended `step` more executions than there were
	// when it started: some, never all.
	for round, step := range []int{300, 400} {
		before := ledgerCount()
		child := durStartChild(t, ctx, fmt.Sprintf("crash-%d", round+1),
			durEnvStore+"=sqlite", durEnvDB+"="+path, durEnvLease+"="+lease.String())
		deadline := time.After(durWaitBound)
		var at int
	wait:
		for {
			select {
			case err := <-child.exited:
				t.Fatalf("child %d exited before it was killed (err %v, ledger %d of %d): the crash is not exercised\n%s",
					round+1, err, ledgerCount(), n, child.logs())
			case <-deadline:
				t.Fatalf("child %d booked only %d ledger records in %s", round+1, ledgerCount()-before, durWaitBound)
			case <-time.After(5 * time.Millisecond):
				if at = ledgerCount(); at >= before+step {
					break wait
				}
			}
		}
		require.NoError(t, child.cmd.Process.Signal(syscall.SIGKILL))
		err := <-child.exited
		require.Error(t, err, "child %d was killed", round+1)
		after := ledgerCount()
		leased, err := durCount(ctx, store, `SELECT COUNT(*) FROM actiontrigger_executions WHERE lease_owner <> '' AND runnable`)
		require.NoError(t, err)
		t.Logf("child %d killed at %d ledger records (%d after the kill), %d executions left leased by the dead children", round+1, at, after, leased)
		if logs := child.logs(); logs != "" {
			t.Logf("child %d output:\n%s", round+1, logs)
		}
		require.Less(t, after, n, "child %d finished everything before the kill: the crash is not exercised", round+1)
		// No writer is alive: the database shows what the dead child committed.
		// A run of atomic nodes commits its jobs, its side effect and its outcome
		// together, so they must agree, and no execution is left half-run.
		resolved, err := durCount(ctx, store, `SELECT COUNT(*) FROM actiontrigger_executions WHERE status = 1`)
		require.NoError(t, err)
		midRun, err := durCount(ctx, store, `SELECT COUNT(*) FROM actiontrigger_executions WHERE status = 0`)
		require.NoError(t, err)
		jobs, err := durCount(ctx, store, `SELECT COUNT(*) FROM actiontrigger_jobs`)
		require.NoError(t, err)
		require.Equal(t, resolved, after, "after killing child %d: ledger records vs RESOLVED executions", round+1)
		require.Equal(t, 2*resolved, jobs, "after killing child %d: jobs vs 2 x RESOLVED executions", round+1)
		require.Zero(t, midRun, "after killing child %d: STARTED executions (an atomic run must commit once)", round+1)
	}

	// The parent finishes: the dead children's leases must expire and their
	// executions be reclaimed, run after their last persisted job.
	finish := time.Now()
	var done atomic.Int64
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{
		Store: store, Collections: durCollections(), Logger: durLogger,
		Workers: 4, Lease: lease, PollInterval: 100 * time.Millisecond,
		OnRunDone: func(x *flow.Execution) {
			if x.Status.Ended() {
				done.Add(1)
			}
		},
	})
	require.NoError(t, err)
	require.NoError(t, eng.Start(ctx))
	stopEngine := func() error {
		stopCtx, stopCancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer stopCancel()
		return eng.Stop(stopCtx)
	}
	t.Cleanup(func() { _ = stopEngine() }) // before the store closes, if the test fails
	deadline := time.Now().Add(durWaitBound)
	for {
		left, err := durUnfinished(ctx, store)
		require.NoError(t, err)
		if !left {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("executions still unfinished %s after the crashes (ledger %d of %d)", durWaitBound, ledgerCount(), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, stopEngine())
	t.Logf("parent finished %d executions in %s", done.Load(), time.Since(finish).Round(time.Millisecond))

	reclaimed := durCheck(t, ctx, store, n)
	t.Logf("%d executions were claimed more than once; total %s", reclaimed, time.Since(started).Round(time.Millisecond))
	require.Positive(t, reclaimed, "the killed children held no lease: expired-lease recovery was not exercised")
}

// durPostgresDB creates a fresh database on the server of
// ACTIONTRIGGER_TEST_POSTGRES_DSN, dropped at cleanup, and returns its DSN.
func durPostgresDB(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv(durPGEnv)
	if dsn == "" {
		const how = durPGEnv + "=postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI (for example %s)", durPGEnv, how)
		}
		t.Skipf("PostgreSQL durability test skipped: set %s to run it", how)
	}
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	name := fmt.Sprintf("dur_%d_%08x", time.Now().UnixNano(), rand.Uint32())
	at := time.Now()
	_, err = admin.Exec("CREATE DATABASE " + name)
	require.NoError(t, err)
	t.Logf("created database %s in %s", name, time.Since(at).Round(time.Millisecond))
	t.Cleanup(func() {
		at := time.Now()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
		t.Logf("dropped database %s in %s", name, time.Since(at).Round(time.Millisecond))
		_ = admin.Close()
	})
	u, err := url.Parse(dsn)
	require.NoError(t, err, "%s must be a URL to derive a per-test database", durPGEnv)
	u.Path = "/" + name
	return u.String()
}

// TestDurabilityTwoProcessesPostgres drains one PostgreSQL queue from two
// processes at once: every execution must run exactly once, and both
// processes must take part.
func TestDurabilityTwoProcessesPostgres(t *testing.T) {
	const n = 5000
	dsn := durPostgresDB(t)
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 2*durWaitBound)
	defer cancel()
	store, err := postgres.Open(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	durQueue(t, ctx, store, n, 1000)
	t.Logf("queued %d executions in %s", n, time.Since(started).Round(time.Millisecond))

	// Both children create their engine, then start their workers together.
	dir := t.TempDir()
	goFile := filepath.Join(dir, "go")
	children := make([]*durChild, 2)
	for i := range children {
		children[i] = durStartChild(t, ctx, fmt.Sprintf("pg-%d", i+1),
			durEnvStore+"=postgres", durEnvDB+"="+dsn, durEnvLease+"=5s",
			durEnvReady+"="+filepath.Join(dir, fmt.Sprintf("ready-%d", i+1)), durEnvGo+"="+goFile)
	}
	readyCtx, readyCancel := context.WithTimeout(ctx, durWaitBound)
	defer readyCancel()
	for i := range children {
		require.NoError(t, durWaitFile(readyCtx, filepath.Join(dir, fmt.Sprintf("ready-%d", i+1))), "child %d not ready", i+1)
	}
	drain := time.Now()
	require.NoError(t, os.WriteFile(goFile, nil, 0o600))

	total := int64(0)
	var counts []int64
	timeout := time.After(durWaitBound)
	for i, c := range children {
		select {
		case err := <-c.exited:
			require.NoError(t, err, "child %d failed:\n%s", i+1, c.logs())
		case <-timeout:
			t.Fatalf("child %d still draining after %s", i+1, durWaitBound)
		}
		if logs := c.logs(); strings.Contains(logs, "level=ERROR") {
			t.Logf("child %d logged errors:\n%s", i+1, logs)
		}
		raw, err := os.ReadFile(c.out)
		require.NoError(t, err, "child %d wrote no count", i+1)
		k, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
		require.NoError(t, err)
		counts = append(counts, k)
		total += k
	}
	t.Logf("drained in %s: child runs ended %v", time.Since(drain).Round(time.Millisecond), counts)

	for i, k := range counts {
		require.Positive(t, k, "child %d ended no execution: the two processes did not share the queue", i+1)
	}
	require.EqualValues(t, n, total, "runs ended across both children (each execution exactly once)")
	reclaimed := durCheck(t, ctx, store, n)
	t.Logf("%d executions were claimed more than once; total %s", reclaimed, time.Since(started).Round(time.Millisecond))
}
