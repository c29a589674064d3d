package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations
var migrationsFS embed.FS

// ErrSchemaTooNew is returned by Migrate when the database was migrated by a
// newer version of this package than the running one.
var ErrSchemaTooNew = errors.New("sqlstore: the database schema is newer than this code")

// migrationsTable records the applied migrations.
const migrationsTable = "actiontrigger_schema_migrations"

// advisoryLockKey is the PostgreSQL advisory lock Migrate holds.
const advisoryLockKey = 7_353_011_245_001

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations of the dialect in version order.
func (st *state) migrations() ([]migration, error) {
	dir := path.Join("migrations", st.d.String())
	entries, err := fs.ReadDir(migrationsFS, dir)
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: migration %q: bad version", name)
		}
		b, err := migrationsFS.ReadFile(path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// LatestSchemaVersion is the schema version this code migrates to.
func (s *Store) LatestSchemaVersion() int {
	ms, err := s.st.migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// Migrate applies the embedded migrations the database lacks, recording them
// in the table actiontrigger_schema_migrations. It is safe to run again and
// from several processes at once: PostgreSQL serialises it with an advisory
// lock, SQLite with BEGIN IMMEDIATE. A database migrated by newer code fails
// with ErrSchemaTooNew. On a SQLite database the host opened, Migrate first
// runs CheckSettings (ErrSQLiteSettings).
func (s *Store) Migrate(ctx context.Context) error {
	st := s.st
	ms, err := st.migrations()
	if err != nil {
		return fmt.Errorf("sqlstore: migrations: %w", err)
	}
	if st.d == SQLite && !st.opts.ownDB {
		if err := s.CheckSettings(ctx); err != nil {
			return err
		}
	}
	if st.d == SQLite {
		st.lockWrite()
		defer st.wmu.Unlock()
	}
	conn, err := st.beginMigration(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	done := false
	defer func() {
		if !done {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	if st.d == PostgreSQL {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_xact_lock("+strconv.Itoa(advisoryLockKey)+")"); err != nil {
			return st.mapErr(err, "migrate: advisory lock")
		}
	}
	if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+migrationsTable+
		" (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"); err != nil {
		return st.mapErr(err, "migrate: create "+migrationsTable)
	}
	var current sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT MAX(version) FROM "+migrationsTable).Scan(&current); err != nil {
		return st.mapErr(err, "migrate: read version")
	}
	latest := 0
	if len(ms) > 0 {
		latest = ms[len(ms)-1].version
	}
	if int(current.Int64) > latest {
		return fmt.Errorf("%w: database at version %d, code knows up to %d", ErrSchemaTooNew, current.Int64, latest)
	}
	for _, m := range ms {
		if m.version <= int(current.Int64) {
			continue
		}
		for _, stmt := range splitStatements(m.sql) {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return st.mapErr(err, "migrate: "+m.name)
			}
		}
		if _, err := conn.ExecContext(ctx, st.q("INSERT INTO "+migrationsTable+" (version, name, applied_at) VALUES (?, ?, ?)"),
			m.version, m.name, time.Now().UnixMicro()); err != nil {
			return st.mapErr(err, "migrate: record "+m.name)
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return st.mapErr(err, "migrate: commit")
	}
	done = true
	return nil
}

// ErrSchemaOutdated is returned by Prepare for a store created WithoutMigrate
// when the database lacks migrations this code needs: run Migrate (or
// `actiontrigger migrate`) first.
var ErrSchemaOutdated = errors.New("sqlstore: the database schema is older than this code: run the migrations")

// Prepare readies the store's database: it runs Migrate, or, for a store
// created WithoutMigrate, checks that the database is at
// LatestSchemaVersion (ErrSchemaOutdated, ErrSchemaTooNew) and, on a SQLite
// database the host opened, runs CheckSettings. The driver subpackages' Open
// and OpenDB call it.
func (s *Store) Prepare(ctx context.Context) error {
	st := s.st
	if !st.opts.noMigrate {
		return s.Migrate(ctx)
	}
	if st.d == SQLite && !st.opts.ownDB {
		if err := s.CheckSettings(ctx); err != nil {
			return err
		}
	}
	current, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	latest := s.LatestSchemaVersion()
	switch {
	case current < latest:
		return fmt.Errorf("%w: database at version %d, code needs %d", ErrSchemaOutdated, current, latest)
	case current > latest:
		return fmt.Errorf("%w: database at version %d, code knows up to %d", ErrSchemaTooNew, current, latest)
	}
	return nil
}

// SchemaVersion returns the version the database is migrated to (0: never).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var version int
	err := s.read(ctx, func(q querier) error {
		cols, err := s.tableColumns(ctx, q, migrationsTable)
		if err != nil || cols == nil {
			return err
		}
		var v sql.NullInt64
		if err := scan(q.QueryRowContext(ctx, "SELECT MAX(version) FROM "+migrationsTable), &v); err != nil {
			return s.st.mapErr(err, "read schema version")
		}
		version = int(v.Int64)
		return nil
	})
	return version, err
}

// splitStatements splits a migration at semicolons that end a line, except
// inside a dollar-quoted body ($$ ... $$, a PostgreSQL function's).
func splitStatements(src string) []string {
	var (
		out      []string
		cur      strings.Builder
		inDollar bool
	)
	flush := func() {
		if p := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(cur.String()), ";")); p != "" {
			out = append(out, p)
		}
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(src, "\n") {
		cur.WriteString(line)
		if strings.Count(line, "$$")%2 == 1 {
			inDollar = !inDollar
		}
		if !inDollar && strings.HasSuffix(strings.TrimRight(line, "\n"), ";") && strings.HasSuffix(line, "\n") {
			flush()
		}
	}
	flush()
	return out
}

// beginMigration opens a connection and begins the migration transaction on
// it. SQLite connections opening a new database at once (switching it to WAL)
// may fail with SQLITE_BUSY without waiting: those attempts are retried.
func (st *state) beginMigration(ctx context.Context) (*sql.Conn, error) {
	begin := "BEGIN"
	if st.d == SQLite {
		begin = "BEGIN IMMEDIATE"
	}
	for attempt := 0; ; attempt++ {
		conn, err := st.db.Conn(ctx)
		if err == nil {
			if _, err = conn.ExecContext(ctx, begin); err == nil {
				return conn, nil
			}
			conn.Close()
		}
		if !isBusy(err) || attempt >= 200 {
			return nil, st.mapErr(err, "migrate: begin")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// isBusy recognises SQLITE_BUSY and SQLITE_LOCKED (and their extended codes).
func isBusy(err error) bool {
	var lite interface{ Code() int }
	if errors.As(err, &lite) {
		c := lite.Code() & 0xff
		return c == 5 || c == 6
	}
	return false
}
