package httptrigger_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/actiontrigger/actiontrigger"
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
				var s storage.Store = memory.New()
				switch store {
				case "sqlite":
					s = teststores.SQLite(b)
				case "postgres":
					s = teststores.Postgres(b)
				}
				api := benchAPI(b, s)
				var i atomic.Int64
				one := func() {
					n := i.Add(1)
					r := httptest.NewRequest(http.MethodPost, "/api/expenses:create"+query,
						strings.NewReader(fmt.Sprintf(`{"title": "claim %d", "amount": %d}`, n, n%400)))
					r.Header.Set("Authorization", "Bearer tok")
					r.Header.Set("Content-Type", "application/json")
					w := httptest.NewRecorder()
					api.ServeHTTP(w, r)
					if w.Code != http.StatusOK {
						b.Fatalf("status %d: %s", w.Code, w.Body.String())
					}
				}
				b.ReportAllocs()
				b.ResetTimer()
				if parallel {
					b.SetParallelism(8)
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							one()
						}
					})
				} else {
					for b.Loop() {
						one()
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
			})
		}
	}
}

func benchAPI(b *testing.B, s storage.Store) *httptrigger.API {
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
	api, err := httptrigger.NewAPI(eng, httptrigger.APIOptions{Authenticator: httptrigger.Tokens{
		"tok": {User: actiontrigger.User{ID: 1}, Roles: []string{"member"}},
	}, Grants: []httptrigger.Grant{{Role: "member", Collection: "expenses", Actions: []httptrigger.GrantAction{httptrigger.GrantCreate}}}})
	if err != nil {
		b.Fatal(err)
	}
	return api
}
