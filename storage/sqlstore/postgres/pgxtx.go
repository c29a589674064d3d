package postgres

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore"
)

// BindPgxTx returns a unit of work of store whose statements run in tx, a
// transaction the host began through pgx (on a *pgxpool.Pool or a
// *pgx.Conn) on the store's database, so that the host's writes and the
// engine's (queued executions, jobs, created records) commit together and
// roll back together. Hand it to the engine with storage.WithTx:
//
//	tx, _ := pool.Begin(ctx)
//	defer tx.Rollback(ctx)
//	// ... the host's own writes through tx ...
//	unit, err := postgres.BindPgxTx(store, tx)
//	if err != nil { ... }
//	res, err := eng.AfterAction(storage.WithTx(ctx, unit), action, data, user)
//	// ...
//	err = tx.Commit(ctx)
//	eng.Notify()
//
// The host keeps owning tx: the returned store never commits or rolls it
// back, InTx on it joins tx, and it must not be used after tx ended (nor
// concurrently with the host's own statements on tx: a pgx connection runs
// one statement at a time). The store must be a PostgreSQL store (Open,
// OpenDB, or sqlstore.New with sqlstore.PostgreSQL) on the same database
// and schema as tx. The error wraps flow.ErrStorage when tx is nil or the
// store is not a PostgreSQL one.
func BindPgxTx(store *sqlstore.Store, tx pgx.Tx) (*sqlstore.Store, error) {
	if store == nil {
		return nil, fmt.Errorf("postgres: BindPgxTx: nil store: %w", flow.ErrStorage)
	}
	if tx == nil {
		return nil, fmt.Errorf("postgres: BindPgxTx: nil transaction: %w", flow.ErrStorage)
	}
	if d := store.Dialect(); d != sqlstore.PostgreSQL {
		return nil, fmt.Errorf("postgres: BindPgxTx: the store's dialect is %v, not postgres: %w", d, flow.ErrStorage)
	}
	return store.BindQuerier(pgxQuerier{tx: tx})
}

// pgxQuerier runs the store's statements on a pgx.Tx with pgx's native API,
// and gives back what database/sql with pgx's stdlib driver would (see
// sqlstore.Querier): arguments go to pgx as they are (stdlib passes them on
// unchanged too), and results scanned into *any are converted the way stdlib
// converts them to driver values.
type pgxQuerier struct {
	tx pgx.Tx
}

func (q pgxQuerier) ExecContext(ctx context.Context, query string, args ...any) (sqlstore.Result, error) {
	tag, err := q.tx.Exec(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgxResult(tag.RowsAffected()), nil
}

func (q pgxQuerier) QueryContext(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return &pgxRows{rows: rows}, nil
}

func (q pgxQuerier) QueryRowContext(ctx context.Context, query string, args ...any) sqlstore.Row {
	// pgx.Row hides the columns' types, which scanning into *any needs: read
	// the first row of a Query instead.
	rows, err := q.tx.Query(ctx, query, args...)
	return &pgxRow{rows: pgxRows{rows: rows}, err: err}
}

// pgxResult is the number of rows a statement affected.
type pgxResult int64

func (r pgxResult) RowsAffected() (int64, error) { return int64(r), nil }

// pgxRows is pgx.Rows as sqlstore.Rows.
type pgxRows struct {
	rows pgx.Rows
}

func (r *pgxRows) Next() bool { return r.rows.Next() }

func (r *pgxRows) Err() error { return r.rows.Err() }

func (r *pgxRows) Close() error {
	r.rows.Close()
	return nil
}

// Scan scans the current row into dest, converting the columns scanned into
// *any to the driver values database/sql would give.
func (r *pgxRows) Scan(dest ...any) error {
	var fixes []func()
	args := dest
	fields := r.rows.FieldDescriptions()
	for i, d := range dest {
		p, ok := d.(*any)
		if !ok || i >= len(fields) {
			continue
		}
		if fixes == nil {
			args = append([]any(nil), dest...)
		}
		switch fields[i].DataTypeOID {
		case pgtype.JSONOID, pgtype.JSONBOID, pgtype.XMLOID:
			// Raw text, as stdlib gives (pgx alone would decode the JSON).
			var b []byte
			args[i] = &b
			fixes = append(fixes, func() {
				if b == nil {
					*p = nil
				} else {
					*p = b
				}
			})
		case pgtype.BoolOID, pgtype.ByteaOID, pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID,
			pgtype.Float4OID, pgtype.Float8OID, pgtype.DateOID, pgtype.TimestampOID, pgtype.TimestamptzOID,
			pgtype.OIDOID, pgtype.CIDOID, pgtype.XIDOID:
			var v any
			args[i] = &v
			fixes = append(fixes, func() { *p = widen(v) })
		default:
			// Every other type (text, numeric, uuid, enums...) as its text.
			var s *string
			args[i] = &s
			fixes = append(fixes, func() {
				if s == nil {
					*p = nil
				} else {
					*p = *s
				}
			})
		}
	}
	if err := r.rows.Scan(args...); err != nil {
		return err
	}
	for _, f := range fixes {
		f()
	}
	return nil
}

// widen converts pgx's native values of the types stdlib widens.
func widen(v any) any {
	switch x := v.(type) {
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint32:
		return int64(x)
	case float32:
		return float64(x)
	}
	return v
}

// pgxRow is the first row of a query as sqlstore.Row.
type pgxRow struct {
	rows pgxRows
	err  error
}

func (r *pgxRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.rows.Close() // idempotent
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.rows.Close() // reads the rest, and the statement's error if any
	return r.rows.Err()
}

// Compile-time checks, and the error types mapErr relies on: a unique
// violation is a *pgconn.PgError, which reports its SQLSTATE.
var (
	_ sqlstore.Querier               = pgxQuerier{}
	_ interface{ SQLState() string } = (*pgconn.PgError)(nil)
)
