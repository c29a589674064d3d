package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/actiontrigger/actiontrigger/storage"
)

// Group commit on SQLite (storage.WithSharedCommit).
//
// SQLite has one writer, so units of work run one after another under the
// write lock, and each commit writes its pages to the WAL again: for short
// units (an HTTP create and its sync workflow) the commit is a quarter of the
// CPU. Units that allow it share one transaction instead: a unit runs under a
// savepoint of the open group transaction (a failed unit is rolled back to it,
// alone); then, if other writers wait for the lock, it hands the open
// transaction on and waits; the unit that finds nobody waiting (or the group
// full) commits for every member and tells them the outcome. Each member's
// InTx returns only after that commit, so durability is unchanged.
//
// Every other taker of the write lock (lockWrite) commits an open group first.

// maxGroup caps the members of one group transaction, which bounds how long
// the first member waits for its commit.
const maxGroup = 64

// group is a transaction shared by several units of work.
type group struct {
	tx      *sql.Tx
	members []chan error // members that succeeded, waiting for the commit
	// broken is set when the transaction's state is no longer known (a
	// savepoint statement failed): the group rolls back and every member fails.
	broken error
}

// lockWrite takes the SQLite write lock for a transaction of the caller's
// own, committing a group transaction left open for it first.
func (st *state) lockWrite() {
	st.waiting.Add(1)
	st.wmu.Lock()
	st.waiting.Add(-1)
	if st.open != nil {
		st.endGroup()
	}
}

// endGroup commits (or, broken, rolls back) the open group transaction and
// tells its members. The caller holds wmu.
func (st *state) endGroup() {
	g := st.open
	st.open = nil
	var err error
	if g.broken != nil {
		_ = g.tx.Rollback()
		err = g.broken
	} else if cerr := g.tx.Commit(); cerr != nil {
		err = st.mapErr(cerr, "commit")
	}
	for _, ch := range g.members {
		ch <- err
	}
}

// inSharedTx is InTx for a unit of work that may share its transaction.
func (s *Store) inSharedTx(ctx context.Context, fn func(ctx context.Context, tx storage.Store) error) error {
	st := s.st
	st.waiting.Add(1)
	st.wmu.Lock()
	st.waiting.Add(-1)
	g := st.open
	if g == nil {
		// The transaction outlives this caller: it must not end with its context.
		tx, err := st.db.BeginTx(context.WithoutCancel(ctx), nil)
		if err != nil {
			st.wmu.Unlock()
			return st.mapErr(err, "begin")
		}
		g = &group{tx: tx}
		st.open = g
	}
	bg := context.WithoutCancel(ctx)
	q := st.querierOpt(g.tx, true)
	t := &txState{tx: g.tx, shared: true, allOrNothing: storage.AllOrNothing(ctx)}

	var ferr error
	var panicked bool
	var pv any
	if _, err := q.ExecContext(bg, "SAVEPOINT actiontrigger_unit"); err != nil {
		g.broken = st.mapErr(err, "savepoint")
		ferr = g.broken
	} else {
		panicked, pv, ferr = runUnit(ctx, fn, &Store{st: st, tx: t})
		t.mu.Lock()
		t.done = true
		failed := t.failed
		t.mu.Unlock()
		if ferr == nil && !panicked && failed != nil {
			ferr = fmt.Errorf("sqlstore: %w: %w", storage.ErrUnitFailed, failed)
		} else if ferr != nil {
			ferr = unitFailed(failed, ferr)
		}
	}
	var ch chan error
	if g.broken == nil {
		if ferr != nil || panicked {
			// Undo this unit's writes only; the group goes on.
			if _, err := q.ExecContext(bg, "ROLLBACK TO SAVEPOINT actiontrigger_unit"); err != nil {
				g.broken = st.mapErr(err, "rollback to savepoint")
			} else if _, err := q.ExecContext(bg, "RELEASE SAVEPOINT actiontrigger_unit"); err != nil {
				g.broken = st.mapErr(err, "release savepoint")
			}
		} else if _, err := q.ExecContext(bg, "RELEASE SAVEPOINT actiontrigger_unit"); err != nil {
			g.broken = st.mapErr(err, "release savepoint")
			ferr = g.broken
		} else {
			ch = make(chan error, 1)
			g.members = append(g.members, ch)
		}
	}
	// Hand the open transaction to the next writer, or commit it for everyone.
	if g.broken == nil && len(g.members) < maxGroup && st.waiting.Load() > 0 {
		st.wmu.Unlock()
	} else {
		st.endGroup()
		st.wmu.Unlock()
	}
	if panicked {
		panic(pv)
	}
	if ch == nil {
		return ferr
	}
	return <-ch
}

// runUnit runs fn, turning a panic into a value the caller re-panics with
// after it released the write lock.
func runUnit(ctx context.Context, fn func(ctx context.Context, tx storage.Store) error, view *Store) (panicked bool, pv any, err error) {
	defer func() {
		if r := recover(); r != nil {
			panicked, pv = true, r
		}
	}()
	return false, nil, fn(ctx, view)
}
