package actiontrigger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore"
)

// ErrNoSQLStore is returned by AfterActionTx when the engine's store is not a
// SQL store (storage/sqlstore).
var ErrNoSQLStore = errors.New("the engine's store is not a SQL store")

// AfterActionTx is AfterAction inside tx, a transaction the host began on the
// database of the engine's SQL store (sqlstore.Store.DB) and wrote its record in.
// Everything the engine writes for the action joins tx: async executions are
// queued in it, so if the host rolls back they never existed, and once it
// commits they run; sync runs commit or roll back with it too. The host owns tx:
// the engine never commits or rolls it back. Call Notify after the commit to
// wake the workers at once (they also find the work at their next poll).
//
// On SQLite, a host transaction holds the database's single write lock until it
// ends: keep it short.
func (e *Engine) AfterActionTx(ctx context.Context, tx *sql.Tx, action Action, data any, user User) (*Result, error) {
	sq, ok := e.store.(*sqlstore.Store)
	if !ok {
		return nil, fmt.Errorf("actiontrigger: AfterActionTx: store is %T: %w", e.store, ErrNoSQLStore)
	}
	if tx == nil {
		return nil, fmt.Errorf("actiontrigger: AfterActionTx: nil transaction: %w", ErrNoSQLStore)
	}
	return e.AfterAction(storage.WithTx(ctx, sq.BindTx(tx)), action, data, user)
}

// Notify wakes this process's workers: work may be claimable. The engine calls
// it after its own enqueues; call it after committing a transaction passed to
// AfterActionTx (or bound with storage.WithTx).
func (e *Engine) Notify() { e.notify() }
