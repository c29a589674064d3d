package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// migrate applies the SQL store's migrations to a database.
func migrate(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(out)
	db := fs.String("db", "", "database: a SQLite file path or a postgres:// DSN")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *db == "" || *db == "memory" {
		return errors.New("migrate needs --db with a SQLite file or a postgres:// DSN")
	}
	// Opening a SQL store applies the migrations (idempotent, and safe from
	// several processes at once: they run under a lock). Processes opened
	// with sqlstore.WithoutMigrate then only check the schema version.
	st, name, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	if c, ok := st.(io.Closer); ok {
		defer c.Close()
	}
	if v, ok := st.(interface {
		SchemaVersion(context.Context) (int, error)
	}); ok {
		n, err := v.SchemaVersion(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "migrated %s to schema version %d\n", name, n)
		return nil
	}
	fmt.Fprintf(out, "migrated %s\n", name)
	return nil
}
