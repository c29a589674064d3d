// Package teststores opens fresh stores of every adapter for tests, so that a
// package's scenarios run on memory, SQLite and PostgreSQL alike.
//
// ACTIONTRIGGER_TEST_STORE picks the adapter of FromEnv: "memory" (the
// default), "sqlite" (a file in the test's temp folder) or "postgres" (a
// fresh schema of the database ACTIONTRIGGER_TEST_POSTGRES_DSN names, dropped
// at cleanup). Without that DSN the PostgreSQL tests skip, saying how to enable
// them, except in CI (CI=true), where they fail.
package teststores

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/memory"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore/postgres"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore/sqlite"
)

// Environment variables read by this package.
const (
	EnvStore       = "ACTIONTRIGGER_TEST_STORE"
	EnvPostgresDSN = "ACTIONTRIGGER_TEST_POSTGRES_DSN"
)

// Kind returns the adapter ACTIONTRIGGER_TEST_STORE names ("memory" if unset).
func Kind() string {
	if k := os.Getenv(EnvStore); k != "" {
		return k
	}
	return "memory"
}

// FromEnv returns a fresh store of the adapter Kind names.
func FromEnv(t testing.TB) storage.Store {
	t.Helper()
	switch k := Kind(); k {
	case "memory":
		return memory.New()
	case "sqlite":
		return SQLite(t)
	case "postgres":
		return Postgres(t)
	default:
		t.Fatalf("unknown %s %q (memory, sqlite or postgres)", EnvStore, k)
		return nil
	}
}

// SQLite returns a store on a new SQLite file in the test's temp folder,
// closed at cleanup.
func SQLite(t testing.TB) *sqlstore.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatalf("teststores: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var schemaN atomic.Int64

// Postgres returns a store on a fresh schema of the database
// ACTIONTRIGGER_TEST_POSTGRES_DSN names; the schema is dropped at cleanup.
// Without the DSN the test skips, or fails when CI=true.
func Postgres(t testing.TB) *sqlstore.Store {
	t.Helper()
	dsn := os.Getenv(EnvPostgresDSN)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI needs a PostgreSQL database (.ci/run creates one)", EnvPostgresDSN)
		}
		t.Skipf("PostgreSQL test skipped: set %s=postgres://user@host:5432/db?sslmode=disable to run it", EnvPostgresDSN)
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("teststores: %v", err)
	}
	schema := fmt.Sprintf("at_test_%d_%d", time.Now().UnixNano(), schemaN.Add(1))
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		_ = admin.Close()
		t.Fatalf("teststores: create schema: %v", err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		_ = admin.Close()
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("teststores: %s: %v", EnvPostgresDSN, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	s, err := postgres.Open(context.Background(), u.String())
	if err != nil {
		t.Fatalf("teststores: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
