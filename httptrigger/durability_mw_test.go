package httptrigger_test

// Crash test of the Middleware with Options.Transaction: a host service (a
// child process: this test binary re-executed with MWDUR_* set, running
// TestDurabilityMiddlewareChild) writes each request's row into its own table
// through httptrigger.Tx(r); the parent fires concurrent requests at it and
// SIGKILLs it at random moments, restarting it each time. Whatever the moment
// of the kill, a host row and the queued execution of its async workflow
// exist together or not at all, and every acknowledged request has both.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/httptrigger"
	"github.com/actiontrigger/actiontrigger/internal/teststores"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore/postgres"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore/sqlite"
)

// Environment of a child process.
const (
	mwdEnvStore = "MWDUR_STORE" // "sqlite" or "postgres"
	mwdEnvDB    = "MWDUR_DB"    // SQLite path or PostgreSQL DSN
	mwdEnvAddr  = "MWDUR_ADDR"  // file the child writes its listen address to
	mwdWorkflow = "mwdur-book"
	mwdLease    = time.Second
	mwdKills    = 100 // kills with requests in flight, per store
	mwdClients  = 4   // concurrent clients while a child serves
)

func mwdCollections() []flow.Collection {
	return []flow.Collection{
		{Name: "expenses", Fields: []flow.Field{{Name: "title", Type: flow.FieldString}}},
		{Name: "ledger", Fields: []flow.Field{{Name: "expenseId", Type: flow.FieldInteger}, {Name: "title", Type: flow.FieldString}}},
	}
}

// mwdEngine is the engine of a child (workers started) or of the parent.
func mwdEngine(ctx context.Context, store storage.Store, log *slog.Logger) (*actiontrigger.Engine, error) {
	return actiontrigger.New(ctx, actiontrigger.Config{
		Store: store, Collections: mwdCollections(), Logger: log,
		Workers: 2, Lease: mwdLease, PollInterval: 50 * time.Millisecond,
		// A hundred SIGKILLs claim some executions far more often than a
		// poison pill would be allowed (Config.MaxClaims): this test is
		// about losing nothing, so none may be quarantined.
		MaxClaims: 1000,
	})
}

func mwdOpen(ctx context.Context, kind, db string) (*sqlstore.Store, error) {
	switch kind {
	case "sqlite":
		return sqlite.Open(ctx, db)
	case "postgres":
		return postgres.Open(ctx, db)
	}
	return nil, fmt.Errorf("unknown store kind %q", kind)
}

// mwdInsert is the host's own INSERT into its own table.
func mwdInsert(kind string) string {
	if kind == "postgres" {
		return `INSERT INTO host_expenses (title) VALUES ($1) RETURNING id`
	}
	return `INSERT INTO host_expenses (title) VALUES (?) RETURNING id`
}

// TestDurabilityMiddlewareChild is the host service of the crash test: it
// serves POST /expenses through a Middleware with Transaction until it is
// killed. Without MWDUR_STORE it returns at once.
func TestDurabilityMiddlewareChild(t *testing.T) {
	kind := os.Getenv(mwdEnvStore)
	if kind == "" {
		return // not a child
	}
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	store, err := mwdOpen(ctx, kind, os.Getenv(mwdEnvDB))
	require.NoError(t, err)
	eng, err := mwdEngine(ctx, store, log)
	require.NoError(t, err)
	require.NoError(t, eng.Start(ctx))

	insert := mwdInsert(kind)
	mw := httptrigger.NewMiddleware(eng, httptrigger.Options{Transaction: true, Logger: log})
	mux := http.NewServeMux()
	mux.Handle("POST /expenses", mw.Action("expenses", actiontrigger.ActionCreate)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Title string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		tx, ok := httptrigger.Tx(r)
		if !ok {
			http.Error(w, "no transaction", http.StatusInternalServerError)
			return
		}
		var id int64
		if err := tx.QueryRowContext(r.Context(), insert, in.Title).Scan(&id); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		rec := map[string]any{"id": id, "title": in.Title}
		httptrigger.Report(r, rec)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"data": rec})
	})))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addrFile := os.Getenv(mwdEnvAddr)
	require.NoError(t, os.WriteFile(addrFile+".tmp", []byte(ln.Addr().String()), 0o600))
	require.NoError(t, os.Rename(addrFile+".tmp", addrFile))
	err = http.Serve(ln, mux) // until the parent kills the process
	t.Fatalf("server ended: %v", err)
}

// mwdChild is one running host process.
type mwdChild struct {
	cmd    *exec.Cmd
	out    *bytes.Buffer
	exited chan error
}

func mwdStart(t *testing.T, kind, db, addrFile string) *mwdChild {
	t.Helper()
	c := &mwdChild{out: &bytes.Buffer{}, exited: make(chan error, 1)}
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestDurabilityMiddlewareChild$", "-test.count=1", "-test.timeout=5m")
	c.cmd.Env = append(os.Environ(), mwdEnvStore+"="+kind, mwdEnvDB+"="+db, mwdEnvAddr+"="+addrFile)
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	require.NoError(t, c.cmd.Start())
	go func() { c.exited <- c.cmd.Wait() }()
	t.Cleanup(func() { _ = c.cmd.Process.Kill() })
	return c
}

// mwdWaitAddr waits for the child to listen and returns its address.
func mwdWaitAddr(t *testing.T, c *mwdChild, addrFile string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if b, err := os.ReadFile(addrFile); err == nil {
			return string(b)
		}
		select {
		case err := <-c.exited:
			t.Fatalf("child exited before serving: %v\n%s", err, c.out.String())
		case <-deadline:
			t.Fatalf("child not serving after 30s\n%s", c.out.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// mwdAck is an acknowledged request: the host said 201 with this id.
type mwdAck struct {
	id    int64
	title string
}

// mwdRun crashes the host kill by kill and checks the end state. childDB is
// the database the children open; settled, if set, waits until no write of a
// killed child can still commit (a PostgreSQL backend finishes a COMMIT it
// received before its client died).
func mwdRun(t *testing.T, kind, db, childDB string, settled func(ctx context.Context) error) {
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	store, err := mwdOpen(ctx, kind, db)
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	ddl := `CREATE TABLE host_expenses (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL UNIQUE)`
	if kind == "postgres" {
		ddl = `CREATE TABLE host_expenses (id BIGSERIAL PRIMARY KEY, title TEXT NOT NULL UNIQUE)`
	}
	_, err = store.DB().ExecContext(ctx, ddl)
	require.NoError(t, err)
	setup, err := mwdEngine(ctx, store, quiet)
	require.NoError(t, err)
	_, err = setup.SaveWorkflow(ctx, flow.Workflow{
		Key: mwdWorkflow, Enabled: true, Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{{Key: "book", Type: "create", Config: map[string]any{"collection": "ledger", "params": map[string]any{
			"values": map[string]any{"expenseId": "{{$context.data.id}}", "title": "{{$context.data.title}}"},
		}}}},
	})
	require.NoError(t, err)

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: mwdClients}}
	var (
		mu    sync.Mutex
		acked []mwdAck
		sent  atomic.Int64
		cut   atomic.Int64 // requests in flight at a kill
	)
	dir := t.TempDir()
	killsInFlight, kills := 0, 0
	for killsInFlight < mwdKills {
		require.Less(t, kills, 3*mwdKills, "only %d of %d kills found requests in flight", killsInFlight, kills)
		addrFile := filepath.Join(dir, fmt.Sprintf("addr-%d", kills))
		child := mwdStart(t, kind, childDB, addrFile)
		addr := mwdWaitAddr(t, child, addrFile)

		var inFlight atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range mwdClients {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					title := fmt.Sprintf("k%d-c%d-%d", kills, w, i)
					inFlight.Add(1)
					sent.Add(1)
					res, err := client.Post("http://"+addr+"/expenses?triggerWorkflows="+mwdWorkflow, "application/json",
						strings.NewReader(`{"title":"`+title+`"}`))
					inFlight.Add(-1)
					if err != nil {
						continue // the host died under the request: no acknowledgement
					}
					var body struct{ Data struct{ ID int64 } }
					err = json.NewDecoder(res.Body).Decode(&body)
					res.Body.Close()
					if res.StatusCode == http.StatusCreated && err == nil {
						mu.Lock()
						acked = append(acked, mwdAck{id: body.Data.ID, title: title})
						mu.Unlock()
					} else if res.StatusCode != http.StatusCreated {
						t.Errorf("request %s: status %d", title, res.StatusCode)
					}
				}
			})
		}
		time.Sleep(time.Duration(30+rand.IntN(51)) * time.Millisecond)
		close(stop) // no new requests; those in flight meet the kill
		if n := inFlight.Load(); n > 0 {
			killsInFlight++
			cut.Add(n)
		}
		require.NoError(t, child.cmd.Process.Signal(syscall.SIGKILL))
		if err := <-child.exited; err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("child %d did not die of the kill: %v\n%s", kills, err, child.out.String())
		}
		wg.Wait()
		kills++
	}
	t.Logf("%s: %d kills (%d with requests in flight, %d requests cut), %d requests, %d acknowledged, in %s",
		kind, kills, killsInFlight, cut.Load(), sent.Load(), len(acked), time.Since(started).Round(time.Millisecond))

	if settled != nil {
		require.NoError(t, settled(ctx))
	}

	// Every host row has exactly one execution, and every execution its row.
	rows := map[int64]string{}
	q, err := store.DB().QueryContext(ctx, `SELECT id, title FROM host_expenses`)
	require.NoError(t, err)
	for q.Next() {
		var id int64
		var title string
		require.NoError(t, q.Scan(&id, &title))
		rows[id] = title
	}
	require.NoError(t, q.Err())
	require.NoError(t, q.Close())
	xs, err := store.ListExecutions(ctx, storage.ExecutionFilter{Key: mwdWorkflow})
	require.NoError(t, err)
	perRow := map[int64]int{}
	bad := 0
	for _, x := range xs {
		data, _ := x.Context["data"].(map[string]any)
		var id int64
		_, _ = fmt.Sscan(fmt.Sprint(data["id"]), &id)
		title, ok := rows[id]
		if !ok || title != data["title"] {
			if bad++; bad <= 10 {
				t.Errorf("execution %s (%v) has no host row", x.ID, data)
			}
		}
		perRow[id]++
	}
	for id, title := range rows {
		if c := perRow[id]; c != 1 {
			if bad++; bad <= 10 {
				t.Errorf("host row %d %q has %d executions, want 1", id, title, c)
			}
		}
	}
	for _, a := range acked {
		if rows[a.id] != a.title {
			if bad++; bad <= 10 {
				t.Errorf("acknowledged request %q (id %d) has no host row", a.title, a.id)
			}
		}
	}
	require.Zero(t, bad, "rows and executions out of step")
	require.GreaterOrEqual(t, len(acked), mwdKills, "too few acknowledged requests to mean anything")
	require.Greater(t, len(rows), len(acked)-1)

	// The queued executions all run once the host is back: one ledger row per
	// host row (executions a kill left started are reclaimed when their
	// lease expires).
	eng, err := mwdEngine(ctx, store, quiet)
	require.NoError(t, err)
	require.NoError(t, eng.Start(ctx))
	t.Cleanup(func() {
		stopCtx, stopCancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer stopCancel()
		_ = eng.Stop(stopCtx)
	})
	deadline := time.Now().Add(time.Minute)
	for {
		left, err := store.ListExecutions(ctx, storage.ExecutionFilter{
			Statuses: []flow.ExecutionStatus{flow.ExecutionQueueing, flow.ExecutionStarted}, Limit: 1})
		require.NoError(t, err)
		if len(left) == 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "executions still unfinished after a minute")
		time.Sleep(50 * time.Millisecond)
	}
	ledger, err := store.ListRecords(ctx, "ledger", nil, nil)
	require.NoError(t, err)
	perExpense := map[string]int{}
	for _, r := range ledger {
		perExpense[fmt.Sprint(r["expenseId"])]++
	}
	for id := range rows {
		if c := perExpense[fmt.Sprint(id)]; c != 1 {
			if bad++; bad <= 10 {
				t.Errorf("host row %d has %d ledger rows, want 1", id, c)
			}
		}
	}
	for _, r := range ledger {
		var id int64
		_, _ = fmt.Sscan(fmt.Sprint(r["expenseId"]), &id)
		if _, ok := rows[id]; !ok || perExpense[fmt.Sprint(id)] != 1 {
			if bad++; bad <= 10 {
				t.Errorf("ledger row %v points at no host row, or at one with several", r)
			}
		}
	}
	require.Zero(t, bad)
	require.Equal(t, len(rows), len(ledger), "ledger rows")
	t.Logf("%s: %d host rows (%d committed but not acknowledged), each with one execution and one ledger row; total %s",
		kind, len(rows), len(rows)-len(acked), time.Since(started).Round(time.Millisecond))
}

// TestDurabilityMiddlewareSQLite runs the crash test on a SQLite file.
func TestDurabilityMiddlewareSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "host.db")
	mwdRun(t, "sqlite", path, path, nil)
}

// TestDurabilityMiddlewarePostgres runs the crash test on a fresh schema of
// the database ACTIONTRIGGER_TEST_POSTGRES_DSN names (required in CI).
func TestDurabilityMiddlewarePostgres(t *testing.T) {
	dsn := os.Getenv(teststores.EnvPostgresDSN)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI", teststores.EnvPostgresDSN)
		}
		t.Skipf("PostgreSQL crash test skipped: set %s to run it", teststores.EnvPostgresDSN)
	}
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	schema := fmt.Sprintf("mwdur_%d_%08x", time.Now().UnixNano(), rand.Uint32())
	_, err = admin.Exec("CREATE SCHEMA " + schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
		_ = admin.Close()
	})
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	qv := u.Query()
	qv.Set("search_path", schema)
	u.RawQuery = qv.Encode()
	db := u.String()
	// The children's sessions carry the schema's name, so that the parent can
	// wait for the last killed child's backends to end.
	qv.Set("application_name", schema)
	u.RawQuery = qv.Encode()
	settled := func(ctx context.Context) error {
		for range 500 {
			var n int
			err := admin.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, schema).Scan(&n)
			if err != nil || n == 0 {
				return err
			}
			time.Sleep(20 * time.Millisecond)
		}
		return fmt.Errorf("sessions of killed children still open after 10s")
	}
	mwdRun(t, "postgres", db, u.String(), settled)
}
