// Package postgres opens a sqlstore.Store on PostgreSQL through
// github.com/jackc/pgx/v5/stdlib. Import it only if the host uses PostgreSQL.
package postgres

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/actiontrigger/actiontrigger/storage/sqlstore"
)

// MaxOpenConns caps the connections of the pool Open creates.
const MaxOpenConns = 16

// Open connects to the PostgreSQL database dsn names (a URL such as
// "postgres://user@host:5432/db?sslmode=disable", or key=value pairs; a
// search_path parameter selects the schema), checks that it answers and
// migrates it (under the migration lock; with sqlstore.WithoutMigrate it checks
// that it is migrated instead, see sqlstore.Store.Prepare). The store owns the
// pool: Close closes it.
func Open(ctx context.Context, dsn string, opts ...sqlstore.Option) (*sqlstore.Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: invalid DSN: %w", err)
	}
	where := fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(MaxOpenConns)
	db.SetMaxIdleConns(MaxOpenConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: cannot reach %s: %w", where, err)
	}
	s, err := sqlstore.New(db, sqlstore.PostgreSQL, append(opts, sqlstore.WithOwnedDB())...)
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := s.Prepare(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: migrate %s: %w", where, err)
	}
	return s, nil
}

// OpenDB is Open for a host that configures the pool itself: it wraps db
// (which the host keeps owning) and migrates it (or, with
// sqlstore.WithoutMigrate, checks that it is migrated).
func OpenDB(ctx context.Context, db *sql.DB, opts ...sqlstore.Option) (*sqlstore.Store, error) {
	s, err := sqlstore.New(db, sqlstore.PostgreSQL, opts...)
	if err != nil {
		return nil, err
	}
	if err := s.Prepare(ctx); err != nil {
		return nil, err
	}
	return s, nil
}
