package sqlstore

import (
	"database/sql"
	"fmt"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

var (
	_ storage.SQLTxBinder = (*Store)(nil)
	_ storage.SQLTxHolder = (*Store)(nil)
)

// BindSQLTx implements storage.SQLTxBinder: it is BindTx for callers that
// know the store only as a storage.Store.
func (s *Store) BindSQLTx(tx *sql.Tx) (storage.Store, error) {
	if tx == nil {
		return nil, fmt.Errorf("sqlstore: BindSQLTx: nil transaction: %w", flow.ErrStorage)
	}
	return s.BindTx(tx), nil
}

// SQLTx implements storage.SQLTxHolder: the transaction a unit of work of the
// store (a Store handed to the function of InTx, or returned by BindTx)
// writes through. The host may write its own rows through it while the unit
// of work is open; they commit or roll back with the engine's writes. It
// reports false outside a unit of work, for a store bound to a transaction
// of another API (BindQuerier: a pgx.Tx), and for a unit of work that shares
// its transaction with others (storage.WithSharedCommit on SQLite), where a
// host write that failed could not be undone alone.
func (s *Store) SQLTx() (*sql.Tx, bool) {
	if s.tx == nil || s.tx.shared || s.tx.tx == nil {
		return nil, false
	}
	return s.tx.tx, true
}
