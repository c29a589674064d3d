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
	declare(t, s)

	// Each unit writes two workflow versions (and, on a store that keeps
	// records, a post): all commit together or none does.
	unitWF := func(i int, part string) *flow.Workflow {
		w := newWorkflow(fmt.Sprintf("unit-%d-%s", i, part), i)
		w.Current = false
		return w
	}
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
	ids := make([][2]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { panics[i] = recover() }()
			errs[i] = s.InTx(storage.WithSharedCommit(ctx), func(ctx context.Context, tx storage.Store) error {
				a, b := unitWF(i, "a"), unitWF(i, "b")
				ids[i] = [2]string{a.ID, b.ID}
				if err := tx.InsertWorkflow(ctx, a); err != nil {
					return err
				}
				if rs, ok := tx.(storage.RecordStore); ok {
					if _, err := rs.CreateRecord(ctx, "posts", flow.Record{"id": 1000 + i, "title": fmt.Sprint("unit ", i)}); err != nil {
						return err
					}
				}
				if err := tx.InsertWorkflow(ctx, b); err != nil {
					return err
				}
				switch kind(i) {
				case "fail":
					return errUnit
				case "panic":
					panic(fmt.Sprint("unit ", i))
				case "duplicate":
					if err := tx.InsertWorkflow(ctx, a); !errors.Is(err, flow.ErrDuplicate) {
						return fmt.Errorf("want a duplicate, got %v", err)
					}
				}
				return nil
			})
			if errs[i] == nil {
				// Returned: the unit's writes are committed and visible to anyone.
				if _, err := s.GetWorkflow(ctx, ids[i][1]); err != nil {
					errs[i] = fmt.Errorf("committed unit %d not visible: %w", i, err)
				}
			}
		}()
	}
	wg.Wait()
	have := func(id string) bool {
		_, err := s.GetWorkflow(ctx, id)
		if err != nil {
			require.ErrorIs(t, err, flow.ErrNotFound)
		}
		return err == nil
	}
	want := 0
	for i := range n {
		switch kind(i) {
		case "fail":
			require.ErrorIs(t, errs[i], errUnit, "unit %d", i)
			require.False(t, have(ids[i][0]) || have(ids[i][1]), "a failed unit's writes were kept (%d)", i)
		case "panic":
			require.Equal(t, fmt.Sprint("unit ", i), panics[i], "unit %d's panic reaches its caller", i)
			require.False(t, have(ids[i][0]) || have(ids[i][1]), "a panicking unit's writes were kept (%d)", i)
		default:
			require.NoError(t, errs[i], "unit %d", i)
			require.Nil(t, panics[i])
			require.True(t, have(ids[i][0]) && have(ids[i][1]), "unit %d's writes are missing", i)
			want++
		}
	}
	all, err := s.ListWorkflows(ctx, storage.WorkflowFilter{})
	require.NoError(t, err)
	require.Len(t, all, 2*want, "each unit's writes commit together")
	if rs, ok := s.(storage.RecordStore); ok {
		posts, err := rs.ListRecords(ctx, "posts", nil, nil)
		require.NoError(t, err)
		require.Len(t, posts, want, "a unit's record commits with its workflows")
	}

	// A unit whose context is canceled fails alone, and the store stays usable.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	err = s.InTx(storage.WithSharedCommit(cctx), func(ctx context.Context, tx storage.Store) error {
		return tx.InsertWorkflow(ctx, unitWF(1000, "canceled"))
	})
	require.ErrorIs(t, err, context.Canceled)
	after := unitWF(1001, "after")
	require.NoError(t, s.InTx(storage.WithSharedCommit(ctx), func(ctx context.Context, tx storage.Store) error {
		return tx.InsertWorkflow(ctx, after)
	}))
	all, err = s.ListWorkflows(ctx, storage.WorkflowFilter{})
	require.NoError(t, err)
	require.Len(t, all, 2*want+1)
}
