package memory

import (
	"bytes"
	"container/heap"
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// recRow is a stored record: its go-memdb key (collection, NUL, encoded primary
// key) and a private map of its columns.
type recRow struct {
	key  []byte
	vals flow.Record
}

func (r *recRow) memKey() []byte { return r.key }

// maxNesting bounds how deep association values may nest in CreateRecord.
const maxNesting = 32

// plan is a record to create, validated before anything is written so that a
// rejected create writes nothing, inside InTx too.
type plan struct {
	c   *collection
	row flow.Record // normalized column values
	// parents are belongsTo targets to create first; their key becomes the
	// foreign key in row.
	parents []parentLink
	// children are hasOne, hasMany and belongsToMany values to link once the
	// record exists.
	children []childLink
}

type parentLink struct {
	a *assoc
	p *plan
}

type childLink struct {
	a      *assoc
	target *collection
	keys   []any   // existing targets, by key
	plans  []*plan // targets to create
}

// records returns the stored records of c, in primary key order, that match f.
func records(t *txState, c *collection, f storage.Filter) ([]*recRow, error) {
	var rows []*recRow
	err := t.scan(c.prefix, func(obj row) bool {
		r := obj.(*recRow)
		for k, want := range f {
			if !matchValue(r.vals[k], want) {
				return true
			}
		}
		rows = append(rows, r)
		return true
	})
	return rows, err
}

// getRecord returns the record with the go-memdb key k, or nil.
func getRecord(t *txState, k []byte) (*recRow, error) {
	obj, err := t.get(k)
	if obj == nil || err != nil {
		return nil, err
	}
	return obj.(*recRow), nil
}

// find returns the record of c whose field equals v, or nil. A lookup by the
// single primary key uses the index; others scan the collection.
func find(t *txState, c *collection, field string, v any) (*recRow, error) {
	if v == nil {
		return nil, nil
	}
	if len(c.Keys) == 1 && c.Keys[0] == field {
		nv, err := normalize(c, field, c.ColumnType(field), v)
		if err != nil {
			return nil, nil // a value that cannot be a key matches nothing
		}
		k, err := c.recordKey(flow.Record{field: nv})
		if err != nil {
			return nil, nil
		}
		return getRecord(t, k)
	}
	rows, err := records(t, c, storage.Filter{field: v})
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return rows[0], nil
}

// checkFilter fails on filter fields that are not columns of c.
func checkFilter(c *collection, f storage.Filter) error {
	for k := range f {
		if _, ok := c.Columns[k]; !ok {
			return unknownField(c, k)
		}
	}
	return nil
}

func unknownField(c *collection, field string) error {
	if c.Assocs[field] != nil {
		return fmt.Errorf("memory: collection %q: association %q is not a column: %w", c.Name, field, flow.ErrUnknownField)
	}
	return fmt.Errorf("memory: collection %q: field %q: %w", c.Name, field, flow.ErrUnknownField)
}

// asMap returns v as a record if it is one.
func asMap(v any) (flow.Record, bool) {
	m, ok := v.(map[string]any)
	return m, ok
}

// asList returns the elements of a to-many association value: the elements of
// a slice, or v itself.
func asList(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		return x
	case []flow.Record:
		out := make([]any, len(x))
		for i, r := range x {
			out[i] = r
		}
		return out
	case string, []byte:
		return []any{v}
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = rv.Index(i).Interface()
		}
		return out
	}
	return []any{v}
}

// prepare validates values against c and resolves the association values,
// reading but not writing.
func prepare(t *txState, sc *schema, c *collection, values flow.Record, depth int) (*plan, error) {
	if depth > maxNesting {
		return nil, fmt.Errorf("memory: collection %q: association values nest deeper than %d: %w", c.Name, maxNesting, flow.ErrInvalidRecord)
	}
	p := &plan{c: c, row: make(flow.Record, len(values)+3)}
	hasAssoc := false
	for k, v := range values {
		typ, ok := c.Columns[k]
		if !ok {
			if c.Assocs[k] == nil {
				return nil, unknownField(c, k)
			}
			hasAssoc = true
			continue
		}
		nv, err := normalize(c, k, typ, v)
		if err != nil {
			return nil, err
		}
		p.row[k] = nv
	}
	if !hasAssoc {
		return p, nil
	}
	// Association values override the foreign key columns they set.
	for k, v := range values {
		a := c.Assocs[k]
		if a == nil {
			continue
		}
		target, err := sc.collection(a.Target)
		if err != nil {
			return nil, fmt.Errorf("memory: collection %q: association %q: %w", c.Name, k, err)
		}
		if a.Kind == flow.FieldBelongsTo {
			if err := prepareParent(t, sc, p, a, target, v, depth); err != nil {
				return nil, err
			}
			continue
		}
		if a.Kind == flow.FieldBelongsToMany {
			if _, err := sc.collection(a.Through); err != nil {
				return nil, fmt.Errorf("memory: collection %q: association %q: through: %w", c.Name, k, err)
			}
		}
		link := childLink{a: a, target: target}
		lookupKey := a.TargetKey
		if a.Kind != flow.FieldBelongsToMany {
			if len(target.Keys) != 1 {
				return nil, fmt.Errorf("memory: collection %q: association %q: target %q has a composite key: link it through its own records: %w", c.Name, k, target.Name, flow.ErrInvalidRecord)
			}
			lookupKey = target.Keys[0]
		}
		for _, el := range asList(v) {
			if m, ok := asMap(el); ok {
				if kv := m[lookupKey]; kv != nil {
					if r, err := find(t, target, lookupKey, kv); err != nil {
						return nil, err
					} else if r != nil {
						link.keys = append(link.keys, r.vals[lookupKey])
						continue
					}
				}
				sub, err := prepare(t, sc, target, m, depth+1)
				if err != nil {
					return nil, err
				}
				link.plans = append(link.plans, sub)
				continue
			}
			r, err := find(t, target, lookupKey, el)
			if err != nil {
				return nil, err
			}
			if r == nil {
				return nil, fmt.Errorf("memory: collection %q: association %q: no %s record with %s %v: %w", c.Name, k, target.Name, lookupKey, el, flow.ErrNotFound)
			}
			link.keys = append(link.keys, r.vals[lookupKey])
		}
		p.children = append(p.children, link)
	}
	return p, nil
}

// prepareParent resolves a belongsTo value: nil clears the foreign key, a
// scalar is the foreign key, a map is an existing target (when it holds the
// target key of one) or a target to create.
func prepareParent(t *txState, sc *schema, p *plan, a *assoc, target *collection, v any, depth int) error {
	m, ok := asMap(v)
	if !ok {
		nv, err := normalize(p.c, a.ForeignKey, p.c.ColumnType(a.ForeignKey), v)
		if err != nil {
			return err
		}
		p.row[a.ForeignKey] = nv
		return nil
	}
	if kv := m[a.TargetKey]; kv != nil {
		r, err := find(t, target, a.TargetKey, kv)
		if err != nil {
			return err
		}
		if r != nil {
			p.row[a.ForeignKey] = r.vals[a.TargetKey]
			return nil
		}
	}
	sub, err := prepare(t, sc, target, m, depth+1)
	if err != nil {
		return err
	}
	p.parents = append(p.parents, parentLink{a: a, p: sub})
	return nil
}

// apply writes a prepared record and its associations and returns the stored
// row (not a copy).
func (s *Store) apply(t *txState, p *plan, now *time.Time) (flow.Record, error) {
	c, row := p.c, p.row
	for _, pl := range p.parents {
		parent, err := s.apply(t, pl.p, now)
		if err != nil {
			return nil, err
		}
		row[pl.a.ForeignKey] = parent[pl.a.TargetKey]
	}
	if c.CreatedAt || c.UpdatedAt {
		if now.IsZero() {
			*now = time.Now()
		}
		if c.CreatedAt && row["createdAt"] == nil {
			row["createdAt"] = *now
		}
		if c.UpdatedAt && row["updatedAt"] == nil {
			row["updatedAt"] = *now
		}
	}
	fresh := false
	if c.AutoID {
		if id, ok := row["id"].(int64); ok {
			bumpID(c, id)
		} else if row["id"] == nil {
			row["id"] = c.ids.Add(1)
			fresh = len(c.Keys) == 1 && c.Keys[0] == "id"
		}
	}
	key, err := c.recordKey(row)
	if err != nil {
		return nil, err
	}
	// A fresh auto id is above every id the collection holds: no lookup needed.
	if !fresh {
		r, err := getRecord(t, key)
		if err != nil {
			return nil, err
		}
		if r != nil {
			return nil, fmt.Errorf("memory: collection %q: a record with key %v exists: %w", c.Name, keyValues(c, row), flow.ErrDuplicate)
		}
	}
	if err := t.put(&recRow{key: key, vals: row}); err != nil {
		return nil, err
	}
	if err := addCount(t, c, 1); err != nil {
		return nil, err
	}
	for _, link := range p.children {
		if err := s.applyChild(t, row, link, now); err != nil {
			return nil, err
		}
	}
	return row, nil
}

// applyChild links the targets of a hasOne, hasMany or belongsToMany value to
// the record row.
func (s *Store) applyChild(t *txState, row flow.Record, link childLink, now *time.Time) error {
	a := link.a
	src := row[a.SourceKey]
	if src == nil {
		return fmt.Errorf("memory: association %q: the record has no %q to link by: %w", a.Name, a.SourceKey, flow.ErrInvalidRecord)
	}
	if a.Kind != flow.FieldBelongsToMany {
		for _, k := range link.keys {
			r, err := find(t, link.target, link.target.Keys[0], k)
			if err != nil {
				return err
			}
			if r == nil {
				return fmt.Errorf("memory: collection %q: key %v: %w", link.target.Name, k, flow.ErrNotFound)
			}
			vals := copyRecord(r.vals)
			vals[a.ForeignKey] = src
			if err := t.put(&recRow{key: r.key, vals: vals}); err != nil {
				return err
			}
		}
		for _, sub := range link.plans {
			sub.row[a.ForeignKey] = src
			if _, err := s.apply(t, sub, now); err != nil {
				return err
			}
		}
		return nil
	}
	through, err := s.st.schema.Load().collection(a.Through)
	if err != nil {
		return err
	}
	targets := link.keys
	for _, sub := range link.plans {
		created, err := s.apply(t, sub, now)
		if err != nil {
			return err
		}
		targets = append(targets, created[a.TargetKey])
	}
	for _, tv := range targets {
		join := &plan{c: through, row: flow.Record{a.ForeignKey: src, a.OtherKey: tv}}
		if _, err := s.apply(t, join, now); err != nil {
			return err
		}
	}
	return nil
}

// bumpID keeps the auto-id counter at or above an id given explicitly.
func bumpID(c *collection, id int64) {
	for {
		cur := c.ids.Load()
		if id <= cur || c.ids.CompareAndSwap(cur, id) {
			return
		}
	}
}

// keyValues lists the primary key values of row for error messages.
func keyValues(c *collection, row flow.Record) string {
	parts := make([]string, len(c.Keys))
	for i, k := range c.Keys {
		parts[i] = fmt.Sprintf("%s=%v", k, row[k])
	}
	return strings.Join(parts, ",")
}

// CreateRecord validates values, creates the record and the records its
// association values create, links the ones they name, and returns a copy of
// the record as stored. Nothing is written when it fails, except when two of
// the records it creates collide with each other.
func (s *Store) CreateRecord(ctx context.Context, collection string, values flow.Record) (flow.Record, error) {
	sc := s.st.schema.Load()
	c, err := sc.collection(collection)
	if err != nil {
		return nil, err
	}
	var out flow.Record
	err = s.write(ctx, func(t *txState) error {
		p, err := prepare(t, sc, c, values, 0)
		if err != nil {
			return err
		}
		var now time.Time
		row, err := s.apply(t, p, &now)
		if err != nil {
			return err
		}
		out = copyRecord(row)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetRecord returns a copy of the record with the given primary key, with the
// appends loaded: to-one associations as a flow.Record or nil, to-many ones as
// a []any of flow.Record in primary key order.
func (s *Store) GetRecord(ctx context.Context, collection string, key flow.Record, appends []string) (flow.Record, error) {
	sc := s.st.schema.Load()
	c, err := sc.collection(collection)
	if err != nil {
		return nil, err
	}
	nodes, err := compileAppends(sc, c, appends)
	if err != nil {
		return nil, err
	}
	norm := make(flow.Record, len(c.Keys))
	for k, v := range key {
		if !isKey(c, k) {
			if _, ok := c.Columns[k]; !ok {
				return nil, unknownField(c, k)
			}
			return nil, fmt.Errorf("memory: collection %q: %q is not a primary key field: %w", c.Name, k, flow.ErrInvalidRecord)
		}
		nv, err := normalize(c, k, c.ColumnType(k), v)
		if err != nil {
			return nil, err
		}
		norm[k] = nv
	}
	k, err := c.recordKey(norm)
	if err != nil {
		return nil, err
	}
	var out flow.Record
	err = s.read(ctx, func(t *txState) error {
		r, err := getRecord(t, k)
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("memory: collection %q: record %s: %w", c.Name, keyValues(c, norm), flow.ErrNotFound)
		}
		out = copyRecord(r.vals)
		return load(t, sc, out, nodes)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func isKey(c *collection, field string) bool {
	for _, k := range c.Keys {
		if k == field {
			return true
		}
	}
	return false
}

// ListRecords returns copies of the matching records in primary key order with
// the appends loaded. It scans the collection.
func (s *Store) ListRecords(ctx context.Context, collection string, f storage.Filter, appends []string) ([]flow.Record, error) {
	sc := s.st.schema.Load()
	c, err := sc.collection(collection)
	if err != nil {
		return nil, err
	}
	if err := checkFilter(c, f); err != nil {
		return nil, err
	}
	nodes, err := compileAppends(sc, c, appends)
	if err != nil {
		return nil, err
	}
	var out []flow.Record
	err = s.read(ctx, func(t *txState) error {
		rows, err := records(t, c, f)
		if err != nil {
			return err
		}
		out = make([]flow.Record, len(rows))
		for i, r := range rows {
			out[i] = copyRecord(r.vals)
			if err := load(t, sc, out[i], nodes); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateRecords sets values on every matching record and returns copies of the
// records as stored, in primary key order of the matches. Values may set
// columns and belongsTo associations (a scalar sets the foreign key, a map is
// an existing target or one to create, once for all matches). updatedAt, when
// declared and not given, is set to the current time.
func (s *Store) UpdateRecords(ctx context.Context, collection string, f storage.Filter, values flow.Record) ([]flow.Record, error) {
	sc := s.st.schema.Load()
	c, err := sc.collection(collection)
	if err != nil {
		return nil, err
	}
	if err := checkFilter(c, f); err != nil {
		return nil, err
	}
	for k := range values {
		if a := c.Assocs[k]; a != nil && a.Kind != flow.FieldBelongsTo {
			return nil, fmt.Errorf("memory: collection %q: association %q: only belongsTo associations can be set by an update: %w", c.Name, k, flow.ErrInvalidRecord)
		}
	}
	var out []flow.Record
	err = s.write(ctx, func(t *txState) error {
		p, err := prepare(t, sc, c, values, 0)
		if err != nil {
			return err
		}
		rows, err := records(t, c, f)
		if err != nil || len(rows) == 0 {
			return err
		}
		var now time.Time
		for _, pl := range p.parents {
			parent, err := s.apply(t, pl.p, &now)
			if err != nil {
				return err
			}
			p.row[pl.a.ForeignKey] = parent[pl.a.TargetKey]
		}
		if c.UpdatedAt && values["updatedAt"] == nil {
			p.row["updatedAt"] = time.Now()
		}
		updated := make([]*recRow, len(rows))
		rekey := false
		for i, r := range rows {
			vals := copyRecord(r.vals)
			for k, v := range p.row {
				vals[k] = v
			}
			key := r.key
			for _, k := range c.Keys {
				if _, ok := p.row[k]; ok {
					if key, err = c.recordKey(vals); err != nil {
						return err
					}
					rekey = rekey || !bytes.Equal(key, r.key)
					break
				}
			}
			updated[i] = &recRow{key: key, vals: vals}
		}
		if rekey {
			if err := checkRekey(t, c, rows, updated); err != nil {
				return err
			}
			for _, r := range rows {
				if err := t.del(r); err != nil {
					return err
				}
			}
		}
		out = make([]flow.Record, len(updated))
		for i, r := range updated {
			if id, ok := r.vals["id"].(int64); ok && c.AutoID {
				bumpID(c, id)
			}
			if err := t.put(r); err != nil {
				return err
			}
			out[i] = copyRecord(r.vals)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkRekey fails when an update that changes primary keys would give two
// records the same key: two updated records, or an updated record and one that
// is not updated.
func checkRekey(t *txState, c *collection, rows, updated []*recRow) error {
	moving := make(map[string]bool, len(rows))
	for _, r := range rows {
		moving[string(r.key)] = true
	}
	taken := make(map[string]bool, len(updated))
	for _, r := range updated {
		k := string(r.key)
		if taken[k] {
			return fmt.Errorf("memory: collection %q: the update gives two records the key %s: %w", c.Name, keyValues(c, r.vals), flow.ErrDuplicate)
		}
		taken[k] = true
		if moving[k] {
			continue
		}
		r2, err := t.get([]byte(k))
		if err != nil {
			return err
		}
		if r2 != nil {
			return fmt.Errorf("memory: collection %q: a record with key %s exists: %w", c.Name, keyValues(c, r.vals), flow.ErrDuplicate)
		}
	}
	return nil
}

// compileAppends turns association paths ("category", "post.category") into
// a tree (flow.Schema.Appends), failing on names that are not associations.
func compileAppends(sc *schema, c *collection, paths []string) ([]*flow.AppendNode, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	tree, err := sc.fs.Appends(c.Name, paths)
	if err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	return tree, nil
}

// load sets the appended associations on rec, a copy owned by the caller.
func load(t *txState, sc *schema, rec flow.Record, nodes []*flow.AppendNode) error {
	for _, n := range nodes {
		a := n.Assoc
		target := sc.colls[n.Target.Name]
		switch a.Kind {
		case flow.FieldBelongsTo:
			r, err := find(t, target, a.TargetKey, rec[a.ForeignKey])
			if err != nil {
				return err
			}
			if r == nil {
				rec[a.Name] = nil
				continue
			}
			v := copyRecord(r.vals)
			if err := load(t, sc, v, n.Children); err != nil {
				return err
			}
			rec[a.Name] = v
		case flow.FieldHasOne, flow.FieldHasMany:
			var rows []*recRow
			if src := rec[a.SourceKey]; src != nil {
				var err error
				if rows, err = records(t, target, storage.Filter{a.ForeignKey: src}); err != nil {
					return err
				}
			}
			if a.Kind == flow.FieldHasOne {
				if len(rows) == 0 {
					rec[a.Name] = nil
					continue
				}
				v := copyRecord(rows[0].vals)
				if err := load(t, sc, v, n.Children); err != nil {
					return err
				}
				rec[a.Name] = v
				continue
			}
			list, err := loadList(t, sc, rows, n.Children)
			if err != nil {
				return err
			}
			rec[a.Name] = list
		case flow.FieldBelongsToMany:
			var rows []*recRow
			if src := rec[a.SourceKey]; src != nil {
				joins, err := records(t, sc.colls[n.Through.Name], storage.Filter{a.ForeignKey: src})
				if err != nil {
					return err
				}
				if len(joins) > 0 {
					keys := make([]any, len(joins))
					for i, j := range joins {
						keys[i] = j.vals[a.OtherKey]
					}
					if rows, err = records(t, target, storage.Filter{a.TargetKey: keys}); err != nil {
						return err
					}
				}
			}
			list, err := loadList(t, sc, rows, n.Children)
			if err != nil {
				return err
			}
			rec[a.Name] = list
		}
	}
	return nil
}

// loadList copies rows into a []any of records with their appends loaded.
func loadList(t *txState, sc *schema, rows []*recRow, children []*flow.AppendNode) ([]any, error) {
	list := make([]any, len(rows))
	for i, r := range rows {
		v := copyRecord(r.vals)
		if err := load(t, sc, v, children); err != nil {
			return nil, err
		}
		list[i] = v
	}
	return list, nil
}

var _ storage.RecordPager = (*Store)(nil)

// ListRecordsPage returns copies of the page of records q selects, with the
// appends loaded for them only, and the number of records matching q.Filter.
// It scans the collection once without copying: in primary key order it
// keeps only the page's rows; sorted on other fields it keeps the best
// Offset+Limit rows in a bounded heap (pointers to the stored rows), so
// memory grows with the page, not with the collection.
func (s *Store) ListRecordsPage(ctx context.Context, collection string, q storage.ListQuery, appends []string) ([]flow.Record, int, error) {
	sc := s.st.schema.Load()
	c, err := sc.collection(collection)
	if err != nil {
		return nil, 0, err
	}
	if err := checkFilter(c, q.Filter); err != nil {
		return nil, 0, err
	}
	keys, err := sortKeys(c, q)
	if err != nil {
		return nil, 0, err
	}
	nodes, err := compileAppends(sc, c, appends)
	if err != nil {
		return nil, 0, err
	}
	var (
		out   []flow.Record
		total int
	)
	err = s.read(ctx, func(t *txState) error {
		var page []*recRow
		if len(keys) == 0 {
			page, total, err = pageByKey(t, c, q)
		} else {
			page, total, err = pageSorted(t, c, q, keys)
		}
		if err != nil {
			return err
		}
		out = make([]flow.Record, len(page))
		for i, r := range page {
			out[i] = copyRecord(r.vals)
			if err := load(t, sc, out[i], nodes); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// sortKey is a parsed entry of storage.ListQuery.Sort.
type sortKey struct {
	field string
	desc  bool
}

// sortKeys validates q's paging and sort fields against c.
func sortKeys(c *collection, q storage.ListQuery) ([]sortKey, error) {
	if q.Offset < 0 || q.Limit < 0 {
		return nil, fmt.Errorf("memory: collection %q: offset %d, limit %d: want 0 or more: %w", c.Name, q.Offset, q.Limit, flow.ErrInvalidRecord)
	}
	keys := make([]sortKey, 0, len(q.Sort))
	for _, s := range q.Sort {
		f, desc := storage.SortField(s)
		typ, ok := c.Columns[f]
		if !ok {
			return nil, unknownField(c, f)
		}
		if typ == flow.FieldJSON {
			return nil, fmt.Errorf("memory: collection %q: field %q is json: it cannot be sorted on: %w", c.Name, f, flow.ErrInvalidRecord)
		}
		keys = append(keys, sortKey{f, desc})
	}
	return keys, nil
}

// matches reports whether a stored record matches f.
func matches(r *recRow, f storage.Filter) bool {
	for k, want := range f {
		if !matchValue(r.vals[k], want) {
			return false
		}
	}
	return true
}

// pageByKey returns the page of c in primary key order (the order of the
// go-memdb keys) and counts the matches, without copying any record.
func pageByKey(t *txState, c *collection, q storage.ListQuery) ([]*recRow, int, error) {
	var page []*recRow
	if len(q.Filter) == 0 && q.Limit > 0 {
		// Unfiltered: the page is the first rows in key order, and the total
		// is the collection's count, so a page costs the page.
		n := 0
		err := t.scan(c.prefix, func(obj row) bool {
			if n >= q.Offset {
				page = append(page, obj.(*recRow))
			}
			n++
			return n < q.Offset+q.Limit
		})
		if err != nil {
			return nil, 0, err
		}
		total, err := recordCount(t, c)
		return page, total, err
	}
	n := 0
	err := t.scan(c.prefix, func(obj row) bool {
		r := obj.(*recRow)
		if !matches(r, q.Filter) {
			return true
		}
		if n >= q.Offset && (q.Limit == 0 || n < q.Offset+q.Limit) {
			page = append(page, r)
		}
		n++
		return true
	})
	return page, n, err
}

// pageSorted returns the page of c in the order of keys, then primary key,
// and counts the matches. With a limit it keeps the first Offset+Limit rows
// in a max-heap (the worst kept row on top, replaced by any better one);
// without one it must keep every match.
func pageSorted(t *txState, c *collection, q storage.ListQuery, keys []sortKey) ([]*recRow, int, error) {
	less := func(a, b *recRow) int {
		for _, k := range keys {
			if d := storage.CompareValues(a.vals[k.field], b.vals[k.field]); d != 0 {
				if k.desc {
					return -d
				}
				return d
			}
		}
		return bytes.Compare(a.key, b.key)
	}
	bound := 0
	if q.Limit > 0 {
		bound = q.Offset + q.Limit
	}
	h := &rowHeap{cmp: less}
	n := 0
	err := t.scan(c.prefix, func(obj row) bool {
		r := obj.(*recRow)
		if !matches(r, q.Filter) {
			return true
		}
		n++
		switch {
		case bound == 0 || len(h.rows) < bound:
			heap.Push(h, r)
		case less(r, h.rows[0]) < 0:
			h.rows[0] = r
			heap.Fix(h, 0)
		}
		return true
	})
	if err != nil {
		return nil, 0, err
	}
	rows := h.rows
	slices.SortFunc(rows, less)
	if q.Offset >= len(rows) {
		return nil, n, nil
	}
	return rows[q.Offset:], n, nil
}

// rowHeap is a max-heap of records under cmp: the greatest on top.
type rowHeap struct {
	rows []*recRow
	cmp  func(a, b *recRow) int
}

func (h *rowHeap) Len() int           { return len(h.rows) }
func (h *rowHeap) Less(i, j int) bool { return h.cmp(h.rows[i], h.rows[j]) > 0 }
func (h *rowHeap) Swap(i, j int)      { h.rows[i], h.rows[j] = h.rows[j], h.rows[i] }
func (h *rowHeap) Push(x any)         { h.rows = append(h.rows, x.(*recRow)) }
func (h *rowHeap) Pop() any {
	r := h.rows[len(h.rows)-1]
	h.rows = h.rows[:len(h.rows)-1]
	return r
}

// countRow is the number of records of one collection.
type countRow struct {
	key []byte
	n   int
}

func (r *countRow) memKey() []byte { return r.key }

// recordCount returns the number of records of c, as t sees it.
func recordCount(t *txState, c *collection) (int, error) {
	obj, err := t.get(c.countKey)
	if err != nil {
		return 0, err
	}
	if r, ok := obj.(*countRow); ok {
		return r.n, nil
	}
	return 0, nil
}

// addCount adds d to the number of records of c.
func addCount(t *txState, c *collection, d int) error {
	n, err := recordCount(t, c)
	if err != nil {
		return err
	}
	return t.put(&countRow{key: c.countKey, n: n + d})
}
