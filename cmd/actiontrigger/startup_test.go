package main

import (
	"database/sql"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to create a schema
	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/storage"
)

// freshPostgres returns a DSN on a new schema of the test database, dropped at
// cleanup; without ACTIONTRIGGER_TEST_POSTGRES_DSN the test skips (fails in CI).
func freshPostgres(t *testing.T) string {
	t.Helper()
	const env = "ACTIONTRIGGER_TEST_POSTGRES_DSN"
	dsn := os.Getenv(env)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI", env)
		}
		t.Skipf("PostgreSQL test skipped: set %s", env)
	}
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	schema := fmt.Sprintf("at_startup_%d", time.Now().UnixNano())
	_, err = admin.Exec("CREATE SCHEMA " + schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		_ = admin.Close()
	})
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Four serve processes starting together on one database all come up, on a
// fresh database and then again with the tables, users and workflows present
// (rounds 2-5): each opens its own store and runs serve's start-up. Every
// configured workflow ends with exactly one current version and every user
// with one record.
func TestConcurrentStartUp(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "serve.db")
			if kind == "postgres" {
				db = freshPostgres(t)
			}
			const processes, rounds = 4, 5
			for round := range rounds {
				var wg sync.WaitGroup
				errs := make([]error, processes)
				for p := range processes {
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs[p] = startOnce(t, db)
					}()
				}
				wg.Wait()
				for p, err := range errs {
					require.NoError(t, err, "round %d, process %d", round+1, p+1)
				}
			}
			st, _, err := openStore(t.Context(), db)
			require.NoError(t, err)
			defer st.(io.Closer).Close()
			cfg := exampleConfig()
			require.NoError(t, st.DeclareCollections(t.Context(), cfg.Collections))
			for _, wf := range cfg.Workflows {
				cur, err := st.ListWorkflows(t.Context(), storage.WorkflowFilter{Key: wf.Key, Current: ptr(true)})
				require.NoError(t, err)
				require.Len(t, cur, 1, "workflow %q", wf.Key)
				all, err := st.ListWorkflows(t.Context(), storage.WorkflowFilter{Key: wf.Key})
				require.NoError(t, err)
				require.Len(t, all, 1, "workflow %q: one version, however many processes saved it", wf.Key)
			}
			users, err := st.ListRecords(t.Context(), "users", nil, nil)
			require.NoError(t, err)
			require.Len(t, users, len(cfg.Users))
		})
	}
}

// startOnce opens the store and runs serve's start-up on the built-in
// example, as one serve process would.
func startOnce(t *testing.T, db string) error {
	st, _, err := openStore(t.Context(), db)
	if err != nil {
		return err
	}
	defer st.(io.Closer).Close()
	cfg := exampleConfig()
	if _, err := cfg.tokens(); err != nil {
		return err
	}
	_, saved, err := startUp(t.Context(), cfg, actiontrigger.Config{Store: st})
	if err != nil {
		return err
	}
	if len(saved) != len(cfg.Workflows) {
		return fmt.Errorf("saved %d workflows of %d", len(saved), len(cfg.Workflows))
	}
	for i, wf := range saved {
		if wf == nil || wf.Key != cfg.Workflows[i].Key || !wf.Current {
			return fmt.Errorf("workflow %d: got %+v", i, wf)
		}
	}
	return nil
}
