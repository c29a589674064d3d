package actiontrigger

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/actiontrigger/actiontrigger/storage"
)

// ErrNoSQLStore is the former name of ErrNoHostTx.
//
// Deprecated: use ErrNoHostTx.
var ErrNoSQLStore = ErrNoHostTx

// InTx runs fn in one unit of work of the engine's store. Every engine call
// made with fn's ctx (AfterAction, SubmitTask, Execute, Resume,
// CancelExecution...) writes through it: everything commits together when fn
// returns nil, and nothing is kept when fn returns an error or panics (the
// panic goes on after the rollback). Async executions queued inside become
// claimable when it commits, and InTx wakes the workers then. If ctx already
// carries a unit of work (from InTx, WithSQLTx, or a node's run), fn joins it
// and the outer one commits.
//
// On a SQL store the unit of work is a database transaction, and the host can
// write its own rows in it through storage.SQLTxHolder (httptrigger.Tx gives
// a handler the *sql.Tx). On the memory store it is a go-memdb write
// transaction with the same commit and rollback behaviour, so a host's unit
// test exercises the transactional path without a database.
//
// While fn runs it holds the unit of work's connection and, on SQLite and the
// memory store, the single writer lock: keep it short, and make every write
// of fn go through it (a write through another connection of the same SQLite
// database waits for this one to end).
func (e *Engine) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := storage.TxFrom(ctx); ok {
		return fn(ctx)
	}
	err := e.store.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
		return fn(storage.WithTx(ctx, tx))
	})
	if err == nil {
		e.notify()
	}
	return err
}

// WithSQLTx returns ctx bound to tx, a transaction the host began on the
// database of the engine's store: engine calls made with the returned ctx
// (AfterAction, SubmitTask, Execute...) write through tx and commit or roll
// back with it. The host owns tx: the engine never commits or rolls it back,
// and the ctx must not be used after tx ended. Call Notify after the commit
// to wake the workers at once (they also find the work at their next poll).
//
// The store must implement storage.SQLTxBinder (the SQL stores of
// storage/sqlstore do); otherwise the error wraps ErrNoHostTx. A host that
// holds a pgx.Tx rather than a *sql.Tx binds the store to it with
// storage/sqlstore/postgres.BindPgxTx and passes the unit of work it returns
// the same way: ctx = storage.WithTx(ctx, unit). On SQLite, a
// host transaction holds the database's single write lock until it ends:
// keep it short, and begin it as an immediate transaction (the DSN of
// storage/sqlstore/sqlite does) so that it never fails to upgrade a read lock.
func (e *Engine) WithSQLTx(ctx context.Context, tx *sql.Tx) (context.Context, error) {
	if tx == nil {
		return nil, fmt.Errorf("actiontrigger: nil transaction: %w", ErrNoHostTx)
	}
	b, ok := e.store.(storage.SQLTxBinder)
	if !ok {
		return nil, fmt.Errorf("actiontrigger: store %T cannot join a *sql.Tx: %w", e.store, ErrNoHostTx)
	}
	bound, err := b.BindSQLTx(tx)
	if err != nil {
		return nil, fmt.Errorf("actiontrigger: %w: %w", ErrNoHostTx, err)
	}
	return storage.WithTx(ctx, bound), nil
}

// AfterActionTx is AfterAction inside tx, a transaction the host began on the
// database of the engine's store and wrote its record in (see WithSQLTx).
// Everything the engine writes for the action joins tx: async executions are
// queued in it, so if the host rolls back they never existed, and once it
// commits they run; sync runs commit or roll back with it too. Call Notify
// after the commit.
func (e *Engine) AfterActionTx(ctx context.Context, tx *sql.Tx, action Action, data any, user User) (*Result, error) {
	ctx, err := e.WithSQLTx(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("actiontrigger: AfterActionTx: %w", err)
	}
	return e.AfterAction(ctx, action, data, user)
}

// Notify wakes this process's workers: work may be claimable. The engine calls
// it after its own enqueues and after InTx commits; call it after committing a
// transaction passed to AfterActionTx or WithSQLTx.
func (e *Engine) Notify() { e.notify() }
