// Package sqlstore is a durable storage.Store on database/sql, for SQLite and
// PostgreSQL.
//
// The host owns the *sql.DB and hands it to New with the Dialect of its
// driver; the thin subpackages storage/sqlstore/sqlite and
// storage/sqlstore/postgres open one with the right driver and settings and
// migrate it. Migrate creates and upgrades the store's own tables (all named
// with the prefix "actiontrigger_", so they never collide with the host's).
//
// Every method runs in one database transaction (or in the transaction of
// InTx). Writes that can fail half-way inside InTx run under a SAVEPOINT, so a
// failed write leaves the transaction usable; single-statement writes use
// INSERT ... ON CONFLICT DO NOTHING and conditional UPDATEs instead, which
// never fail on a duplicate or a lost compare-and-set.
//
// Records of the collections the host declares live in one table per
// collection (created when missing, or mapped onto an existing host table).
// Identifiers are validated and always quoted; values are always bound
// parameters.
//
// Timestamps of the store's own tables are Unix microseconds (NULL for the
// zero time); records' date fields are TIMESTAMPTZ on PostgreSQL and
// fixed-width UTC text on SQLite. Records are returned with every column of
// their collection (NULL ones as nil), with integers as int64, numbers as
// float64, booleans as bool, dates as time.Time (UTC, microseconds) and JSON
// fields decoded.
//
// BindTx binds a store to a transaction the host began, so that the host's
// writes and the engine's commit together. BindQuerier does the same for a
// transaction of a driver's own API (storage/sqlstore/postgres.BindPgxTx for
// a pgx.Tx): the store runs its statements through a Querier, and this
// package imports no driver.
//
// With SQLite, the store serialises its write transactions with an in-process
// mutex (SQLite allows one writer at a time): while the function of InTx runs,
// other writers of the same Store wait, and fn must not write through the outer
// store.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// Dialect names the SQL dialect of the database a Store runs on.
type Dialect int

// Dialects.
const (
	// SQLite (modernc.org/sqlite or any driver of SQLite 3.35 or later).
	SQLite Dialect = iota + 1
	// PostgreSQL (11 or later), for example through pgx/v5/stdlib.
	PostgreSQL
)

// String returns the dialect's name.
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case PostgreSQL:
		return "postgres"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// Option configures a Store.
type Option func(*options)

type options struct {
	ownDB       bool
	noMigrate   bool
	noRowCounts bool
}

// WithOwnedDB makes Close close the *sql.DB. The driver subpackages use it for
// the databases they open; a host that passes its own DB leaves it out.
func WithOwnedDB() Option { return func(o *options) { o.ownDB = true } }

// WithoutMigrate makes Prepare (which the driver subpackages' Open and OpenDB
// call) check that the database is migrated instead of migrating it, for
// deployments that run migrations as a separate step (Store.Migrate, or
// `actiontrigger migrate --db ...`) before starting the processes. By
// default, opening a store migrates at start, under the migration lock.
func WithoutMigrate() Option { return func(o *options) { o.noMigrate = true } }

// WithoutRowCounts makes DeclareCollections leave the record tables it
// creates without the triggers that keep their row counts (schema 5), so
// that inserting a row costs one write, not two; unfiltered lists of those
// tables then count with COUNT(*), which reads the table. Tables whose
// triggers are already installed keep them (and their fast count). By
// default the store keeps the counts: on this project's benchmark machine
// they cost a small PostgreSQL insert transaction about a third of its
// throughput at 8 concurrent writers, and spare every list page a scan of
// its table (docs/storage.md).
func WithoutRowCounts() Option { return func(o *options) { o.noRowCounts = true } }

// Store is a storage.Store on a SQL database. Create it with New (and call
// Migrate) or with a driver subpackage's Open. All methods may be called
// concurrently. A Store handed to the function of InTx is bound to that
// transaction and fails once the transaction ended.
type Store struct {
	st *state
	tx *txState // nil outside InTx
}

var _ storage.Store = (*Store)(nil)

// state is what a store and its transaction views share.
type state struct {
	db   *sql.DB
	d    Dialect
	opts options
	wmu  sync.Mutex // SQLite: serialises write transactions
	// SQLite group commit (group.go): writers waiting for wmu, and the group
	// transaction left open for them (guarded by wmu).
	waiting atomic.Int32
	open    *group
	sch     atomic.Pointer[schema]
	schMu   sync.Mutex
	stmts   stmtCache // SQLite only
	// shards leases counter shards to write transactions (PostgreSQL).
	shards shardPool
}

type txState struct {
	mu sync.Mutex
	tx *sql.Tx
	// ext is the host's transaction bound through BindQuerier (tx is nil).
	ext  Querier
	done bool
	// allOrNothing: writes run without savepoints, and the first one that
	// fails (failed) fails the whole unit of work (storage.WithAllOrNothing).
	allOrNothing bool
	failed       error
	// shared: the transaction is a group's (storage.WithSharedCommit).
	shared bool
	// bound: the host began the transaction and ends it (BindTx).
	bound bool
	// shard is the counter shard the transaction's executions are counted
	// in (hasShard: chosen; shardLeased: release it when the transaction ends).
	shard                 int
	hasShard, shardLeased bool
}

// New returns a store on db, which the host keeps owning (unless WithOwnedDB).
// Call Migrate before using it.
func New(db *sql.DB, d Dialect, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: New: nil *sql.DB")
	}
	if d != SQLite && d != PostgreSQL {
		return nil, fmt.Errorf("sqlstore: New: unknown dialect %v", d)
	}
	st := &state{db: db, d: d}
	for _, o := range opts {
		o(&st.opts)
	}
	st.sch.Store(&schema{colls: map[string]*collection{}})
	return &Store{st: st}, nil
}

// DB returns the database the store runs on.
func (s *Store) DB() *sql.DB { return s.st.db }

// Dialect returns the store's dialect.
func (s *Store) Dialect() Dialect { return s.st.d }

// Close closes the database if the store owns it (WithOwnedDB), and does
// nothing otherwise.
func (s *Store) Close() error {
	s.st.stmts.close()
	if s.st.opts.ownDB {
		return s.st.db.Close()
	}
	return nil
}

// Durable reports true: committed writes are in the database.
func (s *Store) Durable() bool { return true }

var errTxDone = fmt.Errorf("sqlstore: the transaction has ended: %w", flow.ErrStorage)

// InTx runs fn in one database transaction: its writes through tx commit
// together when fn returns nil and are rolled back when it returns an error
// or panics (the panic is propagated after the rollback). With a ctx from
// storage.WithAllOrNothing, writes run without savepoints and the first one
// that fails makes InTx roll back and return an error wrapping
// storage.ErrUnitFailed (and fn's error, if it returned one). Calling InTx on tx
// joins the transaction. The schema DeclareCollections declares inside fn stays
// declared when the transaction rolls back (the tables it created do not).
// While fn runs it holds one connection: with a one-connection pool (SQLite
// in memory) fn must not use the outer store at all.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context, tx storage.Store) error) (err error) {
	if fn == nil {
		return errors.New("sqlstore: InTx: nil function")
	}
	if s.tx != nil {
		return fn(ctx, s)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.st.d == SQLite && storage.SharedCommit(ctx) {
		return s.inSharedTx(ctx, fn)
	}
	t, err := s.st.begin(ctx)
	if err != nil {
		return err
	}
	t.allOrNothing = storage.AllOrNothing(ctx)
	view := &Store{st: s.st, tx: t}
	committed := false
	defer func() {
		if !committed {
			t.mu.Lock()
			t.done = true
			_ = t.tx.Rollback()
			t.mu.Unlock()
			s.st.txEnded(t)
			s.st.endWrite()
		}
	}()
	if err := fn(ctx, view); err != nil {
		t.mu.Lock()
		failed := t.failed
		t.mu.Unlock()
		return unitFailed(failed, err)
	}
	t.mu.Lock()
	if t.failed != nil {
		t.mu.Unlock()
		return fmt.Errorf("sqlstore: %w: %w", storage.ErrUnitFailed, t.failed)
	}
	t.done = true
	cerr := t.tx.Commit()
	t.mu.Unlock()
	committed = true
	s.st.txEnded(t)
	s.st.endWrite()
	if cerr != nil {
		return s.st.mapErr(cerr, "commit")
	}
	return nil
}

// unitFailed is the error of a unit of work whose function returned err:
// err itself, or, when a write of an all-or-nothing unit failed before
// (failed), err marked with storage.ErrUnitFailed, so that the caller can tell
// a unit that a failed write ended (and may run again with savepoints) from
// one that failed on its own. The first failed write is kept in the message
// and the chain when err does not wrap it.
func unitFailed(failed, err error) error {
	switch {
	case failed == nil:
		return err
	case errors.Is(err, failed):
		return fmt.Errorf("sqlstore: %w: %w", storage.ErrUnitFailed, err)
	default:
		return fmt.Errorf("sqlstore: %w: %w; then: %w", storage.ErrUnitFailed, failed, err)
	}
}

// begin starts a write transaction (holding the SQLite write mutex).
func (st *state) begin(ctx context.Context) (*txState, error) {
	if st.d == SQLite {
		st.lockWrite()
	}
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		st.endWrite()
		return nil, st.mapErr(err, "begin")
	}
	return &txState{tx: tx}, nil
}

func (st *state) endWrite() {
	if st.d == SQLite {
		st.wmu.Unlock()
	}
}

// write runs fn in the store's transaction (under a savepoint when sp is set,
// so that a failure undoes fn's statements only), or in a new transaction that
// commits when fn succeeds.
func (s *Store) write(ctx context.Context, sp bool, fn func(q querier) error) error {
	return s.writeTx(ctx, sp, func(q querier, _ *txState) error { return fn(q) })
}

// writeTx is write for functions that need the transaction's state.
func (s *Store) writeTx(ctx context.Context, sp bool, fn func(q querier, t *txState) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t := s.tx; t != nil {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.done {
			return errTxDone
		}
		if t.allOrNothing {
			// No savepoint: a failed write fails the unit of work instead.
			err := fn(s.st.txQuerier(t), t)
			if err != nil && t.failed == nil {
				t.failed = err
			}
			return err
		}
		if !sp {
			return fn(s.st.txQuerier(t), t)
		}
		// One name for every savepoint: they never nest (fn writes through q,
		// not through the store), and a constant statement is prepared once.
		q := s.st.txQuerier(t)
		if _, err := q.ExecContext(ctx, "SAVEPOINT actiontrigger_sp"); err != nil {
			return s.st.mapErr(err, "savepoint")
		}
		if err := fn(q, t); err != nil {
			if _, rerr := q.ExecContext(context.WithoutCancel(ctx), "ROLLBACK TO SAVEPOINT actiontrigger_sp"); rerr != nil {
				return errors.Join(err, s.st.mapErr(rerr, "rollback to savepoint"))
			}
			_, _ = q.ExecContext(context.WithoutCancel(ctx), "RELEASE SAVEPOINT actiontrigger_sp")
			return err
		}
		if _, err := q.ExecContext(ctx, "RELEASE SAVEPOINT actiontrigger_sp"); err != nil {
			return s.st.mapErr(err, "release savepoint")
		}
		return nil
	}
	t, err := s.st.begin(ctx)
	if err != nil {
		return err
	}
	defer s.st.endWrite()
	defer s.st.txEnded(t)
	if err := fn(s.st.querier(t.tx), t); err != nil {
		_ = t.tx.Rollback()
		return err
	}
	if err := t.tx.Commit(); err != nil {
		return s.st.mapErr(err, "commit")
	}
	return nil
}

// writeAuto runs a write that needs no transaction of its own (one statement,
// or a conditional statement and reads that only explain its outcome) in the
// store's transaction or directly on the database.
func (s *Store) writeAuto(ctx context.Context, fn func(q querier) error) error {
	if s.tx != nil {
		return s.write(ctx, false, fn)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.st.d == SQLite {
		s.st.lockWrite()
		defer s.st.wmu.Unlock()
	}
	return fn(s.st.querier(nil))
}

// BindTx returns a store whose methods run in tx, a transaction the host
// began on the store's database and keeps owning: the store never commits or
// rolls it back, InTx on the returned store joins it, and the returned store
// must not be used after tx ended. It lets the host's own writes and the
// engine's commit together.
func (s *Store) BindTx(tx *sql.Tx) *Store {
	return &Store{st: s.st, tx: &txState{tx: tx, bound: true}}
}

// read runs fn in the store's transaction or on the database.
func (s *Store) read(ctx context.Context, fn func(q querier) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t := s.tx; t != nil {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.done {
			return errTxDone
		}
		return fn(s.st.txQuerier(t))
	}
	return fn(s.st.querier(nil))
}

// q rewrites a query written with ? placeholders for the dialect.
func (st *state) q(query string) string {
	if st.d != PostgreSQL {
		return query
	}
	return rebind(query)
}

// rebind turns ? placeholders into $1, $2, ...
func rebind(query string) string {
	n := strings.Count(query, "?")
	if n == 0 {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 2*n)
	i := 0
	for _, r := range []byte(query) {
		if r == '?' {
			i++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(i))
			continue
		}
		b.WriteByte(r)
	}
	return b.String()
}

// mapErr maps a database error to the flow sentinels: no rows is
// flow.ErrNotFound, a unique violation flow.ErrDuplicate, anything else wraps
// flow.ErrStorage with the database's message. Context errors pass through.
func (st *state) mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlstore: %s: %w", what, flow.ErrNotFound)
	}
	if isUniqueViolation(err) {
		return fmt.Errorf("sqlstore: %s: %w: %w", what, flow.ErrDuplicate, err)
	}
	return fmt.Errorf("sqlstore: %s: %w: %w", what, flow.ErrStorage, err)
}

// isUniqueViolation recognises unique violations without importing drivers:
// PostgreSQL errors carry SQLSTATE 23505, SQLite ones the extended codes
// SQLITE_CONSTRAINT_UNIQUE (2067) and SQLITE_CONSTRAINT_PRIMARYKEY (1555).
func isUniqueViolation(err error) bool {
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) && pg.SQLState() == "23505" {
		return true
	}
	var lite interface{ Code() int }
	if errors.As(err, &lite) {
		c := lite.Code()
		return c == 2067 || c == 1555
	}
	return false
}
