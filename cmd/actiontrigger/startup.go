package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
)

// startAttempts bounds how often a start-up step that lost a race with
// another process is run again.
const startAttempts = 5

// startUp does what serve does at start from its config, before serving:
// declares the collections, creates the configured users, builds the engine
// (ecfg.Store and ecfg.Collections are the config's) and saves the configured
// workflows. Several processes may run it at once on one database: the store
// serialises the schema changes, and a user or workflow that another process
// created between the read and the write (flow.ErrDuplicate) is read again
// rather than failing the start.
func startUp(ctx context.Context, cfg *serveConfig, ecfg actiontrigger.Config) (*actiontrigger.Engine, []*flow.Workflow, error) {
	store := ecfg.Store
	if err := store.DeclareCollections(ctx, cfg.Collections); err != nil {
		return nil, nil, err
	}
	if err := retryDuplicate(func() error { return cfg.createUsers(ctx, store) }); err != nil {
		return nil, nil, err
	}
	ecfg.Collections = cfg.Collections
	eng, err := actiontrigger.New(ctx, ecfg)
	if err != nil {
		return nil, nil, err
	}
	saved := make([]*flow.Workflow, 0, len(cfg.Workflows))
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
