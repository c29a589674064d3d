// Package sqlite opens a sqlstore.Store on SQLite through modernc.org/sqlite
// (pure Go, no cgo). Import it only if the host uses SQLite.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/actiontrigger/actiontrigger/storage/sqlstore"
)

// BusyTimeoutMillis is how long a connection waits for a lock held by another
// process before failing with SQLITE_BUSY.
const BusyTimeoutMillis = 10000

// DSN turns a path (a file name, ":memory:", or a "file:" URI such as
// "file:x?mode=memory") into the modernc.org/sqlite data source name Open
// uses: WAL journal, a busy timeout, BEGIN IMMEDIATE transactions, and
// temporary files in memory (temp_store=MEMORY: the savepoint journals of
// group commit stay off the disk).
func DSN(path string) string {
	dsn := path
	if dsn == ":memory:" {
		dsn = "file::memory:"
	}
	if !strings.HasPrefix(dsn, "file:") {
		dsn = "file:" + dsn
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return fmt.Sprintf("%s%s_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=temp_store(MEMORY)&_txlock=immediate", dsn, sep, BusyTimeoutMillis)
}

// isMemory reports whether path names an in-memory database, which lives in
// one connection.
func isMemory(path string) bool {
	return path == ":memory:" || strings.Contains(path, "mode=memory") || strings.HasPrefix(path, "file::memory:")
}

// Open opens (creating it if needed) the SQLite database at path, which may be
// a file name, ":memory:" or a "file:" URI, and migrates it (under the
// migration lock; with sqlstore.WithoutMigrate it checks that it is migrated
// instead, see sqlstore.Store.Prepare). The store owns
// the database: Close closes it. An in-memory database is held by a single
// connection, so it lives as long as the store.
func Open(ctx context.Context, path string, opts ...sqlstore.Option) (*sqlstore.Store, error) {
	if path == "" {
		return nil, fmt.Errorf("sqlite: Open: empty path")
	}
	db, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	if isMemory(path) {
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
	} else {
		db.SetMaxOpenConns(4)
		db.SetMaxIdleConns(4)
	}
	if err := ping(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	s, err := sqlstore.New(db, sqlstore.SQLite, append(opts, sqlstore.WithOwnedDB())...)
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := s.Prepare(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: migrate %q: %w", path, err)
	}
	return s, nil
}

// ping opens the first connection, retrying while another process switches
// a new database to WAL (which fails with SQLITE_BUSY without waiting).
func ping(ctx context.Context, db *sql.DB) error {
	for attempt := 0; ; attempt++ {
		err := db.PingContext(ctx)
		var lite interface{ Code() int }
		if err == nil || !errors.As(err, &lite) || lite.Code()&0xff != 5 || attempt >= 200 {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// OpenDB is Open for a SQLite *sql.DB the host opened and keeps owning (Close
// leaves it open): it checks the settings concurrent writers need and
// migrates it. Open the database with DSN(path), which sets them: WAL, a busy
// timeout, and BEGIN IMMEDIATE transactions. A database without them fails
// with sqlstore.ErrSQLiteSettings naming what is missing (WAL is switched on
// when it can be; the busy timeout and the transaction mode are per
// connection, so only the DSN can set them).
func OpenDB(ctx context.Context, db *sql.DB, opts ...sqlstore.Option) (*sqlstore.Store, error) {
	s, err := sqlstore.New(db, sqlstore.SQLite, opts...)
	if err != nil {
		return nil, err
	}
	if err := s.Prepare(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return s, nil
}
