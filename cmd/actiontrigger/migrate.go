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
	// Opening a SQL store applies the migrations (idempotent, safe from two
	// processes at once).
	st, name, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	if c, ok := st.(io.Closer); ok {
		defer c.Close()
	}
	fmt.Fprintf(out, "migrated %s\n", name)
	return nil
}
