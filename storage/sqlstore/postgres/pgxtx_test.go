package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore/postgres"
	"github.com/actiontrigger/actiontrigger/storage/storagetest"
)

// pgxUnits is a PostgreSQL store whose units of work are transactions a host
// began on its own pgxpool.Pool and bound with BindPgxTx: everything the
// conformance suite does inside InTx runs on pgx's native API.
type pgxUnits struct {
	*sqlstore.Store
	pool *pgxpool.Pool
}

func (s *pgxUnits) InTx(ctx context.Context, fn func(ctx context.Context, tx storage.Store) error) error {
	if _, ok := storage.TxFrom(ctx); ok {
		return s.Store.InTx(ctx, fn)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // a no-op after Commit
	unit, err := postgres.BindPgxTx(s.Store, tx)
	if err != nil {
		return err
	}
	if err := fn(ctx, unit); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func newPgxUnits(t testing.TB) *pgxUnits {
	t.Helper()
	dsn := freshSchema(t)
	s, err := postgres.Open(t.Context(), dsn)
	require.NoError(t, err)
	pool, err := pgxpool.New(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() {
		pool.Close()
		_ = s.Close()
	})
	return &pgxUnits{Store: s, pool: pool}
}

func TestConformancePgxUnits(t *testing.T) {
	testDSN(t)
	storagetest.Run(t, func(t *testing.T) storage.Store { return newPgxUnits(t) })
}

// hostPool returns the store of a fresh schema and a pgxpool.Pool of the host
// on the same schema.
func hostPool(t *testing.T) (*sqlstore.Store, *pgxpool.Pool) {
	t.Helper()
	u := newPgxUnits(t)
	return u.Store, u.pool
}

// begin begins a host transaction that the test ends (rolled back at cleanup
// if it did not).
func begin(t *testing.T, pool *pgxpool.Pool) pgx.Tx {
	t.Helper()
	tx, err := pool.Begin(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return tx
}

var itemsCollection = flow.Collection{
	Name: "items",
	Fields: []flow.Field{
		{Name: "title", Type: flow.FieldString},
		{Name: "body", Type: flow.FieldText},
		{Name: "count", Type: flow.FieldInteger},
		{Name: "price", Type: flow.FieldNumber},
		{Name: "done", Type: flow.FieldBoolean},
		{Name: "due", Type: flow.FieldDate},
		{Name: "meta", Type: flow.FieldJSON},
	},
}

// The engine-state operations and records a unit of work bound to a host's
// pgx.Tx writes are the host transaction's: invisible to others until it
// commits, gone if it rolls back, and committed with the host's own rows.
func TestBindPgxTxCommitAndRollback(t *testing.T) {
	s, pool := hostPool(t)
	ctx := t.Context()
	require.NoError(t, s.DeclareCollections(ctx, []flow.Collection{itemsCollection}))
	_, err := pool.Exec(ctx, `CREATE TABLE host_orders (id BIGINT PRIMARY KEY, note TEXT NOT NULL)`)
	require.NoError(t, err)
	w := &flow.Workflow{ID: "wf-1", Key: "wf", Current: true, Enabled: true, Config: flow.TriggerConfig{Collection: "items"}}
	require.NoError(t, s.InsertWorkflow(ctx, w))
	now := time.Now().UTC().Truncate(time.Microsecond)
	claim := func(st storage.Store) []*flow.Execution {
		t.Helper()
		es, err := st.ClaimExecutions(ctx, storage.ClaimParams{Owner: "test", Limit: 10, Now: now, LeaseUntil: now.Add(time.Minute)})
		require.NoError(t, err)
		return es
	}
	// unitOfWork writes, in one host transaction, the host's order and the
	// engine's execution, job and record.
	unitOfWork := func(n int) (pgx.Tx, *sqlstore.Store, string) {
		tx := begin(t, pool)
		_, err := tx.Exec(ctx, `INSERT INTO host_orders (id, note) VALUES ($1, $2)`, n, "order")
		require.NoError(t, err)
		unit, err := postgres.BindPgxTx(s, tx)
		require.NoError(t, err)
		_, ok := unit.SQLTx()
		require.False(t, ok, "a unit on a pgx.Tx has no *sql.Tx")
		id := fmt.Sprintf("exec-%d", n)
		require.NoError(t, unit.InsertExecution(ctx, &flow.Execution{
			ID: id, WorkflowID: w.ID, Key: w.Key, EventKey: id, Status: flow.ExecutionQueueing, Runnable: true, CreatedAt: now,
		}))
		require.NoError(t, unit.InsertJobs(ctx, &flow.Job{ID: "job-" + id, ExecutionID: id, NodeKey: "n", Status: flow.JobPending}))
		_, err = unit.CreateRecord(ctx, "items", flow.Record{"id": n, "title": id})
		require.NoError(t, err)
		// The unit reads its own writes; the store outside it does not.
		got, err := unit.GetExecution(ctx, id)
		require.NoError(t, err)
		require.Equal(t, flow.ExecutionQueueing, got.Status)
		_, err = s.GetExecution(ctx, id)
		require.ErrorIs(t, err, flow.ErrNotFound)
		require.Empty(t, claim(s))
		return tx, unit, id
	}

	tx, _, gone := unitOfWork(1)
	require.NoError(t, tx.Rollback(ctx))
	_, err = s.GetExecution(ctx, gone)
	require.ErrorIs(t, err, flow.ErrNotFound)
	_, err = s.GetJob(ctx, "job-"+gone)
	require.ErrorIs(t, err, flow.ErrNotFound)
	_, err = s.GetRecord(ctx, "items", flow.Record{"id": 1}, nil)
	require.ErrorIs(t, err, flow.ErrNotFound)
	require.Empty(t, claim(s))

	tx, unit, kept := unitOfWork(2)
	require.NoError(t, tx.Commit(ctx))
	_, err = unit.GetExecution(ctx, kept)
	require.Error(t, err, "a unit of an ended transaction must not be used")
	got := claim(s)
	require.Len(t, got, 1)
	require.Equal(t, kept, got[0].ID)
	j, err := s.GetJob(ctx, "job-"+kept)
	require.NoError(t, err)
	require.Equal(t, kept, j.ExecutionID)
	r, err := s.GetRecord(ctx, "items", flow.Record{"id": 2}, nil)
	require.NoError(t, err)
	require.Equal(t, kept, r["title"])
	var orders int
	require.NoError(t, pool.QueryRow(ctx, `SELECT COUNT(*) FROM host_orders`).Scan(&orders))
	require.Equal(t, 1, orders)

	// Claims run in the host's transaction too: rolled back, the lease is gone.
	require.NoError(t, s.InsertExecution(ctx, &flow.Execution{
		ID: "exec-3", WorkflowID: w.ID, Key: w.Key, EventKey: "exec-3", Status: flow.ExecutionQueueing, Runnable: true, CreatedAt: now,
	}))
	tx = begin(t, pool)
	unit, err = postgres.BindPgxTx(s, tx)
	require.NoError(t, err)
	require.Len(t, claim(unit), 1)
	require.NoError(t, tx.Rollback(ctx))
	require.Len(t, claim(s), 1)
}

// A write the database rejects inside a bound pgx.Tx (a duplicate key) fails
// with the same typed error as through database/sql, and leaves the host's
// transaction usable.
func TestBindPgxTxDuplicateKeepsTransaction(t *testing.T) {
	s, pool := hostPool(t)
	ctx := t.Context()
	require.NoError(t, s.DeclareCollections(ctx, []flow.Collection{itemsCollection}))
	tx := begin(t, pool)
	unit, err := postgres.BindPgxTx(s, tx)
	require.NoError(t, err)
	_, err = unit.CreateRecord(ctx, "items", flow.Record{"id": 5, "title": "five"})
	require.NoError(t, err)
	_, err = unit.CreateRecord(ctx, "items", flow.Record{"id": 5, "title": "again"})
	require.ErrorIs(t, err, flow.ErrDuplicate)
	_, err = unit.GetExecution(ctx, "missing")
	require.ErrorIs(t, err, flow.ErrNotFound)
	_, err = unit.CreateRecord(ctx, "items", flow.Record{"id": 6, "title": "six"})
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	got, err := s.ListRecords(ctx, "items", nil, nil)
	require.NoError(t, err)
	require.Len(t, got, 2)
}

// Records read through a bound pgx.Tx are the values database/sql gives, for
// every field type and for the column types of a host's own table
// (INTEGER, SMALLINT, NUMERIC, VARCHAR, TIMESTAMP, UUID, JSON).
func TestBindPgxTxReadsLikeDatabaseSQL(t *testing.T) {
	s, pool := hostPool(t)
	ctx := t.Context()
	_, err := pool.Exec(ctx, `CREATE TABLE host_gadgets (id SERIAL PRIMARY KEY, name VARCHAR(40), qty SMALLINT,
		price NUMERIC(10,2), made TIMESTAMP, tag UUID, info JSON)`)
	require.NoError(t, err)
	gadgets := flow.Collection{
		Name: "gadgets", Table: "host_gadgets",
		Fields: []flow.Field{
			{Name: "id", Type: flow.FieldInteger},
			{Name: "name", Type: flow.FieldString},
			{Name: "qty", Type: flow.FieldInteger},
			{Name: "price", Type: flow.FieldNumber},
			{Name: "made", Type: flow.FieldDate},
			{Name: "tag", Type: flow.FieldString},
			{Name: "info", Type: flow.FieldJSON},
		},
	}
	require.NoError(t, s.DeclareCollections(ctx, []flow.Collection{itemsCollection, gadgets}))
	_, err = pool.Exec(ctx, `INSERT INTO host_gadgets (name, qty, price, made, tag, info) VALUES
		('lamp', 3, 12.50, '2024-05-06 07:08:09.123456', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"w": 1.5, "tags": ["a"]}'),
		(NULL, NULL, NULL, NULL, NULL, NULL)`)
	require.NoError(t, err)
	due := time.Date(2025, 1, 2, 3, 4, 5, 678901000, time.UTC)
	full := flow.Record{"title": "full", "body": "long text", "count": int64(7), "price": 9.75, "done": true,
		"due": due, "meta": map[string]any{"k": []any{1.0, "x", nil}, "n": nil}}

	tx := begin(t, pool)
	unit, err := postgres.BindPgxTx(s, tx)
	require.NoError(t, err)
	// Written through database/sql and through pgx: each side reads both the same.
	_, err = s.CreateRecord(ctx, "items", full)
	require.NoError(t, err)
	_, err = s.CreateRecord(ctx, "items", flow.Record{"title": "empty"})
	require.NoError(t, err)
	viaPgx, err := unit.CreateRecord(ctx, "items", full)
	require.NoError(t, err)
	require.Equal(t, int64(7), viaPgx["count"])
	_, err = unit.UpdateRecords(ctx, "items", storage.Filter{"title": "empty"}, flow.Record{"count": 1, "done": false})
	require.NoError(t, err)
	for _, c := range []string{"items", "gadgets"} {
		inTx, err := unit.ListRecords(ctx, c, nil, nil)
		require.NoError(t, err)
		require.NoError(t, tx.Commit(ctx))
		outside, err := s.ListRecords(ctx, c, nil, nil)
		require.NoError(t, err)
		require.Equal(t, outside, inTx, c)
		require.NotEmpty(t, inTx)
		tx = begin(t, pool)
		unit, err = postgres.BindPgxTx(s, tx)
		require.NoError(t, err)
	}
	lamp, err := unit.GetRecord(ctx, "gadgets", flow.Record{"id": 1}, nil)
	require.NoError(t, err)
	require.Equal(t, flow.Record{"id": int64(1), "name": "lamp", "qty": int64(3), "price": 12.5,
		"made": time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC), "tag": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
		"info": map[string]any{"w": 1.5, "tags": []any{"a"}}}, lamp)
	items, err := unit.ListRecords(ctx, "items", storage.Filter{"title": "full"}, nil)
	require.NoError(t, err)
	require.Len(t, items, 2)
	require.Equal(t, due, items[1]["due"])
	require.Equal(t, full["meta"], items[1]["meta"])
}

func TestBindPgxTxRefusesWhatItCannotJoin(t *testing.T) {
	s, pool := hostPool(t)
	tx := begin(t, pool)
	_, err := postgres.BindPgxTx(s, nil)
	require.ErrorIs(t, err, flow.ErrStorage)
	_, err = postgres.BindPgxTx(nil, tx)
	require.ErrorIs(t, err, flow.ErrStorage)
	lite, err := sqlstore.New(s.DB(), sqlstore.SQLite)
	require.NoError(t, err)
	_, err = postgres.BindPgxTx(lite, tx)
	require.ErrorIs(t, err, flow.ErrStorage)
	_, err = s.BindQuerier(nil)
	require.ErrorIs(t, err, flow.ErrStorage)
}
