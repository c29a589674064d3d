package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// testSharedCommit checks storage.WithSharedCommit: units of work running at
// the same time, some failing, some panicking, some with a canceled context,
// each commit or vanish as a whole, and InTx returns only once its writes are
// visible. A store may ignore the option; the contract is the same.
func testSharedCommit(t *testing.T, newStore func(t *testing.T) storage.Store) {
	s := newStore(t)
	ctx := context.Background()
	require.NoError(t, s.DeclareCollections(ctx, Collections()))

	const n = 60
	errUnit := errors.New("unit refused")
	kind := func(i int) string {
		switch {
		case i%7 == 3:
			return "fail"
		case i%11 == 5:
			return "panic"
		case i%13 == 6:
			return "duplicate" // a failed write inside, swallowed: the unit still commits
		}
		return "ok"
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	panics := make([]any, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { panics[i] = recover() }()
			errs[i] = s.InTx(storage.WithSharedCommit(ctx), func(ctx context.Context, tx storage.Store) error {
				if _, err := tx.CreateRecord(ctx, "posts", flow.Record{"id": 1000 + i, "title": fmt.Sprint("unit ", i)}); err != nil {
					return err
				}
				if _, err := tx.CreateRecord(ctx, "comments", flow.Record{"content": fmt.Sprint("of ", i), "postId": 1000 + i}); err != nil {
					return err
				}
				switch kind(i) {
				case "fail":
					return errUnit
				case "panic":
					panic(fmt.Sprint("unit ", i))
				case "duplicate":
					if _, err := tx.CreateRecord(ctx, "posts", flow.Record{"id": 1000 + i}); !errors.Is(err, flow.ErrDuplicate) {
						return fmt.Errorf("want a duplicate, got %v", err)
					}
				}
				return nil
			})
			if errs[i] == nil {
				// Returned: the unit's writes are committed and visible to anyone.
				if _, err := s.GetRecord(ctx, "posts", flow.Record{"id": 1000 + i}, nil); err != nil {
					errs[i] = fmt.Errorf("committed unit %d not visible: %w", i, err)
				}
			}
		}()
	}
	wg.Wait()
	posts, err := s.ListRecords(ctx, "posts", nil, nil)
	require.NoError(t, err)
	comments, err := s.ListRecords(ctx, "comments", nil, nil)
	require.NoError(t, err)
	have := map[int64]bool{}
	for _, p := range posts {
		id, _ := flow.IntValue(p["id"])
		have[id] = true
	}
	want := 0
	for i := range n {
		switch kind(i) {
		case "fail":
			require.ErrorIs(t, errs[i], errUnit, "unit %d", i)
			require.False(t, have[int64(1000+i)], "a failed unit's record %d was kept", i)
		case "panic":
			require.Equal(t, fmt.Sprint("unit ", i), panics[i], "unit %d's panic reaches its caller", i)
			require.False(t, have[int64(1000+i)], "a panicking unit's record %d was kept", i)
		default:
			require.NoError(t, errs[i], "unit %d", i)
			require.Nil(t, panics[i])
			require.True(t, have[int64(1000+i)], "unit %d's record is missing", i)
			want++
		}
	}
	require.Len(t, posts, want)
	require.Len(t, comments, want, "each unit's two writes commit together")

	// A unit whose context is canceled fails alone, and the store stays usable.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err = s.InTx(storage.WithSharedCommit(cctx), func(ctx context.Context, tx storage.Store) error {
		_, err := tx.CreateRecord(ctx, "posts", flow.Record{"title": "canceled"})
		return err
	})
	require.ErrorIs(t, err, context.Canceled)
	require.NoError(t, s.InTx(storage.WithSharedCommit(ctx), func(ctx context.Context, tx storage.Store) error {
		_, err := tx.CreateRecord(ctx, "posts", flow.Record{"title": "after"})
		return err
	}))
	posts, err = s.ListRecords(ctx, "posts", nil, nil)
	require.NoError(t, err)
	require.Len(t, posts, want+1)
}
