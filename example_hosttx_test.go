package actiontrigger_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore/sqlite"
)

// bookWorkflow is an async workflow that books one ledger row per expense.
func bookWorkflow() flow.Workflow {
	return flow.Workflow{
		Key: "book", Enabled: true,
		Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{{Key: "book", Type: "create", Config: map[string]any{"collection": "ledger",
			"params": map[string]any{"values": map[string]any{"title": "{{$context.data.title}}"}}}}},
	}
}

// A host that keeps its expenses in its own SQLite table writes the row and
// queues the workflows in one transaction of its own: AfterActionTx joins
// it. Rolled back, the queued execution never existed; committed, it runs.
//
// The store is opened with sqlite.Open, whose connections begin immediate
// write transactions with a busy timeout: the host's transactions on
// store.DB() then never fail with SQLITE_BUSY against the engine's.
func ExampleEngine_AfterActionTx() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "actiontrigger-example")
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(ctx, filepath.Join(dir, "app.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	db := store.DB()
	// The host's own table, created and written by the host alone.
	_, _ = db.ExecContext(ctx, `CREATE TABLE app_expenses (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL, amount REAL NOT NULL)`)

	eng, _ := actiontrigger.New(ctx, actiontrigger.Config{Store: store, Collections: exampleCollections(), Logger: quiet})
	_ = eng.Start(ctx)
	defer eng.Stop(ctx)
	_, _ = eng.SaveWorkflow(ctx, bookWorkflow())
	action := actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: "book"}

	createExpense := func(title string, amount float64, commit bool) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback() // a no-op after Commit
		var id int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO app_expenses (title, amount) VALUES (?, ?) RETURNING id`, title, amount).Scan(&id); err != nil {
			return err
		}
		res, err := eng.AfterActionTx(ctx, tx, action, map[string]any{"id": id, "title": title, "amount": amount}, actiontrigger.User{ID: 2})
		if err != nil {
			return err
		}
		fmt.Println(title, "queued:", res.Executions[0].Status)
		if !commit {
			return nil // the deferred Rollback drops the row and the execution
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		eng.Notify() // wake the workers now rather than at their next poll
		return nil
	}
	if err := createExpense("Hotel", 120, false); err != nil {
		fmt.Println(err)
	}
	if err := createExpense("Taxi", 40, true); err != nil {
		fmt.Println(err)
	}

	_ = eng.WaitIdle(ctx)
	xs, _ := eng.Executions(ctx, actiontrigger.ExecutionFilter{Key: "book"})
	ledger, _ := eng.Records().ListRecords(ctx, "ledger", nil, nil)
	var rows int
	_ = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM app_expenses`).Scan(&rows)
	fmt.Println("rows:", rows, "executions:", len(xs), xs[0].Status, "ledger:", ledger[0]["title"])
	// Output:
	// Hotel queued: QUEUEING
	// Taxi queued: QUEUEING
	// rows: 1 executions: 1 RESOLVED ledger: Taxi
}

// Engine.InTx gives the host a unit of work on any store, the in-memory one
// included, so a host's unit test exercises its transactional path without
// a database: the record and the queued execution are kept together, or
// dropped together when the function fails.
func ExampleEngine_InTx() {
	ctx := context.Background()
	eng, _ := actiontrigger.New(ctx, actiontrigger.Config{Collections: exampleCollections(), Logger: quiet})
	_ = eng.Start(ctx)
	defer eng.Stop(ctx)
	_, _ = eng.SaveWorkflow(ctx, bookWorkflow())
	action := actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: "book"}

	// The host's service: it writes through the unit of work the context
	// carries and triggers the workflows in it.
	createExpense := func(ctx context.Context, title string, amount float64) error {
		return eng.InTx(ctx, func(ctx context.Context) error {
			tx, _ := storage.TxFrom(ctx)
			rec, err := tx.(storage.RecordStore).CreateRecord(ctx, "expenses", flow.Record{"title": title, "amount": amount})
			if err != nil {
				return err
			}
			if _, err := eng.AfterAction(ctx, action, rec, actiontrigger.User{ID: 2}); err != nil {
				return err
			}
			if amount <= 0 {
				return errors.New("amount must be positive") // after the enqueue: rolls it back
			}
			return nil
		})
	}

	fmt.Println(createExpense(ctx, "Refund", -5))
	fmt.Println(createExpense(ctx, "Taxi", 40))
	_ = eng.WaitIdle(ctx)
	expenses, _ := eng.Records().ListRecords(ctx, "expenses", nil, nil)
	xs, _ := eng.Executions(ctx, actiontrigger.ExecutionFilter{Key: "book"})
	fmt.Println("expenses:", len(expenses), "executions:", len(xs), xs[0].Status)
	// Output:
	// amount must be positive
	// <nil>
	// expenses: 1 executions: 1 RESOLVED
}
