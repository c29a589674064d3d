package postgres_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore/postgres"
)

// A host whose service runs on a pgxpool.Pool (as most pgx and sqlc services
// do) writes its expense in its own table and queues the workflows in the
// same pgx transaction: BindPgxTx binds the engine's store to the
// transaction, and storage.WithTx hands that unit of work to AfterAction.
// Rolled back, the queued execution never existed; committed, it runs.
//
// The example needs a PostgreSQL database (DATABASE_URL), and an Example
// cannot skip: it has no Output comment, so go test compiles it without
// running it. TestExampleBindPgxTx runs this very function against the test
// database and checks what it prints:
//
//	Hotel queued: QUEUEING
//	Taxi queued: QUEUEING
//	rows: 1 executions: 1 RESOLVED ledger: Taxi
func ExampleBindPgxTx() {
	ctx := context.Background()
	dsn := os.Getenv("DATABASE_URL")   // postgres://user@host:5432/app?sslmode=disable
	pool, err := pgxpool.New(ctx, dsn) // the host's pool
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()
	store, err := postgres.Open(ctx, dsn) // the engine's store, same database
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	// The host's own table, created and written by the host alone.
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS app_expenses (id BIGSERIAL PRIMARY KEY, title TEXT NOT NULL, amount NUMERIC NOT NULL)`); err != nil {
		fmt.Println(err)
		return
	}

	eng, err := actiontrigger.New(ctx, actiontrigger.Config{
		Store: store,
		Collections: []flow.Collection{
			{Name: "expenses", Fields: []flow.Field{{Name: "title", Type: flow.FieldString}, {Name: "amount", Type: flow.FieldNumber}}},
			{Name: "ledger", Fields: []flow.Field{{Name: "title", Type: flow.FieldString}}},
		},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = eng.Start(ctx)
	defer eng.Stop(ctx)
	_, _ = eng.SaveWorkflow(ctx, flow.Workflow{
		Key: "book", Enabled: true,
		Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{{Key: "book", Type: "create", Config: map[string]any{"collection": "ledger",
			"params": map[string]any{"values": map[string]any{"title": "{{$context.data.title}}"}}}}},
	})
	action := actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: "book"}

	createExpense := func(title string, amount float64, commit bool) error {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx) // a no-op after Commit
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO app_expenses (title, amount) VALUES ($1, $2) RETURNING id`, title, amount).Scan(&id); err != nil {
			return err
		}
		unit, err := postgres.BindPgxTx(store, tx)
		if err != nil {
			return err
		}
		res, err := eng.AfterAction(storage.WithTx(ctx, unit), action, map[string]any{"id": id, "title": title, "amount": amount}, actiontrigger.User{ID: 2})
		if err != nil {
			return err
		}
		fmt.Println(title, "queued:", res.Executions[0].Status)
		if !commit {
			return nil // the deferred Rollback drops the row and the execution
		}
		if err := tx.Commit(ctx); err != nil {
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
	_ = pool.QueryRow(ctx, `SELECT COUNT(*) FROM app_expenses`).Scan(&rows)
	if len(xs) == 0 || len(ledger) == 0 {
		fmt.Println("rows:", rows, "executions:", len(xs), "ledger:", len(ledger))
		return
	}
	fmt.Println("rows:", rows, "executions:", len(xs), xs[0].Status, "ledger:", ledger[0]["title"])
}

// TestExampleBindPgxTx runs ExampleBindPgxTx on a fresh schema of the test
// database (failing in CI without one, like every PostgreSQL test) and checks
// its output, which an Output comment cannot (see the example).
func TestExampleBindPgxTx(t *testing.T) {
	t.Setenv("DATABASE_URL", freshSchema(t))
	r, w, err := os.Pipe()
	require.NoError(t, err)
	stdout := os.Stdout
	os.Stdout = w
	out := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		out <- string(b)
	}()
	func() {
		defer func() { os.Stdout = stdout }()
		ExampleBindPgxTx()
	}()
	require.NoError(t, w.Close())
	require.Equal(t, "Hotel queued: QUEUEING\nTaxi queued: QUEUEING\nrows: 1 executions: 1 RESOLVED ledger: Taxi\n", <-out)
}
