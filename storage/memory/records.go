package memory

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
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
	if len(c.keys) == 1 && c.keys[0] == field {
		nv, err := normalize(c, field, c.columnType(field), v)
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
		if _, ok := c.columns[k]; !ok {
			return unknownField(c, k)
		}
	}
	return nil
}

func unknownField(c *collection, field string) error {
	if c.assocs[field] != nil {
		return fmt.Errorf("memory: collection %q: association %q is not a column: %w", c.name, field, flow.ErrUnknownField)
	}
	return fmt.Errorf("memory: collection %q: field %q: %w", c.name, field, flow.ErrUnknownField)
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
		return nil, fmt.Errorf("memory: collection %q: association values nest deeper than %d: %w", c.name, maxNesting, flow.ErrInvalidRecord)
	}
	p := &plan{c: c, row: make(flow.Record, len(values)+3)}
	hasAssoc := false
	for k, v := range values {
		typ, ok := c.columns[k]
		if !ok {
			if c.assocs[k] == nil {
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
		a := c.assocs[k]
		if a == nil {
			continue
		}
		target, err := sc.collection(a.target)
		if err != nil {
			return nil, fmt.Errorf("memory: collection %q: association %q: %w", c.name, k, err)
		}
		if a.kind == flow.FieldBelongsTo {
			if err := prepareParent(t, sc, p, a, target, v, depth); err != nil {
				return nil, err
			}
			continue
		}
		if a.kind == flow.FieldBelongsToMany {
			if _, err := sc.collection(a.through); err != nil {
				return nil, fmt.Errorf("memory: collection %q: association %q: through: %w", c.name, k, err)
			}
		}
		link := childLink{a: a, target: target}
		lookupKey := a.targetKey
		if a.kind != flow.FieldBelongsToMany {
			if len(target.keys) != 1 {
				return nil, fmt.Errorf("memory: collection %q: association %q: target %q has a composite key: link it through its own records: %w", c.name, k, target.name, flow.ErrInvalidRecord)
			}
			lookupKey = target.keys[0]
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
				return nil, fmt.Errorf("memory: collection %q: association %q: no %s record with %s %v: %w", c.name, k, target.name, lookupKey, el, flow.ErrNotFound)
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
		nv, err := normalize(p.c, a.foreignKey, p.c.columnType(a.foreignKey), v)
		if err != nil {
			return err
		}
		p.row[a.foreignKey] = nv
		return nil
	}
	if kv := m[a.targetKey]; kv != nil {
		r, err := find(t, target, a.targetKey, kv)
		if err != nil {
			return err
		}
		if r != nil {
			p.row[a.foreignKey] = r.vals[a.targetKey]
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
		row[pl.a.foreignKey] = parent[pl.a.targetKey]
	}
	if c.createdAt || c.updatedAt {
		if now.IsZero() {
			*now = time.Now()
		}
		if c.createdAt && row["createdAt"] == nil {
			row["createdAt"] = *now
		}
		if c.updatedAt && row["updatedAt"] == nil {
			row["updatedAt"] = *now
		}
	}
	fresh := false
	if c.autoID {
		if id, ok := row["id"].(int64); ok {
			bumpID(c, id)
		} else if row["id"] == nil {
			row["id"] = c.ids.Add(1)
			fresh = len(c.keys) == 1 && c.keys[0] == "id"
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
			return nil, fmt.Errorf("memory: collection %q: a record with key %v exists: %w", c.name, keyValues(c, row), flow.ErrDuplicate)
		}
	}
	if err := t.put(&recRow{key: key, vals: row}); err != nil {
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
	src := row[a.sourceKey]
	if src == nil {
		return fmt.Errorf("memory: association %q: the record has no %q to link by: %w", a.name, a.sourceKey, flow.ErrInvalidRecord)
	}
	if a.kind != flow.FieldBelongsToMany {
		for _, k := range link.keys {
			r, err := find(t, link.target, link.target.keys[0], k)
			if err != nil {
				return err
			}
			if r == nil {
				return fmt.Errorf("memory: collection %q: key %v: %w", link.target.name, k, flow.ErrNotFound)
			}
			vals := copyRecord(r.vals)
			vals[a.foreignKey] = src
			if err := t.put(&recRow{key: r.key, vals: vals}); err != nil {
				return err
			}
		}
		for _, sub := range link.plans {
			sub.row[a.foreignKey] = src
			if _, err := s.apply(t, sub, now); err != nil {
				return err
			}
		}
		return nil
	}
	through, err := s.st.schema.Load().collection(a.through)
	if err != nil {
		return err
	}
	targets := link.keys
	for _, sub := range link.plans {
		created, err := s.apply(t, sub, now)
		if err != nil {
			return err
		}
		targets = append(targets, created[a.targetKey])
	}
	for _, tv := range targets {
		join := &plan{c: through, row: flow.Record{a.foreignKey: src, a.otherKey: tv}}
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
	parts := make([]string, len(c.keys))
	for i, k := range c.keys {
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
	norm := make(flow.Record, len(c.keys))
	for k, v := range key {
		if !isKey(c, k) {
			if _, ok := c.columns[k]; !ok {
				return nil, unknownField(c, k)
			}
			return nil, fmt.Errorf("memory: collection %q: %q is not a primary key field: %w", c.name, k, flow.ErrInvalidRecord)
		}
		nv, err := normalize(c, k, c.columnType(k), v)
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
			return fmt.Errorf("memory: collection %q: record %s: %w", c.name, keyValues(c, norm), flow.ErrNotFound)
		}
		out = copyRecord(r.vals)
		return load(t, out, nodes)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func isKey(c *collection, field string) bool {
	for _, k := range c.keys {
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
			if err := load(t, out[i], nodes); err != nil {
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
		if a := c.assocs[k]; a != nil && a.kind != flow.FieldBelongsTo {
			return nil, fmt.Errorf("memory: collection %q: association %q: only belongsTo associations can be set by an update: %w", c.name, k, flow.ErrInvalidRecord)
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
			p.row[pl.a.foreignKey] = parent[pl.a.targetKey]
		}
		if c.updatedAt && values["updatedAt"] == nil {
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
			for _, k := range c.keys {
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
			if id, ok := r.vals["id"].(int64); ok && c.autoID {
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
			return fmt.Errorf("memory: collection %q: the update gives two records the key %s: %w", c.name, keyValues(c, r.vals), flow.ErrDuplicate)
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
			return fmt.Errorf("memory: collection %q: a record with key %s exists: %w", c.name, keyValues(c, r.vals), flow.ErrDuplicate)
		}
	}
	return nil
}

// appendNode is one association of an appends tree.
type appendNode struct {
	a        *assoc
	target   *collection
	through  *collection // belongsToMany only
	children []*appendNode
}

// compileAppends turns association paths ("category", "post.category") into a
// tree, failing on names that are not associations.
func compileAppends(sc *schema, c *collection, paths []string) ([]*appendNode, error) {
	var roots []*appendNode
	for _, path := range paths {
		level, cur := &roots, c
		for _, name := range strings.Split(path, ".") {
			a := cur.assocs[name]
			if a == nil {
				if _, ok := cur.columns[name]; ok {
					return nil, fmt.Errorf("memory: collection %q: append %q: field %q is not an association: %w", c.name, path, name, flow.ErrUnknownField)
				}
				return nil, fmt.Errorf("memory: collection %q: append %q: collection %q has no association %q: %w", c.name, path, cur.name, name, flow.ErrUnknownField)
			}
			var node *appendNode
			for _, n := range *level {
				if n.a == a {
					node = n
					break
				}
			}
			if node == nil {
				target, err := sc.collection(a.target)
				if err != nil {
					return nil, fmt.Errorf("memory: collection %q: append %q: %w", c.name, path, err)
				}
				node = &appendNode{a: a, target: target}
				if a.kind == flow.FieldBelongsToMany {
					if node.through, err = sc.collection(a.through); err != nil {
						return nil, fmt.Errorf("memory: collection %q: append %q: %w", c.name, path, err)
					}
				}
				*level = append(*level, node)
			}
			level, cur = &node.children, node.target
		}
	}
	return roots, nil
}

// load sets the appended associations on rec, a copy owned by the caller.
func load(t *txState, rec flow.Record, nodes []*appendNode) error {
	for _, n := range nodes {
		a := n.a
		switch a.kind {
		case flow.FieldBelongsTo:
			r, err := find(t, n.target, a.targetKey, rec[a.foreignKey])
			if err != nil {
				return err
			}
			if r == nil {
				rec[a.name] = nil
				continue
			}
			v := copyRecord(r.vals)
			if err := load(t, v, n.children); err != nil {
				return err
			}
			rec[a.name] = v
		case flow.FieldHasOne, flow.FieldHasMany:
			var rows []*recRow
			if src := rec[a.sourceKey]; src != nil {
				var err error
				if rows, err = records(t, n.target, storage.Filter{a.foreignKey: src}); err != nil {
					return err
				}
			}
			if a.kind == flow.FieldHasOne {
				if len(rows) == 0 {
					rec[a.name] = nil
					continue
				}
				v := copyRecord(rows[0].vals)
				if err := load(t, v, n.children); err != nil {
					return err
				}
				rec[a.name] = v
				continue
			}
			list, err := loadList(t, rows, n.children)
			if err != nil {
				return err
			}
			rec[a.name] = list
		case flow.FieldBelongsToMany:
			var rows []*recRow
			if src := rec[a.sourceKey]; src != nil {
				joins, err := records(t, n.through, storage.Filter{a.foreignKey: src})
				if err != nil {
					return err
				}
				if len(joins) > 0 {
					keys := make([]any, len(joins))
					for i, j := range joins {
						keys[i] = j.vals[a.otherKey]
					}
					if rows, err = records(t, n.target, storage.Filter{a.targetKey: keys}); err != nil {
						return err
					}
				}
			}
			list, err := loadList(t, rows, n.children)
			if err != nil {
				return err
			}
			rec[a.name] = list
		}
	}
	return nil
}

// loadList copies rows into a []any of records with their appends loaded.
func loadList(t *txState, rows []*recRow, children []*appendNode) ([]any, error) {
	list := make([]any, len(rows))
	for i, r := range rows {
		v := copyRecord(r.vals)
		if err := load(t, v, children); err != nil {
			return nil, err
		}
		list[i] = v
	}
	return list, nil
}
