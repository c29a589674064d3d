package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/httptrigger"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore"
)

// load fires n creates at concurrency c, each binding one sync
// condition -> create workflow, against a running server (--url) or against
// one it starts in this process on a fresh store (the default: a temporary
// SQLite file), and prints requests/s and the latency percentiles. With
// --paired it first fires the same n creates without triggerWorkflows, on the
// same server and store, and prints both runs and the ratio of their rates:
// the cost of the workflow, read in one command.
func load(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(out)
	target := fs.String("url", "", "base URL of a running server (default: start one in this process)")
	token := fs.String("token", "", "bearer token (with --url)")
	role := fs.String("role", "", "X-Role header (optional)")
	coll := fs.String("collection", "expenses", "collection to create records in (with --url)")
	wf := fs.String("workflow", "load-sync", "triggerWorkflows value (with --url: a sync workflow bound to the collection)")
	db := fs.String("db", "", "store of the in-process server: a SQLite file, a postgres:// DSN, or \"memory\" (default: a temporary SQLite file)")
	n := fs.Int("n", 20000, "requests (per run with --paired)")
	c := fs.Int("c", 16, "concurrent clients")
	paired := fs.Bool("paired", false, "run the n creates without triggerWorkflows first, then with it, and print both and their ratio")
	noRowCounts := fs.Bool("without-row-counts", false, "create the SQL store's record tables without their row-count triggers (sqlstore.WithoutRowCounts)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of this process (client and in-process server) to the file")
	if err := fs.Parse(args); err != nil {
		return err
	}
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
	if *n < 1 || *c < 1 {
		return fmt.Errorf("--n and --c must be at least 1")
	}
	base, storeName := *target, ""
	var srv *loadServer
	if base == "" {
		var err error
		var opts []sqlstore.Option
		if *noRowCounts {
			opts = append(opts, sqlstore.WithoutRowCounts())
		}
		srv, err = startLoadServer(ctx, *db, *wf, opts...)
		if err != nil {
			return err
		}
		defer srv.close()
		base, storeName = srv.url, srv.storeName
		*token, *coll = srv.token, "expenses"
	} else if *token == "" {
		return fmt.Errorf("--url needs --token")
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return fmt.Errorf("--url %q: want http://host:port", base)
	}
	create := fmt.Sprintf("%s/api/%s:create", base, *coll)
	where := base
	if storeName != "" {
		where += ", in-process server on " + storeName
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: *c * 2, MaxIdleConnsPerHost: *c * 2, IdleConnTimeout: 30 * time.Second,
	}}
	defer client.CloseIdleConnections()
	r := loadRun{client: client, token: *token, role: *role, n: *n, c: *c}

	if !*paired {
		fmt.Fprintf(out, "load: %d creates at concurrency %d against %s, triggerWorkflows=%s\n", *n, *c, where, *wf)
		r.endpoint = create + "?triggerWorkflows=" + url.QueryEscape(*wf)
		res, err := r.fire(ctx, out, "")
		if err != nil {
			return err
		}
		if srv != nil {
			return srv.check(ctx, out, res.count, res.count)
		}
		return nil
	}

	fmt.Fprintf(out, "load --paired: %d creates without, then %d with triggerWorkflows=%s, at concurrency %d against %s\n", *n, *n, *wf, *c, where)
	r.endpoint = create
	bare, err := r.fire(ctx, out, "bare create: ")
	if err != nil {
		return err
	}
	if srv != nil {
		if err := srv.check(ctx, out, bare.count, 0); err != nil {
			return err
		}
	}
	r.endpoint = create + "?triggerWorkflows=" + url.QueryEscape(*wf)
	withWF, err := r.fire(ctx, out, "create + sync workflow: ")
	if err != nil {
		return err
	}
	if srv != nil {
		if err := srv.check(ctx, out, withWF.count, withWF.count); err != nil {
			return err
		}
	}
	printPaired(out, "workflow/bare", "requests/s", bare.timing, withWF.timing)
	return nil
}

// loadRun is one run of load: n POSTs of a create to endpoint from c clients.
type loadRun struct {
	client                *http.Client
	endpoint, token, role string
	n, c                  int
}

// loadResult is what one loadRun measured.
type loadResult struct {
	count int
	timing
}

// fire runs r, printing progress every second and, prefixed by label, the
// total line; a failed request fails the run.
func (r loadRun) fire(ctx context.Context, out io.Writer, label string) (loadResult, error) {
	var (
		next, done, failed atomic.Int64
		firstErr           atomic.Value
		wg                 sync.WaitGroup
		mu                 sync.Mutex
		latency            = make([]time.Duration, 0, r.n)
	)
	start := time.Now()
	stopProgress := progress(out, start, &done, "requests")
	for range r.c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, r.n/r.c+1)
			for {
				i := next.Add(1)
				if i > int64(r.n) || ctx.Err() != nil {
					break
				}
				body := fmt.Sprintf(`{"title":"load %d","amount":%d}`, i, i%400)
				t0 := time.Now()
				err := post(ctx, r.client, r.endpoint, r.token, r.role, body)
				lat = append(lat, time.Since(t0))
				done.Add(1)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
			mu.Lock()
			latency = append(latency, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	if err := ctx.Err(); err != nil {
		return loadResult{}, err
	}
	slices.Sort(latency)
	res := loadResult{count: len(latency), timing: timingOf(len(latency), elapsed, latency)}
	fmt.Fprintf(out, "%stotal %d requests in %.2fs: %.0f requests/s, p50 %.2f ms, p99 %.2f ms, %d failed\n",
		label, res.count, elapsed.Seconds(), res.rate, ms(res.p50), ms(res.p99), failed.Load())
	if f := failed.Load(); f > 0 {
		return res, fmt.Errorf("%d of %d requests failed; first: %v", f, len(latency), firstErr.Load())
	}
	return res, nil
}

// post sends one create and reads the whole response.
func post(ctx context.Context, client *http.Client, endpoint, token, role, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if role != "" {
		req.Header.Set("X-Role", role)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	return nil
}

// progress prints the count and rate of done every second until stopped.
func progress(out io.Writer, start time.Time, done *atomic.Int64, what string) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last := int64(0)
		for {
			select {
			case <-quit:
				return
			case now := <-tick.C:
				d := done.Load()
				fmt.Fprintf(out, "  %4.0fs: %d %s, %d %s/s\n", now.Sub(start).Seconds(), d, what, d-last, what)
				last = d
			}
		}
	}()
	return func() { close(quit); wg.Wait() }
}

// loadServer is the in-process server of load.
type loadServer struct {
	url, token, storeName string
	// check verifies that the store gained, since the last check (or the
	// start), the expenses this run created and as many ledger records and
	// resolved sync executions as runs of the workflow were asked for.
	check func(ctx context.Context, out io.Writer, expenses, runs int) error
	close func()
}

// startLoadServer starts the API on a fresh store with one sync
// condition -> create workflow on expenses, listening on a free port.
func startLoadServer(ctx context.Context, db, key string, opts ...sqlstore.Option) (*loadServer, error) {
	var cleanup []func()
	closeAll := func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}
	if db == "" {
		dir, err := os.MkdirTemp("", "actiontrigger-load-")
		if err != nil {
			return nil, err
		}
		cleanup = append(cleanup, func() { os.RemoveAll(dir) })
		db = filepath.Join(dir, "load.db")
	}
	store, storeName, err := openStore(ctx, db, opts...)
	if err != nil {
		closeAll()
		return nil, err
	}
	if c, ok := store.(io.Closer); ok {
		cleanup = append(cleanup, func() { c.Close() })
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{Store: store, Collections: benchCollections(), Logger: logger})
	if err != nil {
		closeAll()
		return nil, err
	}
	wf := benchWorkflow(key)
	wf.Sync = true
	wf.Title = "load: sync condition -> create"
	if _, err := eng.SaveWorkflow(ctx, wf); err != nil {
		closeAll()
		return nil, err
	}
	if err := eng.Start(ctx); err != nil {
		closeAll()
		return nil, err
	}
	cleanup = append(cleanup, func() { _ = eng.Stop(context.WithoutCancel(ctx)) })
	const token = "load-token"
	api, err := httptrigger.NewAPI(eng, httptrigger.APIOptions{
		Authenticator: httptrigger.Tokens{token: {User: actiontrigger.User{ID: 1}, Roles: []string{"member"}}},
		Grants:        []httptrigger.Grant{{Role: "member", Collection: "expenses", Actions: []httptrigger.GrantAction{httptrigger.GrantCreate}}},
		Logger:        logger,
	})
	if err != nil {
		closeAll()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		closeAll()
		return nil, err
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	cleanup = append(cleanup, func() { _ = srv.Close() })
	// Every request that binds the workflow must run it once: one ledger
	// record and one resolved sync execution per created expense; one that
	// does not, none. Counted as deltas, so a store that already holds data (a
	// shared PostgreSQL) checks too.
	count := func(ctx context.Context) (expenses, ledger, resolved int, err error) {
		ex, err := store.ListRecords(ctx, "expenses", nil, nil)
		if err != nil {
			return 0, 0, 0, err
		}
		lg, err := store.ListRecords(ctx, "ledger", nil, nil)
		if err != nil {
			return 0, 0, 0, err
		}
		xs, err := store.ListExecutions(ctx, storage.ExecutionFilter{Key: key, Statuses: []flow.ExecutionStatus{flow.ExecutionResolved}})
		if err != nil {
			return 0, 0, 0, err
		}
		return len(ex), len(lg), len(xs), nil
	}
	e0, l0, x0, err := count(ctx)
	if err != nil {
		closeAll()
		return nil, err
	}
	check := func(ctx context.Context, out io.Writer, wantExpenses, wantRuns int) error {
		e1, l1, x1, err := count(ctx)
		if err != nil {
			return err
		}
		e, l, x := e1-e0, l1-l0, x1-x0
		e0, l0, x0 = e1, l1, x1
		if e != wantExpenses || l != wantRuns || x != wantRuns {
			return fmt.Errorf("check failed: %d new expenses, %d new ledger records, %d new resolved executions; want %d, %d, %d",
				e, l, x, wantExpenses, wantRuns, wantRuns)
		}
		fmt.Fprintf(out, "checked: %d expenses, %d ledger records, %d resolved sync executions\n", e, l, x)
		return nil
	}
	return &loadServer{url: "http://" + ln.Addr().String(), token: token, storeName: storeName, check: check, close: closeAll}, nil
}
