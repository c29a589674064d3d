package storage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

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

// ListQuery selects one page of records: for RecordLister.List (a host's
// collections) and RecordPager.ListRecordsPage (the built-in stores and the
// engine's RecordAccess).
type ListQuery struct {
	// Filter: each field equals the value, or one of the values of a []any.
	Filter Filter
	// Sort lists column fields to order by, "-field" for descending. The
	// primary key always breaks ties (ascending), so the order is total and
	// pages do not overlap; empty Sort means primary key order. NULL sorts
	// first ascending and last descending; text compares bytewise (the same
	// order on every store). An association, an unknown field or an empty
	// name is flow.ErrUnknownField; a json field is flow.ErrInvalidRecord.
	Sort []string
	// Offset skips that many records; Limit caps them (0: no limit). A
	// negative value is flow.ErrInvalidRecord.
	Offset, Limit int
}

// SortField splits an entry of ListQuery.Sort into its field and direction:
// "-createdAt" is createdAt, descending.
func SortField(s string) (field string, desc bool) {
	if f, ok := strings.CutPrefix(s, "-"); ok {
		return f, true
	}
	return s, false
}

// RecordPager is implemented by what can page through records in the
// database rather than in Go: the built-in stores' RecordStore (and their
// units of work) and the engine's RecordAccess (Engine.Records). Listing a
// page costs the page (and a count), not the collection: the HTTP API's
// :list uses it. It is a separate interface so that existing RecordStore
// and RecordAccess implementations keep compiling; the engine falls back to
// ListRecords and pages in Go for a RecordStore without it.
type RecordPager interface {
	// ListRecordsPage returns the page of records of collection that q
	// selects, in q's order, with the association paths in appends loaded
	// for those records only, and total, the number of records matching
	// q.Filter (before Offset and Limit).
	ListRecordsPage(ctx context.Context, collection string, q ListQuery, appends []string) (records []flow.Record, total int, err error)
}

// RecordLister is implemented by Records that can list: the HTTP API's :list
// and hasOne, hasMany and belongsToMany appends need it.
type RecordLister interface {
	// List returns the matching records in the query's order (see
	// ListQuery.Sort: the primary key breaks ties) and the number of records
	// matching the filter (before Offset and Limit). The engine passes the
	// HTTP API's page, pageSize and sort through q, so an implementation
	// that pages in its database serves a page of a large table cheaply.
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

// CompareValues orders two field values the way ListQuery.Sort does: nil
// first, then numbers by value (integers exactly), times by instant, text
// bytewise, false before true. Values of different kinds compare by their
// text (fmt.Sprint), which only matters for untyped fields.
func CompareValues(a, b any) int {
	if a == nil || b == nil {
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return -1
		}
		return 1
	}
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y)
		}
	case bool:
		if y, ok := b.(bool); ok {
			return cmpBool(x, y)
		}
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return x.Compare(y)
		}
	}
	if _, isStr := a.(string); !isStr {
		if _, isStr := b.(string); !isStr {
			if x, ok := flow.IntValue(a); ok {
				if y, ok := flow.IntValue(b); ok {
					return cmp.Compare(x, y)
				}
			}
			if x, ok := flow.FloatValue(a); ok {
				if y, ok := flow.FloatValue(b); ok {
					return cmp.Compare(x, y)
				}
			}
		}
	}
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

func cmpBool(x, y bool) int {
	switch {
	case x == y:
		return 0
	case !x:
		return -1
	}
	return 1
}

// PageInGo returns the page of list that q's Sort, Offset and Limit select
// (q.Filter is not applied: list is already filtered), sorting a copy of
// list by q.Sort and then keys (the primary key fields). It is the fallback
// for record stores without RecordPager; it costs the whole list.
func PageInGo(list []flow.Record, q ListQuery, keys []string) []flow.Record {
	sorted := slices.Clone(list)
	if len(q.Sort) > 0 {
		slices.SortStableFunc(sorted, func(a, b flow.Record) int {
			for _, s := range q.Sort {
				f, desc := SortField(s)
				if d := CompareValues(a[f], b[f]); d != 0 {
					if desc {
						return -d
					}
					return d
				}
			}
			for _, k := range keys {
				if d := CompareValues(a[k], b[k]); d != 0 {
					return d
				}
			}
			return 0
		})
	}
	from := min(max(q.Offset, 0), len(sorted))
	to := len(sorted)
	if q.Limit > 0 {
		to = min(from+q.Limit, to)
	}
	return sorted[from:to]
}
