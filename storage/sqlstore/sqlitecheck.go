package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrSQLiteSettings is returned by Migrate and CheckSettings when a SQLite
// *sql.DB the host opened lacks what concurrent writers need: a WAL journal,
// a busy timeout on its connections, and write transactions that take the
// write lock at BEGIN (BEGIN IMMEDIATE). Without them, concurrent requests fail
// with SQLITE_BUSY ("database is locked"). The error names each one missing;
// opening the database with sqlite.DSN(path) sets them all.
var ErrSQLiteSettings = errors.New("sqlstore: the SQLite database is not opened for concurrent writers")

// sqliteDSNHint says how to fix ErrSQLiteSettings.
const sqliteDSNHint = `open it with sql.Open("sqlite", sqlite.DSN(path)) (package storage/sqlstore/sqlite), ` +
	`or add _pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_txlock=immediate to the modernc.org/sqlite DSN`

// CheckSettings verifies that the store's database is set up for concurrent
// writers, and does nothing on PostgreSQL. On SQLite: the journal must be WAL
// (switched to WAL here if it is not: the mode is stored in the file), the
// connections must have a busy timeout (a per-connection setting, so it cannot
// be set on a pool the host owns), and sql.DB.BeginTx must begin IMMEDIATE
// transactions (modernc.org/sqlite: _txlock=immediate), checked when the pool
// allows two connections. An in-memory database must be held by a single
// connection (SetMaxOpenConns(1)). What is missing fails with
// ErrSQLiteSettings, naming each setting. Migrate calls it for a database the
// host owns (New without WithOwnedDB).
func (s *Store) CheckSettings(ctx context.Context) error {
	st := s.st
	if st.d != SQLite {
		return nil
	}
	conn, err := st.connect(ctx)
	if err != nil {
		return st.mapErr(err, "check settings: connect")
	}
	defer conn.Close()
	var missing []string
	single := st.db.Stats().MaxOpenConnections == 1
	var mode string
	if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return st.mapErr(err, "check settings: journal_mode")
	}
	switch mode = strings.ToLower(mode); mode {
	case "wal":
	case "memory":
		if !single {
			missing = append(missing, "an in-memory database shared by several connections: call db.SetMaxOpenConns(1)")
		}
	default:
		if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil || !strings.EqualFold(mode, "wal") {
			missing = append(missing, fmt.Sprintf("journal_mode is %s and could not be switched to WAL", mode))
		}
	}
	var timeout int
	if err := conn.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&timeout); err != nil {
		return st.mapErr(err, "check settings: busy_timeout")
	}
	if timeout <= 0 && !single {
		missing = append(missing, "busy_timeout is 0 (it is set per connection: put it in the DSN)")
	}
	if !single && mode == "wal" {
		immediate, err := st.beginsImmediate(ctx, conn, timeout)
		if err != nil {
			return err
		}
		if !immediate {
			missing = append(missing, "transactions begin DEFERRED (a reader that then writes fails with SQLITE_BUSY when another connection wrote first)")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s; %s", ErrSQLiteSettings, strings.Join(missing, "; "), sqliteDSNHint)
	}
	return nil
}

// beginsImmediate reports whether sql.DB.BeginTx takes the write lock at once:
// while such a transaction is open, BEGIN IMMEDIATE on another connection
// (probe, whose busy timeout is set to 0 for the test and then restored to
// timeout) fails with SQLITE_BUSY. A writer of another process can make a
// deferred transaction look immediate, never the reverse.
func (st *state) beginsImmediate(ctx context.Context, probe *sql.Conn, timeout int) (bool, error) {
	tx, err := st.db.BeginTx(ctx, nil)
	if err != nil {
		return false, st.mapErr(err, "check settings: begin")
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := probe.ExecContext(ctx, "PRAGMA busy_timeout = 0"); err != nil {
		return false, st.mapErr(err, "check settings: busy_timeout")
	}
	defer func() {
		_, _ = probe.ExecContext(context.WithoutCancel(ctx), "PRAGMA busy_timeout = "+strconv.Itoa(timeout))
	}()
	_, err = probe.ExecContext(ctx, "BEGIN IMMEDIATE")
	if err == nil {
		_, _ = probe.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return false, nil
	}
	if isBusy(err) {
		return true, nil
	}
	return false, st.mapErr(err, "check settings: begin immediate")
}

// connect returns a connection of the pool. Connections opening a new
// database at once (switching it to WAL) may fail with SQLITE_BUSY without
// waiting: those attempts are retried.
func (st *state) connect(ctx context.Context) (*sql.Conn, error) {
	for attempt := 0; ; attempt++ {
		conn, err := st.db.Conn(ctx)
		if err == nil {
			if err = conn.PingContext(ctx); err == nil {
				return conn, nil
			}
			conn.Close()
		}
		if !isBusy(err) || attempt >= 200 {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}
