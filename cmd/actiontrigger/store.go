package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/memory"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore/postgres"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore/sqlite"
)

// recordsStore is a store that keeps the records of the CLI's collections too:
// every store the CLI opens.
type recordsStore interface {
	storage.Store
	storage.RecordStore
}

// openStore opens the store a --db flag names: "memory", a PostgreSQL DSN
// (postgres:// or postgresql://), or a SQLite file path. SQL stores are migrated,
// unless opts hold sqlstore.WithoutMigrate (then an outdated schema is an
// error wrapping sqlstore.ErrSchemaOutdated).
func openStore(ctx context.Context, db string, opts ...sqlstore.Option) (recordsStore, string, error) {
	switch {
	case db == "memory":
		return memory.New(), "in-memory store", nil
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		s, err := postgres.Open(ctx, db, opts...)
		if err != nil {
			return nil, "", err
		}
		return s, "PostgreSQL " + redact(db), nil
	case db == "":
		return nil, "", fmt.Errorf("--db is empty: give a SQLite file, a postgres:// DSN, or \"memory\"")
	default:
		s, err := sqlite.Open(ctx, db, opts...)
		if err != nil {
			return nil, "", err
		}
		return s, "SQLite " + db, nil
	}
}

// redact hides the password of a DSN.
func redact(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	scheme := strings.Index(dsn, "://")
	if at < 0 || scheme < 0 {
		return dsn
	}
	userinfo := dsn[scheme+3 : at]
	if i := strings.IndexByte(userinfo, ':'); i >= 0 {
		return dsn[:scheme+3] + userinfo[:i] + ":***" + dsn[at:]
	}
	return dsn
}
