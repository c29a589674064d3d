package memory

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// checkQueue verifies that the queue lists exactly the runnable executions, in
// creation order, with their leases, and that its bookkeeping is consistent.
func checkQueue(t *testing.T, s *Store) {
	t.Helper()
	q := &s.st.queue
	gone := 0
	var last uint64
	seen := map[string]bool{}
	for i, ent := range q.order[q.head:] {
		require.NotNil(t, ent, "nil entry at %d", q.head+i)
		require.GreaterOrEqual(t, ent.seq, last, "order is not sorted") // a gone entry and its revival share a seq
		last = ent.seq
		if ent.gone {
			gone++
			continue
		}
		require.False(t, seen[ent.id], "execution %s queued twice", ent.id)
		seen[ent.id] = true
		require.Same(t, ent, q.live[ent.id])
	}
	require.Equal(t, gone, q.gone, "gone count")
	require.Len(t, q.live, len(seen), "live entries outside order")

	es, err := s.ListExecutions(context.Background(), storage.ExecutionFilter{})
	require.NoError(t, err)
	runnable := 0
	for _, e := range es {
		if !e.Runnable {
			require.Nil(t, q.live[e.ID], "execution %s is not runnable but queued", e.ID)
			continue
		}
		runnable++
		ent := q.live[e.ID]
		require.NotNil(t, ent, "runnable execution %s is not queued", e.ID)
		require.Equal(t, e.LeaseOwner, ent.owner)
		require.True(t, e.LeaseUntil.Equal(ent.until))
		require.True(t, e.RunAfter.Equal(ent.after), "execution %s: RunAfter %v, queued with %v", e.ID, e.RunAfter, ent.after)
	}
	require.Equal(t, runnable, len(q.live))
}

// TestQueueRandomized runs random inserts, updates, deletes, claims and
// rolled-back transactions, with and without timers (RunAfter), and checks
// the queue after each.
func TestQueueRandomized(t *testing.T) {
	s := New()
	ctx := context.Background()
	w := &flow.Workflow{ID: "w", Key: "k"}
	require.NoError(t, s.InsertWorkflow(ctx, w))
	rng := rand.New(rand.NewPCG(1, 2))
	var ids []string
	now := time.Unix(1_700_000_000, 0)
	errRollback := errors.New("rollback")

	// timer returns no timer, or one due within a few seconds of now.
	timer := func() time.Time {
		if rng.IntN(2) == 0 {
			return time.Time{}
		}
		return now.Add(time.Duration(rng.IntN(5)) * time.Second)
	}
	step := func(st storage.Store, i int) {
		switch op := rng.IntN(11); {
		case op < 4 || len(ids) == 0: // insert
			e := &flow.Execution{ID: "e" + strconv.Itoa(i), WorkflowID: "w", Status: flow.ExecutionQueueing, Runnable: rng.IntN(4) > 0, RunAfter: timer()}
			require.NoError(t, st.InsertExecution(ctx, e))
			ids = append(ids, e.ID)
		case op < 5: // re-arm or clear the timer, keeping the lease
			e, err := st.GetExecution(ctx, ids[rng.IntN(len(ids))])
			if errors.Is(err, flow.ErrNotFound) {
				return
			}
			require.NoError(t, err)
			u := *e
			u.RunAfter = timer()
			require.NoError(t, st.UpdateExecution(ctx, &u, storage.ExecutionExpect{Status: e.Status}))
		case op < 7: // flip Runnable, clearing the lease
			e, err := st.GetExecution(ctx, ids[rng.IntN(len(ids))])
			if errors.Is(err, flow.ErrNotFound) {
				return
			}
			require.NoError(t, err)
			u := *e
			u.Runnable = !e.Runnable
			u.LeaseOwner, u.LeaseUntil = "", time.Time{}
			require.NoError(t, st.UpdateExecution(ctx, &u, storage.ExecutionExpect{Status: e.Status}))
		case op < 8: // delete
			err := st.DeleteExecution(ctx, ids[rng.IntN(len(ids))])
			if !errors.Is(err, flow.ErrNotFound) {
				require.NoError(t, err)
			}
		default: // claim, sometimes after every lease ended
			now = now.Add(time.Duration(rng.IntN(3)) * time.Second)
			got, err := st.ClaimExecutions(ctx, storage.ClaimParams{Owner: "o" + strconv.Itoa(rng.IntN(3)), Limit: 1 + rng.IntN(5), Now: now, LeaseUntil: now.Add(time.Second)})
			require.NoError(t, err)
			for _, e := range got {
				require.False(t, e.RunAfter.After(now), "execution %s claimed at %v, before its RunAfter %v", e.ID, now, e.RunAfter)
			}
		}
	}

	for i := range 2000 {
		if rng.IntN(5) == 0 {
			// A transaction of a few steps that rolls back.
			before := len(ids)
			err := s.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
				for k := range 1 + rng.IntN(4) {
					step(tx, 100000*(i+1)+k)
				}
				return errRollback
			})
			require.ErrorIs(t, err, errRollback)
			ids = ids[:before]
		} else {
			step(s, i)
		}
		if i%7 == 0 {
			checkQueue(t, s)
		}
	}
	// Everything still runnable is claimed exactly once.
	far := now.Add(time.Hour)
	got, err := s.ClaimExecutions(ctx, storage.ClaimParams{Owner: "last", Limit: 1 << 20, Now: far, LeaseUntil: far.Add(time.Hour)})
	require.NoError(t, err)
	require.Len(t, got, len(s.st.queue.live))
	checkQueue(t, s)
}
