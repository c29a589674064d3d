package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore"
	"github.com/actiontrigger/actiontrigger/storage/storagetest"
	"github.com/actiontrigger/actiontrigger/storage/teststores"
)

// dialects runs a test on a fresh store of each SQL dialect.
func dialects(t *testing.T, test func(t *testing.T, s *sqlstore.Store)) {
	t.Run("sqlite", func(t *testing.T) { test(t, teststores.SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { test(t, teststores.Postgres(t)) })
}

// A failed write under storage.WithAllOrNothing fails the whole unit of
// work (no savepoints); without it, the unit of work keeps the other writes.
// (The conformance suite lets a store ignore the option; the SQL store
// honours it.)
func TestAllOrNothing(t *testing.T) {
	dialects(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := t.Context()
		require.NoError(t, s.DeclareCollections(ctx, storagetest.Collections()))
		twice := func(ctx context.Context, tx storage.Store) error {
			if _, err := tx.CreateRecord(ctx, "posts", flow.Record{"id": 7, "title": "first"}); err != nil {
				return err
			}
			_, err := tx.CreateRecord(ctx, "posts", flow.Record{"id": 7, "title": "again"})
			if !errors.Is(err, flow.ErrDuplicate) {
				return fmt.Errorf("want a duplicate, got %v", err)
			}
			return nil
		}
		err := s.InTx(storage.WithAllOrNothing(ctx), twice)
		require.ErrorIs(t, err, storage.ErrUnitFailed)
		posts, err := s.ListRecords(ctx, "posts", nil, nil)
		require.NoError(t, err)
		require.Empty(t, posts)

		require.NoError(t, s.InTx(ctx, twice))
		posts, err = s.ListRecords(ctx, "posts", nil, nil)
		require.NoError(t, err)
		require.Len(t, posts, 1)
		require.Equal(t, "first", posts[0]["title"])
	})
}
