package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/actiontrigger/actiontrigger/flow"
)

// Querier is what the store runs its statements on: a database transaction
// (or connection) seen through the three calls it makes. The store's own
// implementations wrap *sql.DB and *sql.Tx; BindQuerier accepts another one,
// so that a driver subpackage can bind a store to a transaction of its
// driver's native API without package sqlstore importing the driver
// (storage/sqlstore/postgres.BindPgxTx binds a pgx.Tx this way).
//
// Queries are written for the store's dialect ($n placeholders on
// PostgreSQL). Arguments are nil, int, int64, float64, bool, string, []byte
// and time.Time. Scan destinations are pointers to string, int, int64,
// float64, bool and []byte (or to types defined on them, such as
// flow.ExecutionStatus), *sql.NullInt64, *sql.NullString and *any; a *any
// receives what database/sql would give (a driver.Value: int64, float64,
// bool, []byte, string, time.Time or nil). Row.Scan reports sql.ErrNoRows
// for no row, and errors of the database that have a SQLState() string
// method (unique violations: 23505) map to flow.ErrDuplicate.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) Row
}

// Rows are the rows of a query (*sql.Rows implements it).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// Row is the first row of a query (*sql.Row implements it): Scan reports
// sql.ErrNoRows when there is none (mapErr turns it into flow.ErrNotFound).
type Row interface {
	Scan(dest ...any) error
}

// Result is the outcome of a statement (sql.Result implements it).
type Result interface {
	RowsAffected() (int64, error)
}

// querier is the Querier the store's code runs on.
type querier = Querier

// sqlDB and sqlTx are *sql.DB and *sql.Tx as Queriers. They are pointer
// conversions, so that wrapping one in the interface allocates nothing, and
// their results are the database/sql ones, returned as they are.
type (
	sqlDB sql.DB
	sqlTx sql.Tx
)

func (d *sqlDB) ExecContext(ctx context.Context, query string, args ...any) (Result, error) {
	return (*sql.DB)(d).ExecContext(ctx, query, args...)
}

func (d *sqlDB) QueryContext(ctx context.Context, query string, args ...any) (Rows, error) {
	rows, err := (*sql.DB)(d).QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (d *sqlDB) QueryRowContext(ctx context.Context, query string, args ...any) Row {
	return (*sql.DB)(d).QueryRowContext(ctx, query, args...)
}

func (t *sqlTx) ExecContext(ctx context.Context, query string, args ...any) (Result, error) {
	return (*sql.Tx)(t).ExecContext(ctx, query, args...)
}

func (t *sqlTx) QueryContext(ctx context.Context, query string, args ...any) (Rows, error) {
	rows, err := (*sql.Tx)(t).QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (t *sqlTx) QueryRowContext(ctx context.Context, query string, args ...any) Row {
	return (*sql.Tx)(t).QueryRowContext(ctx, query, args...)
}

// BindQuerier is BindTx for a transaction the host began through its
// driver's own API rather than database/sql: q runs statements in that
// transaction (see Querier for what it must accept and return). The host
// keeps owning the transaction: the returned store never commits or rolls it
// back, InTx on it joins it, SQLTx reports false, and it must not be used
// after the transaction ended. The transaction must be on the store's
// database, migrated and with the collections the store declares. For
// pgx.Tx use storage/sqlstore/postgres.BindPgxTx, which wraps it.
func (s *Store) BindQuerier(q Querier) (*Store, error) {
	if q == nil {
		return nil, fmt.Errorf("sqlstore: BindQuerier: nil querier: %w", flow.ErrStorage)
	}
	return &Store{st: s.st, tx: &txState{ext: q, bound: true}}, nil
}

// scan is r.Scan(dest...), with database/sql's rows scanned by a static call:
// through the interface, the compiler would move the dest slice of every
// call to the heap. Another API's rows get a copy of dest.
func scan(r Row, dest ...any) error {
	switch x := r.(type) {
	case *sql.Row:
		return x.Scan(dest...)
	case *sql.Rows:
		return x.Scan(dest...)
	}
	return r.Scan(slices.Clone(dest)...)
}
