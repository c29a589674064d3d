package storage

import "database/sql"

// SQLTxBinder is implemented by stores that can run inside a transaction the
// host began on the store's own database, so that the host's writes and the
// engine's (queued executions, jobs, created records) commit together. The
// engine finds the capability by this interface, never by a store's type:
// a wrapping or third-party store offers it by implementing it.
type SQLTxBinder interface {
	// BindSQLTx returns a unit of work whose reads and writes go through tx.
	// The host keeps owning tx: the returned store never commits or rolls it
	// back, InTx on it joins tx, and it must not be used after tx ended. An
	// error wrapping flow.ErrStorage says tx cannot be joined (nil, or begun
	// on another kind of database).
	BindSQLTx(tx *sql.Tx) (Store, error)
}

// SQLTxHolder is implemented by the units of work of SQL stores (the Store
// InTx hands to its function, or BindSQLTx returns): SQLTx returns the
// database transaction they write through, for the host to write its own
// rows in the same transaction. ok is false for a unit of work that has no
// single *sql.Tx of its own to share (a group commit's shared transaction).
type SQLTxHolder interface {
	SQLTx() (tx *sql.Tx, ok bool)
}
