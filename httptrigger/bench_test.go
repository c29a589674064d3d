package httptrigger_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/executor"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/httptrigger"
	"github.com/actiontrigger/actiontrigger/internal/teststores"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/memory"
)

// BenchmarkAPICreateSync is one POST /api/expenses:create binding a sync
// condition -> create workflow, through the handler (no network): the record,
// the run and the workflow's record in one unit of work. The parallel variant
// shows what shared commits buy on SQLite. The postgres variants run when
// ACTIONTRIGGER_TEST_POSTGRES_DSN names a database (a fresh schema each).
func BenchmarkAPICreateSync(b *testing.B) {
	benchAPICreate(b, "?triggerWorkflows=book")
}

// BenchmarkAPICreateBare is BenchmarkAPICreateSync without the workflow (the
// host's own write): the pair's difference is the workflow's cost.
func BenchmarkAPICreateBare(b *testing.B) {
	benchAPICreate(b, "")
}

func benchAPICreate(b *testing.B, query string) {
	stores := []string{"memory", "sqlite"}
	if os.Getenv(teststores.EnvPostgresDSN) != "" {
		stores = append(stores, "postgres")
	}
	for _, store := range stores {
		for _, parallel := range []bool{false, true} {
			name := store
			if parallel {
				name += "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				api := benchAPI(b, benchStore(b, store))
				var i atomic.Int64
				one := func() error {
					n := i.Add(1)
					r := httptest.NewRequest(http.MethodPost, "/api/expenses:create"+query,
						strings.NewReader(fmt.Sprintf(`{"title": "claim %d", "amount": %d}`, n, n%400)))
					r.Header.Set("Authorization", "Bearer tok")
					r.Header.Set("Content-Type", "application/json")
					w := httptest.NewRecorder()
					api.ServeHTTP(w, r)
					if w.Code != http.StatusOK {
						return fmt.Errorf("status %d: %s", w.Code, w.Body.String())
					}
					return nil
				}
				runRequests(b, parallel, one)
			})
		}
	}
}

// benchStore is a new store of the kind named: "memory", "sqlite" (a file)
// or "postgres" (a fresh schema of the database in
// ACTIONTRIGGER_TEST_POSTGRES_DSN).
func benchStore(b *testing.B, kind string) storage.Store {
	switch kind {
	case "sqlite":
		return teststores.SQLite(b)
	case "postgres":
		return teststores.Postgres(b)
	}
	return memory.New()
}

func benchAPI(b *testing.B, s storage.Store) *httptrigger.API {
	b.Helper()
	eng := benchEngine(b, s)
	api, err := httptrigger.NewAPI(eng, httptrigger.APIOptions{Authenticator: httptrigger.Tokens{
		"tok": {User: actiontrigger.User{ID: 1}, Roles: []string{"member"}},
	}, Grants: []httptrigger.Grant{{Role: "member", Collection: "expenses", Actions: []httptrigger.GrantAction{httptrigger.GrantCreate}}}})
	if err != nil {
		b.Fatal(err)
	}
	return api
}

// benchEngine is the engine of benchAPI: the expenses and ledger collections
// and the sync workflow "book" (condition, then create a ledger record).
func benchEngine(b *testing.B, s storage.Store) *actiontrigger.Engine {
	b.Helper()
	ctx := b.Context()
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{Store: s, Collections: []flow.Collection{
		{Name: "expenses", Fields: []flow.Field{{Name: "title", Type: flow.FieldString}, {Name: "amount", Type: flow.FieldNumber}}},
		{Name: "ledger", Fields: []flow.Field{{Name: "title", Type: flow.FieldString}, {Name: "amount", Type: flow.FieldNumber}}},
	}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := eng.SaveWorkflow(ctx, flow.Workflow{
		Key: "book", Enabled: true, Sync: true, Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{
			{Key: "small", Type: "condition", Config: map[string]any{"engine": "expr", "expression": "$context.data.amount < 500"}},
			{Key: "book", Type: "create", Config: map[string]any{"collection": "ledger",
				"params": map[string]any{"values": map[string]any{"title": "{{$context.data.title}}", "amount": "{{$context.data.amount}}"}}}},
		},
	}); err != nil {
		b.Fatal(err)
	}
	return eng
}

// BenchmarkRequestWrites is the floor under BenchmarkAPICreateBare and
// BenchmarkAPICreateSync: the writes of one such request and nothing else
// (no HTTP, no JSON, no engine), in the API's unit of work (shared commit,
// all or nothing) straight on the store. "bare" is the host's record alone;
// "workflow" adds what the sync condition -> create run writes: the ledger
// record, then the resolved execution with its two jobs (in one statement
// where the store is a storage.ExecutionJobsInserter, as the executor does). The ratio of the two is the
// most any engine could keep of the bare rate on this store and machine;
// docs/benchmarks.md compares it with load --paired.
func BenchmarkRequestWrites(b *testing.B) {
	stores := []string{"memory", "sqlite"}
	if os.Getenv(teststores.EnvPostgresDSN) != "" {
		stores = append(stores, "postgres")
	}
	for _, store := range stores {
		for _, kind := range []string{"bare", "workflow"} {
			for _, parallel := range []bool{false, true} {
				name := store + "/" + kind
				if parallel {
					name += "/parallel"
				}
				b.Run(name, func(b *testing.B) { benchRequestWrites(b, store, kind == "workflow", parallel) })
			}
		}
	}
}

func benchRequestWrites(b *testing.B, store string, workflow, parallel bool) {
	s := benchStore(b, store)
	eng := benchEngine(b, s)
	wf, err := eng.Workflow(b.Context(), "book")
	if err != nil {
		b.Fatal(err)
	}
	ctx := storage.WithAllOrNothing(storage.WithSharedCommit(b.Context()))
	var i atomic.Int64
	one := func() error {
		n := i.Add(1)
		values := flow.Record{"title": fmt.Sprintf("claim %d", n), "amount": n % 400}
		return s.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
			recs := tx.(storage.RecordStore)
			rec, err := recs.CreateRecord(ctx, "expenses", values)
			if err != nil || !workflow {
				return err
			}
			booked, err := recs.CreateRecord(ctx, "ledger", values)
			if err != nil {
				return err
			}
			now := time.Now()
			e := &flow.Execution{ID: executor.NewID(), WorkflowID: wf.ID, Key: wf.Key, Sync: true,
				Status:    flow.ExecutionResolved,
				Context:   map[string]any{"data": map[string]any(rec), "user": map[string]any{"id": 1}, "roleName": "member"},
				CreatedAt: now, UpdatedAt: now, StartedAt: now, EndedAt: now}
			branch := 1
			cond := &flow.Job{ID: executor.NewID(), ExecutionID: e.ID, NodeKey: "small", NodeType: "condition", Seq: 1,
				Status: flow.JobResolved, Result: true, Branch: &branch, CreatedAt: now, UpdatedAt: now}
			book := &flow.Job{ID: executor.NewID(), ExecutionID: e.ID, NodeKey: "book", NodeType: "create", Seq: 2,
				UpstreamID: cond.ID, Status: flow.JobResolved, Result: map[string]any(booked), CreatedAt: now, UpdatedAt: now}
			if ins, ok := tx.(storage.ExecutionJobsInserter); ok {
				return ins.InsertExecutionJobs(ctx, e, cond, book)
			}
			if err := tx.InsertExecution(ctx, e); err != nil {
				return err
			}
			return tx.InsertJobs(ctx, cond, book)
		})
	}
	runRequests(b, parallel, one)
}

// runRequests times one request per iteration: one after another, or from
// 16 goroutines on this machine's two procs (SetParallelism(8)), and reports
// requests/s. The first failing request ends the benchmark.
func runRequests(b *testing.B, parallel bool, one func() error) {
	b.ReportAllocs()
	b.ResetTimer()
	if parallel {
		b.SetParallelism(8)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := one(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	} else {
		for b.Loop() {
			if err := one(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
}
