package actiontrigger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// recordRouter is the engine's storage.RecordAccess: each collection's calls
// go to the host's storage.Records named in Config.Records, or to the store's
// records (storage.RecordStore), in the unit of work ctx carries. Appends that
// involve a host-backed collection are resolved here, by get-by-key and list
// calls on the collections they reach; appends among store-backed collections
// are left to the store, which loads them in fewer queries.
type recordRouter struct {
	e *Engine
}

var _ storage.RecordAccess = recordRouter{}

// Records returns the records of every declared collection, whichever
// implementation backs each one (Config.Records or the store), with appends
// resolved. Calls made with a ctx inside InTx or WithSQLTx run in that unit
// of work.
func (e *Engine) Records() storage.RecordAccess { return recordRouter{e: e} }

// SQLTx returns the *sql.Tx of the unit of work ctx carries, when the
// engine's store is a SQL store: a storage.Records implementation of the host
// on the same database writes through it, so its writes commit with the
// engine's. ok is false outside a unit of work, or on a store that has no
// *sql.Tx to share (the memory store).
func SQLTx(ctx context.Context) (tx *sql.Tx, ok bool) {
	u, ok := storage.TxFrom(ctx)
	if !ok {
		return nil, false
	}
	h, ok := u.(storage.SQLTxHolder)
	if !ok {
		return nil, false
	}
	return h.SQLTx()
}

// storeOnly reports that the store keeps every collection's records (no
// Config.Records): calls go straight to it, appends included, without the
// engine compiling an appends tree the store compiles again.
func (r recordRouter) storeOnly() bool { return len(r.e.cfg.Records) == 0 }

// host returns the host's implementation of a collection, if it has one.
func (r recordRouter) host(collection string) (storage.Records, bool) {
	h, ok := r.e.cfg.Records[collection]
	return h, ok && h != nil
}

// store returns the store's records in ctx's unit of work.
func (r recordRouter) store(ctx context.Context, collection string) (storage.RecordStore, error) {
	rs, ok := r.e.db(ctx).(storage.RecordStore)
	if !ok {
		return nil, fmt.Errorf("actiontrigger: collection %q: the store keeps no records and Config.Records names none for it: %w", collection, storage.ErrNotSupported)
	}
	return rs, nil
}

func (r recordRouter) collection(name string) (*flow.CollectionSchema, error) {
	c, ok := r.e.schema.Collection(name)
	if !ok {
		return nil, fmt.Errorf("actiontrigger: collection %q: %w", name, flow.ErrUnknownCollection)
	}
	return c, nil
}

// CreateRecord creates a record through the collection's implementation.
func (r recordRouter) CreateRecord(ctx context.Context, collection string, values flow.Record) (flow.Record, error) {
	if _, err := r.collection(collection); err != nil {
		return nil, err
	}
	if h, ok := r.host(collection); ok {
		return h.Create(ctx, collection, values)
	}
	rs, err := r.store(ctx, collection)
	if err != nil {
		return nil, err
	}
	return rs.CreateRecord(ctx, collection, values)
}

// GetRecord returns one record by its primary key, with appends.
func (r recordRouter) GetRecord(ctx context.Context, collection string, key flow.Record, appends []string) (flow.Record, error) {
	if r.storeOnly() {
		rs, err := r.store(ctx, collection)
		if err != nil {
			return nil, err
		}
		return rs.GetRecord(ctx, collection, key, appends)
	}
	tree, err := r.appends(collection, appends)
	if err != nil {
		return nil, err
	}
	h, hosted := r.host(collection)
	if !hosted && !r.touchesHost(tree) {
		rs, err := r.store(ctx, collection)
		if err != nil {
			return nil, err
		}
		return rs.GetRecord(ctx, collection, key, appends)
	}
	var rec flow.Record
	if hosted {
		rec, err = h.Get(ctx, collection, key)
	} else {
		var rs storage.RecordStore
		if rs, err = r.store(ctx, collection); err == nil {
			rec, err = rs.GetRecord(ctx, collection, key, nil)
		}
	}
	if err != nil {
		return nil, err
	}
	rec = maps.Clone(rec)
	if err := r.load(ctx, rec, tree); err != nil {
		return nil, err
	}
	return rec, nil
}

// ListRecords returns the records matching f, with appends.
func (r recordRouter) ListRecords(ctx context.Context, collection string, f storage.Filter, appends []string) ([]flow.Record, error) {
	if r.storeOnly() {
		rs, err := r.store(ctx, collection)
		if err != nil {
			return nil, err
		}
		return rs.ListRecords(ctx, collection, f, appends)
	}
	tree, err := r.appends(collection, appends)
	if err != nil {
		return nil, err
	}
	_, hosted := r.host(collection)
	if !hosted && !r.touchesHost(tree) {
		rs, err := r.store(ctx, collection)
		if err != nil {
			return nil, err
		}
		return rs.ListRecords(ctx, collection, f, appends)
	}
	list, err := r.list(ctx, collection, f)
	if err != nil {
		return nil, err
	}
	for i, rec := range list {
		list[i] = maps.Clone(rec)
		if err := r.load(ctx, list[i], tree); err != nil {
			return nil, err
		}
	}
	return list, nil
}

var _ storage.RecordPager = recordRouter{}

// ListRecordsPage returns the page of records q selects, with appends loaded
// for that page only, and the number of records matching q.Filter. A
// host-backed collection is paged by its RecordLister.List (with q as
// given); a store-backed one by the store (storage.RecordPager), or, for a
// store without it, by listing every match and paging in Go.
func (r recordRouter) ListRecordsPage(ctx context.Context, collection string, q storage.ListQuery, appends []string) ([]flow.Record, int, error) {
	tree, err := r.appends(collection, appends)
	if err != nil {
		return nil, 0, err
	}
	if err := r.checkQuery(collection, q); err != nil {
		return nil, 0, err
	}
	h, hosted := r.host(collection)
	if !hosted && !r.touchesHost(tree) {
		rs, err := r.store(ctx, collection)
		if err != nil {
			return nil, 0, err
		}
		if p, ok := rs.(storage.RecordPager); ok {
			return p.ListRecordsPage(ctx, collection, q, appends)
		}
	}
	var (
		page  []flow.Record
		total int
	)
	if hosted {
		l, ok := h.(storage.RecordLister)
		if !ok {
			return nil, 0, fmt.Errorf("actiontrigger: collection %q: its Records (%T) cannot list: %w", collection, h, storage.ErrNotSupported)
		}
		if page, total, err = l.List(ctx, collection, q); err != nil {
			return nil, 0, err
		}
	} else {
		rs, err := r.store(ctx, collection)
		if err != nil {
			return nil, 0, err
		}
		if p, ok := rs.(storage.RecordPager); ok {
			page, total, err = p.ListRecordsPage(ctx, collection, q, nil)
		} else {
			var all []flow.Record
			if all, err = rs.ListRecords(ctx, collection, q.Filter, nil); err == nil {
				c, _ := r.collection(collection)
				page, total = storage.PageInGo(all, q, c.Keys), len(all)
			}
		}
		if err != nil {
			return nil, 0, err
		}
	}
	out := make([]flow.Record, len(page))
	for i, rec := range page {
		out[i] = maps.Clone(rec)
		if err := r.load(ctx, out[i], tree); err != nil {
			return nil, 0, err
		}
	}
	return out, total, nil
}

// checkQuery validates q's paging and sort fields, so that a host's
// RecordLister.List only sees sort fields that are columns of the collection.
func (r recordRouter) checkQuery(collection string, q storage.ListQuery) error {
	if q.Offset < 0 || q.Limit < 0 {
		return fmt.Errorf("actiontrigger: collection %q: offset %d, limit %d: want 0 or more: %w", collection, q.Offset, q.Limit, flow.ErrInvalidRecord)
	}
	c, err := r.collection(collection)
	if err != nil {
		return err
	}
	for _, s := range q.Sort {
		f, _ := storage.SortField(s)
		typ, ok := c.Columns[f]
		if !ok {
			return fmt.Errorf("actiontrigger: collection %q: sort on %q: not a column: %w", collection, f, flow.ErrUnknownField)
		}
		if typ == flow.FieldJSON {
			return fmt.Errorf("actiontrigger: collection %q: field %q is json: it cannot be sorted on: %w", collection, f, flow.ErrInvalidRecord)
		}
	}
	return nil
}

// UpdateRecords updates the records matching f.
func (r recordRouter) UpdateRecords(ctx context.Context, collection string, f storage.Filter, values flow.Record) ([]flow.Record, error) {
	if _, err := r.collection(collection); err != nil {
		return nil, err
	}
	if h, ok := r.host(collection); ok {
		u, ok := h.(storage.RecordUpdater)
		if !ok {
			return nil, fmt.Errorf("actiontrigger: collection %q: its Records (%T) cannot update: %w", collection, h, storage.ErrNotSupported)
		}
		return u.Update(ctx, collection, f, values)
	}
	rs, err := r.store(ctx, collection)
	if err != nil {
		return nil, err
	}
	return rs.UpdateRecords(ctx, collection, f, values)
}

func (r recordRouter) appends(collection string, paths []string) ([]*flow.AppendNode, error) {
	if len(paths) == 0 {
		if _, err := r.collection(collection); err != nil {
			return nil, err
		}
		return nil, nil
	}
	tree, err := r.e.schema.Appends(collection, paths)
	if err != nil {
		return nil, fmt.Errorf("actiontrigger: %w", err)
	}
	return tree, nil
}

// touchesHost reports whether an appends tree reaches a host-backed collection.
func (r recordRouter) touchesHost(tree []*flow.AppendNode) bool {
	for _, n := range tree {
		if _, ok := r.host(n.Target.Name); ok {
			return true
		}
		if n.Through != nil {
			if _, ok := r.host(n.Through.Name); ok {
				return true
			}
		}
		if r.touchesHost(n.Children) {
			return true
		}
	}
	return false
}

// list returns the records of a collection matching f, in primary key order.
func (r recordRouter) list(ctx context.Context, collection string, f storage.Filter) ([]flow.Record, error) {
	if h, ok := r.host(collection); ok {
		l, ok := h.(storage.RecordLister)
		if !ok {
			return nil, fmt.Errorf("actiontrigger: collection %q: its Records (%T) cannot list: %w", collection, h, storage.ErrNotSupported)
		}
		list, _, err := l.List(ctx, collection, storage.ListQuery{Filter: f})
		return list, err
	}
	rs, err := r.store(ctx, collection)
	if err != nil {
		return nil, err
	}
	return rs.ListRecords(ctx, collection, f, nil)
}

// getBy returns the record of c whose field equals v, or nil: by key with
// Get when field is c's single primary key, else the first listed.
func (r recordRouter) getBy(ctx context.Context, c *flow.CollectionSchema, field string, v any) (flow.Record, error) {
	if len(c.Keys) == 1 && c.Keys[0] == field {
		var (
			rec flow.Record
			err error
		)
		if h, ok := r.host(c.Name); ok {
			rec, err = h.Get(ctx, c.Name, flow.Record{field: v})
		} else {
			var rs storage.RecordStore
			if rs, err = r.store(ctx, c.Name); err == nil {
				rec, err = rs.GetRecord(ctx, c.Name, flow.Record{field: v}, nil)
			}
		}
		if errors.Is(err, flow.ErrNotFound) {
			return nil, nil
		}
		return rec, err
	}
	list, err := r.list(ctx, c.Name, storage.Filter{field: v})
	if err != nil || len(list) == 0 {
		return nil, err
	}
	return list[0], nil
}

// load sets the appended associations on rec, a copy owned by the caller.
func (r recordRouter) load(ctx context.Context, rec flow.Record, tree []*flow.AppendNode) error {
	for _, n := range tree {
		a := n.Assoc
		switch a.Kind {
		case flow.FieldBelongsTo:
			var target flow.Record
			if v := rec[a.ForeignKey]; v != nil {
				got, err := r.getBy(ctx, n.Target, a.TargetKey, v)
				if err != nil {
					return err
				}
				if got != nil {
					target = maps.Clone(got)
					if err := r.load(ctx, target, n.Children); err != nil {
						return err
					}
				}
			}
			if target == nil {
				rec[a.Name] = nil
			} else {
				rec[a.Name] = target
			}
		case flow.FieldHasOne, flow.FieldHasMany:
			var rows []flow.Record
			if src := rec[a.SourceKey]; src != nil {
				var err error
				if rows, err = r.list(ctx, n.Target.Name, storage.Filter{a.ForeignKey: src}); err != nil {
					return err
				}
			}
			if a.Kind == flow.FieldHasOne {
				if len(rows) == 0 {
					rec[a.Name] = nil
					continue
				}
				v := maps.Clone(rows[0])
				if err := r.load(ctx, v, n.Children); err != nil {
					return err
				}
				rec[a.Name] = v
				continue
			}
			list, err := r.loadList(ctx, rows, n.Children)
			if err != nil {
				return err
			}
			rec[a.Name] = list
		case flow.FieldBelongsToMany:
			var rows []flow.Record
			if src := rec[a.SourceKey]; src != nil {
				joins, err := r.list(ctx, n.Through.Name, storage.Filter{a.ForeignKey: src})
				if err != nil {
					return err
				}
				if len(joins) > 0 {
					keys := make([]any, len(joins))
					for i, j := range joins {
						keys[i] = j[a.OtherKey]
					}
					if rows, err = r.list(ctx, n.Target.Name, storage.Filter{a.TargetKey: keys}); err != nil {
						return err
					}
				}
			}
			list, err := r.loadList(ctx, rows, n.Children)
			if err != nil {
				return err
			}
			rec[a.Name] = list
		}
	}
	return nil
}

func (r recordRouter) loadList(ctx context.Context, rows []flow.Record, children []*flow.AppendNode) ([]any, error) {
	list := make([]any, len(rows))
	for i, row := range rows {
		v := maps.Clone(row)
		if err := r.load(ctx, v, children); err != nil {
			return nil, err
		}
		list[i] = v
	}
	return list, nil
}
