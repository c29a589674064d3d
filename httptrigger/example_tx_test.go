package httptrigger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/httptrigger"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore/sqlite"
)

// With Options.Transaction the handler's write and the workflows' queued
// executions commit in one transaction: the handler writes its own table
// through httptrigger.Tx(r), and a crash at any point leaves both or
// neither. A handler that fails (here 422) rolls back its write, and
// nothing is queued.
func ExampleMiddleware_transaction() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "httptrigger-example")
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(ctx, filepath.Join(dir, "app.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	// The host's own table.
	_, _ = store.DB().ExecContext(ctx, `CREATE TABLE app_expenses (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL, amount REAL NOT NULL)`)

	eng, _ := actiontrigger.New(ctx, actiontrigger.Config{
		Store: store,
		Collections: []flow.Collection{
			{Name: "expenses", Fields: []flow.Field{{Name: "title", Type: flow.FieldString}, {Name: "amount", Type: flow.FieldNumber}}},
			{Name: "ledger", Fields: []flow.Field{{Name: "title", Type: flow.FieldString}}},
		},
		Logger: quiet,
	})
	_ = eng.Start(ctx)
	defer eng.Stop(ctx)
	_, _ = eng.SaveWorkflow(ctx, flow.Workflow{
		Key: "book", Enabled: true, Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{{Key: "book", Type: "create", Config: map[string]any{"collection": "ledger",
			"params": map[string]any{"values": map[string]any{"title": "{{$context.data.title}}"}}}}},
	})

	createExpense := func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Title  string  `json:"title"`
			Amount float64 `json:"amount"`
		}
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
		err := tx.QueryRowContext(r.Context(), `INSERT INTO app_expenses (title, amount) VALUES (?, ?) RETURNING id`, in.Title, in.Amount).Scan(&id)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if in.Amount <= 0 { // a check after the write: the 422 rolls the row back
			http.Error(w, "amount must be positive", http.StatusUnprocessableEntity)
			return
		}
		rec := map[string]any{"id": id, "title": in.Title, "amount": in.Amount}
		httptrigger.Report(r, rec)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": rec})
	}

	mw := httptrigger.NewMiddleware(eng, httptrigger.Options{Transaction: true})
	mux := http.NewServeMux()
	mux.Handle("POST /expenses", mw.Action("expenses", actiontrigger.ActionCreate)(http.HandlerFunc(createExpense)))
	for _, body := range []string{`{"title": "Taxi", "amount": 40}`, `{"title": "Refund", "amount": -5}`} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/expenses?triggerWorkflows=book", strings.NewReader(body)))
		fmt.Print(rec.Code, " ", rec.Body.String())
	}

	_ = eng.WaitIdle(ctx)
	var rows int
	_ = store.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM app_expenses`).Scan(&rows)
	xs, _ := eng.Executions(ctx, actiontrigger.ExecutionFilter{Key: "book"})
	ledger, _ := eng.Records().ListRecords(ctx, "ledger", nil, nil)
	fmt.Println("rows:", rows, "executions:", len(xs), "ledger:", ledger[0]["title"])
	// Output:
	// 200 {"data":{"amount":40,"id":1,"title":"Taxi"}}
	// 422 amount must be positive
	// rows: 1 executions: 1 ledger: Taxi
}
