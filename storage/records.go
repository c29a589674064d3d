package storage

import (
	"context"
	"errors"

	"github.com/actiontrigger/actiontrigger/flow"
)

// ErrNotSupported is returned (wrapped) when a collection's records
// implementation lacks what a call needs: listing (RecordLister) or updating
// (RecordUpdater) a collection backed by host code that implements only
// Records.
var ErrNotSupported = errors.New("not supported by the collection's records")

// Records is the records port: what the engine needs from the host's data for
// one or more collections, and nothing more. A host backs a collection with
// its own code (its repository, sqlc queries, an ORM) by implementing it and
// naming it in the engine's Config.Records; the built-in stores keep the
// records of the other collections (RecordStore).
//
// Every call receives the engine's unit of work in ctx: TxFrom(ctx) returns
// it, and for a SQL store it implements SQLTxHolder, so an implementation on
// the same database writes through that *sql.Tx (the create node's record
// then commits with its job). An implementation that writes elsewhere cannot
// join it: its writes commit on their own, and a run that fails after them
// does not undo them.
//
// Records are maps of field names to values, keys included. The engine
// resolves appends itself, with Get (by the target's primary key) and, for
// to-many associations or a belongsTo that points at another field,
// RecordLister.List.
type Records interface {
	// Get returns the record of collection whose primary key fields equal
	// key, or an error wrapping flow.ErrNotFound.
	Get(ctx context.Context, collection string, key flow.Record) (flow.Record, error)
	// Create stores a new record and returns it as stored, with its key.
	// values holds fields of the collection (association values too, when
	// the create node's or the API's caller gives them).
	Create(ctx context.Context, collection string, values flow.Record) (flow.Record, error)
}

// ListQuery selects records for RecordLister.List.
type ListQuery struct {
	// Filter: each field equals the value, or one of the values of a []any.
	Filter Filter
	// Sort lists fields to order by, "-field" for descending; empty means
	// primary key order.
	Sort []string
	// Offset skips that many records; Limit caps them (0: no limit).
	Offset, Limit int
}

// RecordLister is implemented by Records that can list: the HTTP API's :list
// and hasOne, hasMany and belongsToMany appends need it.
type RecordLister interface {
	// List returns the matching records in the query's order and the number
	// of records matching the filter (before Offset and Limit).
	List(ctx context.Context, collection string, q ListQuery) (records []flow.Record, total int, err error)
}

// RecordUpdater is implemented by Records that can update: the HTTP API's
// :update and the manual node's update forms need it.
type RecordUpdater interface {
	// Update sets values on every record matching f and returns them as
	// stored.
	Update(ctx context.Context, collection string, f Filter, values flow.Record) ([]flow.Record, error)
}

// RecordAccess is the records of every declared collection as the engine
// offers them to its nodes and to the HTTP API, whichever implementation
// backs each one, with appends ("category", "category.posts") resolved: a
// to-one association as a flow.Record or nil, a to-many one as a []any of
// flow.Record. Calls made with a ctx that carries a unit of work (WithTx)
// run in it.
type RecordAccess interface {
	CreateRecord(ctx context.Context, collection string, values flow.Record) (flow.Record, error)
	GetRecord(ctx context.Context, collection string, key flow.Record, appends []string) (flow.Record, error)
	ListRecords(ctx context.Context, collection string, f Filter, appends []string) ([]flow.Record, error)
	UpdateRecords(ctx context.Context, collection string, f Filter, values flow.Record) ([]flow.Record, error)
}
