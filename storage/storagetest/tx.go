package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// txWrites is what writeAll wrote.
type txWrites struct {
	e    *flow.Execution
	j1   *flow.Job
	j2   *flow.Job
	post flow.Record
}

// writeAll writes an execution of w, two jobs, a post and an update of the
// execution through tx: the shape of one synchronous run.
func writeAll(ctx context.Context, tx storage.Store, w *flow.Workflow) (txWrites, error) {
	var out txWrites
	out.e = newExecution(w, 1)
	out.e.Runnable = true
	if err := tx.InsertExecution(ctx, out.e); err != nil {
		return out, err
	}
	out.j1 = newJob(out.e, 1, flow.JobResolved)
	out.j2 = newJob(out.e, 2, flow.JobResolved)
	for _, j := range []*flow.Job{out.j1, out.j2} {
		if err := tx.InsertJobs(ctx, j); err != nil {
			return out, err
		}
	}
	if rs, ok := tx.(storage.RecordStore); ok {
		post, err := rs.CreateRecord(ctx, "posts", flow.Record{"title": "in tx"})
		if err != nil {
			return out, err
		}
		out.post = post
	}
	started := *out.e
	started.Status = flow.ExecutionStarted
	if err := tx.UpdateExecution(ctx, &started, storage.ExecutionExpect{Status: flow.ExecutionQueueing}); err != nil {
		return out, err
	}
	out.e = &started
	return out, nil
}

// requireNothingWritten checks that none of wr's writes is visible in s.
func requireNothingWritten(t *testing.T, s storage.Store, w *flow.Workflow, wr txWrites) {
	t.Helper()
	ctx := t.Context()
	if wr.e != nil {
		_, err := s.GetExecution(ctx, wr.e.ID)
		requireErrorIs(t, err, flow.ErrNotFound, "execution of a rolled-back transaction")
		es, err := s.ListExecutions(ctx, storage.ExecutionFilter{WorkflowID: w.ID})
		require.NoError(t, err)
		require.Empty(t, es)
		js, err := s.ListJobs(ctx, wr.e.ID)
		require.NoError(t, err)
		require.Empty(t, js)
	}
	for _, j := range []*flow.Job{wr.j1, wr.j2} {
		if j != nil {
			_, err := s.GetJob(ctx, j.ID)
			requireErrorIs(t, err, flow.ErrNotFound, "job of a rolled-back transaction")
		}
	}
	if rs, ok := s.(storage.RecordStore); ok {
		posts, err := rs.ListRecords(ctx, "posts", nil, nil)
		require.NoError(t, err)
		require.Empty(t, posts, "record of a rolled-back transaction")
	}
	got, err := s.GetWorkflow(ctx, w.ID)
	require.NoError(t, err)
	require.Zero(t, got.Executed, "a rolled-back execution was counted")
	require.Zero(t, got.AllExecuted, "a rolled-back execution was counted")
	require.Empty(t, claim(t, s, "X", 10, at(100), time.Minute), "an execution of a rolled-back transaction is claimable")
}

func testTransactions(t *testing.T, newStore func(t *testing.T) storage.Store) {
	setup := func(t *testing.T) (storage.Store, *flow.Workflow) {
		s := newStore(t)
		declare(t, s)
		return s, seedWorkflow(t, s)
	}

	t.Run("Commit", func(t *testing.T) {
		t.Parallel()
		s, w := setup(t)
		ctx := t.Context()
		var wr txWrites
		err := s.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
			var err error
			wr, err = writeAll(ctx, tx, w)
			return err
		})
		require.NoError(t, err)

		got, err := s.GetExecution(ctx, wr.e.ID)
		require.NoError(t, err)
		requireExecution(t, wr.e, got)
		js, err := s.ListJobs(ctx, wr.e.ID)
		require.NoError(t, err)
		require.Len(t, js, 2)
		requireJob(t, wr.j1, js[0])
		requireJob(t, wr.j2, js[1])
		if rs, ok := s.(storage.RecordStore); ok {
			post, err := rs.GetRecord(ctx, "posts", flow.Record{"id": wr.post["id"]}, nil)
			require.NoError(t, err)
			requireFields(t, flow.Record{"title": "in tx"}, post)
		}
		wf, err := s.GetWorkflow(ctx, w.ID)
		require.NoError(t, err)
		require.EqualValues(t, 1, wf.Executed)
		require.EqualValues(t, 1, wf.AllExecuted)
		require.Equal(t, []string{wr.e.ID}, executionIDs(claim(t, s, "A", 10, at(100), time.Minute)))
	})

	t.Run("ErrorRollsBack", func(t *testing.T) {
		t.Parallel()
		s, w := setup(t)
		var wr txWrites
		err := s.InTx(t.Context(), func(ctx context.Context, tx storage.Store) error {
			var err error
			wr, err = writeAll(ctx, tx, w)
			require.NoError(t, err)
			return errBoom
		})
		requireErrorIs(t, err, errBoom)
		requireNothingWritten(t, s, w, wr)
	})

	t.Run("PanicRollsBack", func(t *testing.T) {
		t.Parallel()
		s, w := setup(t)
		var wr txWrites
		recovered := func() (r any) {
			defer func() { r = recover() }()
			_ = s.InTx(t.Context(), func(ctx context.Context, tx storage.Store) error {
				var err error
				wr, err = writeAll(ctx, tx, w)
				require.NoError(t, err)
				panic("boom")
			})
			return nil
		}()
		// Re-panicking is the expected behaviour; returning an error is tolerated.
		if recovered == nil {
			t.Log("InTx swallowed the panic of fn")
		}
		requireNothingWritten(t, s, w, wr)

		// The store is still usable.
		e := newExecution(w, 2)
		mustInsertExecution(t, s, e)
		require.Equal(t, []string{e.ID}, executionIDs(claim(t, s, "A", 10, at(100), time.Minute)))
	})

	t.Run("ReadsOwnWrites", func(t *testing.T) {
		t.Parallel()
		s, w := setup(t)
		err := s.InTx(t.Context(), func(ctx context.Context, tx storage.Store) error {
			wr, err := writeAll(ctx, tx, w)
			require.NoError(t, err)
			got, err := tx.GetExecution(ctx, wr.e.ID)
			require.NoError(t, err)
			requireExecution(t, wr.e, got)
			es, err := tx.ListExecutions(ctx, storage.ExecutionFilter{WorkflowID: w.ID})
			require.NoError(t, err)
			require.Equal(t, []string{wr.e.ID}, executionIDs(es))
			j, err := tx.GetJob(ctx, wr.j2.ID)
			require.NoError(t, err)
			requireJob(t, wr.j2, j)
			js, err := tx.ListJobs(ctx, wr.e.ID)
			require.NoError(t, err)
			require.Len(t, js, 2)
			if rs, ok := tx.(storage.RecordStore); ok {
				post, err := rs.GetRecord(ctx, "posts", flow.Record{"id": wr.post["id"]}, nil)
				require.NoError(t, err)
				requireFields(t, flow.Record{"title": "in tx"}, post)
			}
			wf, err := tx.GetWorkflow(ctx, w.ID)
			require.NoError(t, err)
			require.EqualValues(t, 1, wf.Executed, "the transaction's own execution is counted inside it")
			require.EqualValues(t, 1, wf.AllExecuted)
			ws, err := tx.ListWorkflows(ctx, storage.WorkflowFilter{Key: w.Key})
			require.NoError(t, err)
			require.Len(t, ws, 1)
			require.EqualValues(t, 1, ws[0].Executed)

			// A second workflow written in the transaction is visible to it.
			w2 := newWorkflow("in-tx", 5)
			require.NoError(t, tx.InsertWorkflow(ctx, w2))
			_, err = tx.GetWorkflow(ctx, w2.ID)
			require.NoError(t, err)
			return errBoom
		})
		requireErrorIs(t, err, errBoom)
		ws, err := s.ListWorkflows(t.Context(), storage.WorkflowFilter{Key: "in-tx"})
		require.NoError(t, err)
		require.Empty(t, ws, "workflow of a rolled-back transaction")
	})

	t.Run("NestedJoins", func(t *testing.T) {
		t.Parallel()
		s, w := setup(t)
		var wr txWrites
		var inner *flow.Execution
		err := s.InTx(t.Context(), func(ctx context.Context, tx storage.Store) error {
			var err error
			wr, err = writeAll(ctx, tx, w)
			require.NoError(t, err)
			err = tx.InTx(ctx, func(ctx context.Context, tx2 storage.Store) error {
				// The inner transaction sees the outer one's writes.
				if _, err := tx2.GetExecution(ctx, wr.e.ID); err != nil {
					return err
				}
				inner = newExecution(w, 2)
				return tx2.InsertExecution(ctx, inner)
			})
			require.NoError(t, err)
			// The outer transaction sees the inner one's writes.
			_, err = tx.GetExecution(ctx, inner.ID)
			require.NoError(t, err)
			return errBoom
		})
		requireErrorIs(t, err, errBoom)
		requireNothingWritten(t, s, w, wr)
		_, err = s.GetExecution(t.Context(), inner.ID)
		requireErrorIs(t, err, flow.ErrNotFound, "execution of a joined transaction that rolled back")
	})

	t.Run("NestedErrorPropagates", func(t *testing.T) {
		t.Parallel()
		s, w := setup(t)
		var e *flow.Execution
		err := s.InTx(t.Context(), func(ctx context.Context, tx storage.Store) error {
			return tx.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
				e = newExecution(w, 1)
				if err := tx.InsertExecution(ctx, e); err != nil {
					return err
				}
				return errBoom
			})
		})
		requireErrorIs(t, err, errBoom)
		_, err = s.GetExecution(t.Context(), e.ID)
		requireErrorIs(t, err, flow.ErrNotFound)
	})

	t.Run("FailedWriteKeepsTransaction", func(t *testing.T) {
		t.Parallel()
		s, w := setup(t)
		e := newExecution(w, 1)
		err := s.InTx(t.Context(), func(ctx context.Context, tx storage.Store) error {
			require.NoError(t, tx.InsertExecution(ctx, e))
			// A rejected write inside the transaction leaves the earlier ones in place.
			requireErrorIs(t, tx.InsertExecution(ctx, e), flow.ErrDuplicate)
			requireErrorIs(t, tx.InsertJobs(ctx, newJob(&flow.Execution{ID: newID()}, 1, flow.JobResolved)), flow.ErrNotFound)
			if rs, ok := tx.(storage.RecordStore); ok {
				_, err := rs.CreateRecord(ctx, "nope", flow.Record{})
				requireErrorIs(t, err, flow.ErrUnknownCollection)
			}
			return nil
		})
		require.NoError(t, err)
		_, err = s.GetExecution(t.Context(), e.ID)
		require.NoError(t, err)
		wf, err := s.GetWorkflow(t.Context(), w.ID)
		require.NoError(t, err)
		require.EqualValues(t, 1, wf.Executed)
	})

	t.Run("AllOrNothing", func(t *testing.T) {
		t.Parallel()
		s, w := setup(t)
		// Without a failed write, it is a unit of work like any other.
		var wr txWrites
		err := s.InTx(storage.WithAllOrNothing(t.Context()), func(ctx context.Context, tx storage.Store) error {
			var err error
			wr, err = writeAll(ctx, tx, w)
			return err
		})
		require.NoError(t, err)
		got, err := s.GetExecution(t.Context(), wr.e.ID)
		require.NoError(t, err)
		require.Equal(t, flow.ExecutionStarted, got.Status)
		js, err := s.ListJobs(t.Context(), wr.e.ID)
		require.NoError(t, err)
		require.Len(t, js, 2)

		// A failed write either leaves the unit of work usable (the store
		// ignores the request) or fails all of it with ErrUnitFailed.
		s2, w2 := setup(t)
		var wr2 txWrites
		err = s2.InTx(storage.WithAllOrNothing(t.Context()), func(ctx context.Context, tx storage.Store) error {
			var err error
			if wr2, err = writeAll(ctx, tx, w2); err != nil {
				return err
			}
			requireErrorIs(t, tx.InsertExecution(ctx, wr2.e), flow.ErrDuplicate)
			return nil
		})
		if err != nil {
			requireErrorIs(t, err, storage.ErrUnitFailed)
			requireNothingWritten(t, s2, w2, wr2)
		} else {
			_, err := s2.GetExecution(t.Context(), wr2.e.ID)
			require.NoError(t, err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		s, w := setup(t)
		const n = 8
		errs := make(chan error, n)
		for range n {
			go func() {
				errs <- s.InTx(context.Background(), func(ctx context.Context, tx storage.Store) error {
					_, err := writeAll(ctx, tx, w)
					return err
				})
			}()
		}
		for range n {
			require.NoError(t, <-errs)
		}
		wf, err := s.GetWorkflow(t.Context(), w.ID)
		require.NoError(t, err)
		require.EqualValues(t, n, wf.Executed)
		if rs, ok := s.(storage.RecordStore); ok {
			posts, err := rs.ListRecords(t.Context(), "posts", nil, nil)
			require.NoError(t, err)
			require.Len(t, posts, n)
			ids := recordIDs(t, posts)
			require.Equal(t, sortedInt64(ids), ids)
		}
	})
}

// declare declares the fixtures' collections to a store that keeps records
// (storage.RecordStore); a store of engine state alone has none to declare.
func declare(t testing.TB, s storage.Store) {
	t.Helper()
	if rs, ok := s.(storage.RecordStore); ok {
		require.NoError(t, rs.DeclareCollections(context.Background(), Collections()))
	}
}
