package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// Benchmark runs the port's micro-benchmarks against the stores newStore
// creates (one store per sub-benchmark run):
//
//   - InsertExecution: one InsertExecution (its own unit of work).
//   - Claim100: one ClaimExecutions of 100 executions (reclaiming expired leases).
//   - InsertJob: one InsertJob (ten per execution).
//   - CreateRecord: one CreateRecord of a post.
//   - InTx: one InTx inserting an execution, two jobs and a record.
//   - InTxSyncRun: InTx plus an update of the execution: the writes of one
//     synchronous run.
//
// IDs are time-ordered (UUIDv7, as the engine makes them) and generated before
// the timer starts.
func Benchmark(b *testing.B, newStore func(b *testing.B) storage.Store) {
	setup := func(b *testing.B) (storage.Store, *flow.Workflow) {
		b.Helper()
		s := newStore(b)
		if rs, ok := s.(storage.RecordStore); ok {
			if err := rs.DeclareCollections(context.Background(), Collections()); err != nil {
				b.Fatal(err)
			}
		}
		w := newWorkflow("bench", 0)
		if err := s.InsertWorkflow(context.Background(), w); err != nil {
			b.Fatal(err)
		}
		return s, w
	}
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = newID()
		}
		return out
	}

	b.Run("InsertExecution", func(b *testing.B) {
		s, w := setup(b)
		ctx := context.Background()
		es := ids(b.N)
		e := newExecution(w, 1)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			e.ID = es[i]
			if err := s.InsertExecution(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("Claim100", func(b *testing.B) {
		s, w := setup(b)
		insertRunnable(b, s, w, 0, 100)
		benchClaim100(b, s)
	})

	// Claim100Waiting is Claim100 behind 10,000 older executions waiting
	// out a timer (RunAfter) that never comes due: what a claim pays for
	// executions that are runnable but not yet due.
	b.Run("Claim100Waiting", func(b *testing.B) {
		s, w := setup(b)
		ctx := context.Background()
		far := base.Add(1000 * time.Hour)
		for from := 0; from < 10_000; from += 1000 {
			err := s.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
				for i := range 1000 {
					e := newExecution(w, from+i)
					e.RunAfter = far
					if err := tx.InsertExecution(ctx, e); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		insertRunnable(b, s, w, 10_000, 100)
		benchClaim100(b, s)
	})

	b.Run("InsertJob", func(b *testing.B) {
		s, w := setup(b)
		ctx := context.Background()
		// Ten jobs per execution, as a workflow of ten nodes writes.
		es := make([]*flow.Execution, b.N/10+1)
		err := s.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
			for i := range es {
				es[i] = newExecution(w, i)
				es[i].Runnable = false
				if err := tx.InsertExecution(ctx, es[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		js := ids(b.N)
		j := newJob(es[0], 1, flow.JobResolved)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			j.ID, j.ExecutionID, j.Seq = js[i], es[i/10].ID, i%10
			if err := s.InsertJobs(ctx, j); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("CreateRecord", func(b *testing.B) {
		st, _ := setup(b)
		s, ok := st.(storage.RecordStore)
		if !ok {
			b.Skip("the store keeps no records")
		}
		ctx := context.Background()
		values := flow.Record{"title": "bench", "read": 1, "createdAt": base, "updatedAt": base}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := s.CreateRecord(ctx, "posts", values); err != nil {
				b.Fatal(err)
			}
		}
	})

	inTx := func(withUpdate bool) func(b *testing.B) {
		return func(b *testing.B) {
			s, w := setup(b)
			ctx := context.Background()
			all := ids(3 * b.N)
			e := newExecution(w, 1)
			e.Runnable = false
			e.Status = flow.ExecutionStarted
			j1 := newJob(e, 1, flow.JobResolved)
			j2 := newJob(e, 2, flow.JobResolved)
			values := flow.Record{"title": "bench", "read": 1, "createdAt": base, "updatedAt": base}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				e.ID, j1.ID, j2.ID = all[3*i], all[3*i+1], all[3*i+2]
				j1.ExecutionID, j2.ExecutionID = e.ID, e.ID
				err := s.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
					if err := tx.InsertExecution(ctx, e); err != nil {
						return err
					}
					if err := tx.InsertJobs(ctx, j1); err != nil {
						return err
					}
					if err := tx.InsertJobs(ctx, j2); err != nil {
						return err
					}
					if rs, ok := tx.(storage.RecordStore); ok {
						if _, err := rs.CreateRecord(ctx, "posts", values); err != nil {
							return err
						}
					}
					if !withUpdate {
						return nil
					}
					done := *e
					done.Status = flow.ExecutionResolved
					return tx.UpdateExecution(ctx, &done, storage.ExecutionExpect{Status: flow.ExecutionStarted})
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("InTx", inTx(false))
	b.Run("InTxSyncRun", inTx(true))
}

// benchClaim100 times claims of the same 100 runnable executions: every
// lease of the previous round has ended, so each round reclaims them all.
func benchClaim100(b *testing.B, s storage.Store) {
	ctx := context.Background()
	now := base
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		now = now.Add(time.Second)
		got, err := s.ClaimExecutions(ctx, storage.ClaimParams{Owner: "bench", Limit: 100, Now: now, LeaseUntil: now.Add(time.Millisecond)})
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != 100 {
			b.Fatalf("claimed %d, want 100", len(got))
		}
	}
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "claims/s")
}
