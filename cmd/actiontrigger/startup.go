package main

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore"
)

// startAttempts bounds how often a start-up step that lost a race with
// another process is run again.
const startAttempts = 5

// startUp does what serve does at start from its config, before serving:
// declares the collections, creates the configured users, builds the engine
// (ecfg.Store and ecfg.Collections are the config's) and saves the configured
// workflows. Several processes may run it at once on one database. On
// PostgreSQL it runs under an advisory lock: two processes saving a new
// workflow key in overlapping READ COMMITTED transactions would each retire
// the other's version and leave two. On SQLite the store's immediate
// transactions serialise the processes' writes. A user or workflow that
// another process created between the read and the write (flow.ErrDuplicate)
// is read again rather than failing the start.
func startUp(ctx context.Context, cfg *serveConfig, ecfg actiontrigger.Config) (eng *actiontrigger.Engine, saved []*flow.Workflow, err error) {
	store, ok := ecfg.Store.(recordsStore)
	if !ok {
		return nil, nil, fmt.Errorf("serve: the store (%T) keeps no records: %w", ecfg.Store, storage.ErrNotSupported)
	}
	unlock, err := lockStartUp(ctx, store)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	if err := store.DeclareCollections(ctx, cfg.Collections); err != nil {
		return nil, nil, err
	}
	if err := retryDuplicate(func() error { return cfg.createUsers(ctx, store) }); err != nil {
		return nil, nil, err
	}
	ecfg.Collections = cfg.Collections
	eng, err = actiontrigger.New(ctx, ecfg)
	if err != nil {
		return nil, nil, err
	}
	saved = make([]*flow.Workflow, 0, len(cfg.Workflows))
	for _, wf := range cfg.Workflows {
		var s *flow.Workflow
		err := retryDuplicate(func() (err error) {
			s, err = syncWorkflow(ctx, eng, wf)
			return err
		})
		if err != nil {
			return nil, nil, fmt.Errorf("workflow %q: %w", wf.Key, err)
		}
		saved = append(saved, s)
	}
	return eng, saved, nil
}

// retryDuplicate runs an idempotent step again while it fails with
// flow.ErrDuplicate (another process wrote the same row first), at most
// startAttempts times.
func retryDuplicate(step func() error) error {
	var err error
	for range startAttempts {
		if err = step(); !errors.Is(err, flow.ErrDuplicate) {
			return err
		}
	}
	return err
}

// startLockKey is the PostgreSQL advisory lock startUp holds (not the one the
// store takes for schema changes, which startUp's own declarations need).
const startLockKey = 7_353_011_245_101

// lockStartUp takes the start-up lock of a PostgreSQL store, on a connection
// of its own, and returns what releases it. Other stores need none.
func lockStartUp(ctx context.Context, st storage.Store) (unlock func(), err error) {
	sq, ok := st.(*sqlstore.Store)
	if !ok || sq.Dialect() != sqlstore.PostgreSQL {
		return func() {}, nil
	}
	conn, err := sq.DB().Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("start-up lock: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", int64(startLockKey)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("start-up lock: %w", err)
	}
	return func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(startLockKey)); err != nil {
			// Never hand a connection that may still hold the lock back to
			// the pool: discard it (the server releases the lock).
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}, nil
}
