package storagetest

import (
	"context"

	"github.com/actiontrigger/actiontrigger/storage"
)

// StateOnly returns s seen as a store of engine state alone: its records
// methods (and those of the units of work its InTx hands out) are hidden.
// Run passes on it, which shows the engine-state suite needs no records; the
// engine runs on it when Config.Records backs every collection.
func StateOnly(s storage.Store) storage.Store { return stateOnly{s} }

type stateOnly struct{ storage.Store }

func (s stateOnly) InTx(ctx context.Context, fn func(ctx context.Context, tx storage.Store) error) error {
	return s.Store.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
		return fn(ctx, stateOnly{tx})
	})
}
