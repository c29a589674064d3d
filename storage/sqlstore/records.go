package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// maxNesting bounds how deep association values may nest in CreateRecord.
const maxNesting = 32

func unknownField(c *collection, field string) error {
	if c.Assocs[field] != nil {
		return fmt.Errorf("sqlstore: collection %q: association %q is not a column: %w", c.Name, field, flow.ErrUnknownField)
	}
	return fmt.Errorf("sqlstore: collection %q: field %q: %w", c.Name, field, flow.ErrUnknownField)
}

func checkFilter(c *collection, f storage.Filter) error {
	for k := range f {
		if _, ok := c.Columns[k]; !ok {
			return unknownField(c, k)
		}
	}
	return nil
}

// scanRecords reads rows of c's select list into records.
func (s *Store) scanRecords(rows Rows, c *collection) ([]flow.Record, error) {
	defer rows.Close()
	out := []flow.Record{}
	vals := make([]any, len(c.fields))
	ptrs := make([]any, len(c.fields))
	for rows.Next() {
		for i := range vals {
			vals[i] = nil
			ptrs[i] = &vals[i]
		}
		if err := scan(rows, ptrs...); err != nil {
			return nil, s.st.mapErr(err, "read "+c.Name)
		}
		r := make(flow.Record, len(c.fields))
		for i, f := range c.fields {
			r[f] = decode(c.Columns[f], vals[i])
		}
		out = append(out, r)
	}
	return out, s.st.mapErr(rows.Err(), "read "+c.Name)
}

// where renders a filter as a WHERE condition with its arguments. Values that
// cannot be stored in a column match nothing.
func (s *Store) where(c *collection, f storage.Filter) (string, []any) {
	if len(f) == 0 {
		return "", nil
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var conds []string
	var args []any
	for _, k := range keys {
		col := c.col(k)
		want := f[k]
		var list []any
		isList := false
		switch w := want.(type) {
		case []any:
			list, isList = w, true
		case nil, string, []byte:
		default:
			if rv := reflect.ValueOf(want); rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
				list, isList = asList(want), true
			}
		}
		if !isList {
			if want == nil {
				conds = append(conds, col+" IS NULL")
				continue
			}
			v, err := s.st.encode(c, k, want)
			if err != nil {
				conds = append(conds, "1 = 0")
				continue
			}
			conds, args = append(conds, col+" = ?"), append(args, v)
			continue
		}
		var alts []string
		var in []any
		for _, x := range list {
			if x == nil {
				alts = append(alts, col+" IS NULL")
				continue
			}
			if v, err := s.st.encode(c, k, x); err == nil {
				in = append(in, v)
			}
		}
		if len(in) > 0 {
			alts = append(alts, col+" IN ("+placeholders(len(in))+")")
			args = append(args, in...)
		}
		if len(alts) == 0 {
			conds = append(conds, "1 = 0")
			continue
		}
		conds = append(conds, "("+strings.Join(alts, " OR ")+")")
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// records returns the records of c matching f, in primary key order.
func (s *Store) records(ctx context.Context, q querier, c *collection, f storage.Filter) ([]flow.Record, error) {
	w, args := s.where(c, f)
	rows, err := q.QueryContext(ctx, s.st.q("SELECT "+c.selectList+" FROM "+quote(c.table)+w+" ORDER BY "+c.orderBy), args...)
	if err != nil {
		return nil, s.st.mapErr(err, "list "+c.Name)
	}
	return s.scanRecords(rows, c)
}

// find returns the first record of c whose field equals v, or nil.
func (s *Store) find(ctx context.Context, q querier, c *collection, field string, v any) (flow.Record, error) {
	if v == nil {
		return nil, nil
	}
	ev, err := s.st.encode(c, field, v)
	if err != nil {
		return nil, nil // a value that cannot be stored matches nothing
	}
	rows, err := q.QueryContext(ctx, s.st.q("SELECT "+c.selectList+" FROM "+quote(c.table)+" WHERE "+c.col(field)+" = ? ORDER BY "+c.orderBy+" LIMIT 1"), ev)
	if err != nil {
		return nil, s.st.mapErr(err, "find "+c.Name)
	}
	rs, err := s.scanRecords(rows, c)
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	return rs[0], nil
}

func asMap(v any) (flow.Record, bool) {
	m, ok := v.(map[string]any)
	return m, ok
}

// create validates values, creates the record (and the records its
// association values create), links the ones they name and returns the
// record as stored. The caller runs it in a transaction or savepoint that a
// failure rolls back.
func (s *Store) create(ctx context.Context, q querier, sc *schema, c *collection, values flow.Record, depth int, now *time.Time) (flow.Record, error) {
	if depth > maxNesting {
		return nil, fmt.Errorf("sqlstore: collection %q: association values nest deeper than %d: %w", c.Name, maxNesting, flow.ErrInvalidRecord)
	}
	row := make(map[string]any, len(values)+3)
	var assocNames []string
	for k, v := range values {
		if _, ok := c.Columns[k]; !ok {
			if c.Assocs[k] == nil {
				return nil, unknownField(c, k)
			}
			assocNames = append(assocNames, k)
			continue
		}
		ev, err := s.st.encode(c, k, v)
		if err != nil {
			return nil, err
		}
		row[k] = ev
	}
	sort.Strings(assocNames)
	type child struct {
		a      *assoc
		target *collection
		v      any
	}
	var children []child
	for _, k := range assocNames {
		a, v := c.Assocs[k], values[k]
		target, err := sc.collection(a.Target)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: collection %q: association %q: %w", c.Name, k, err)
		}
		if a.Kind != flow.FieldBelongsTo {
			if a.Kind == flow.FieldBelongsToMany {
				if _, err := sc.collection(a.Through); err != nil {
					return nil, fmt.Errorf("sqlstore: collection %q: association %q: through: %w", c.Name, k, err)
				}
			} else if len(target.Keys) != 1 {
				return nil, fmt.Errorf("sqlstore: collection %q: association %q: target %q has a composite key: link it through its own records: %w", c.Name, k, target.Name, flow.ErrInvalidRecord)
			}
			children = append(children, child{a, target, v})
			continue
		}
		m, ok := asMap(v)
		if !ok {
			ev, err := s.st.encode(c, a.ForeignKey, v)
			if err != nil {
				return nil, err
			}
			row[a.ForeignKey] = ev
			continue
		}
		if kv := m[a.TargetKey]; kv != nil {
			r, err := s.find(ctx, q, target, a.TargetKey, kv)
			if err != nil {
				return nil, err
			}
			if r != nil {
				ev, err := s.st.encode(c, a.ForeignKey, r[a.TargetKey])
				if err != nil {
					return nil, err
				}
				row[a.ForeignKey] = ev
				continue
			}
		}
		parent, err := s.create(ctx, q, sc, target, m, depth+1, now)
		if err != nil {
			return nil, err
		}
		ev, err := s.st.encode(c, a.ForeignKey, parent[a.TargetKey])
		if err != nil {
			return nil, err
		}
		row[a.ForeignKey] = ev
	}
	if c.CreatedAt || c.UpdatedAt {
		if now.IsZero() {
			*now = time.Now().UTC().Truncate(time.Microsecond)
		}
		for _, f := range []string{"createdAt", "updatedAt"} {
			if (f == "createdAt" && !c.CreatedAt) || (f == "updatedAt" && !c.UpdatedAt) || row[f] != nil {
				continue
			}
			ev, err := s.st.encode(c, f, *now)
			if err != nil {
				return nil, err
			}
			row[f] = ev
		}
	}
	explicitID := false
	if c.AutoID && row["id"] == nil {
		delete(row, "id")
	} else if c.AutoID {
		explicitID = true
	}
	cols := make([]string, 0, len(row))
	args := make([]any, 0, len(row))
	for _, f := range c.fields {
		if v, ok := row[f]; ok {
			cols = append(cols, c.col(f))
			args = append(args, v)
		}
	}
	if len(cols) == 0 && c.AutoID && s.st.d == SQLite {
		// SQLite takes no upsert clause after DEFAULT VALUES: name the key
		// instead; NULL makes it assign one.
		cols = append(cols, c.col("id"))
		args = append(args, nil)
	}
	var query string
	if len(cols) == 0 {
		query = "INSERT INTO " + quote(c.table) + " DEFAULT VALUES ON CONFLICT DO NOTHING RETURNING " + c.selectList
	} else {
		query = "INSERT INTO " + quote(c.table) + " (" + strings.Join(cols, ", ") + ") VALUES (" + placeholders(len(cols)) + ") ON CONFLICT DO NOTHING RETURNING " + c.selectList
	}
	rows, err := q.QueryContext(ctx, s.st.q(query), args...)
	if err != nil {
		return nil, s.st.mapErr(err, "create "+c.Name)
	}
	rs, err := s.scanRecords(rows, c)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("sqlstore: collection %q: a record with key %s exists: %w", c.Name, keyValues(c, row), flow.ErrDuplicate)
	}
	rec := rs[0]
	if explicitID && s.st.d == PostgreSQL {
		if err := s.bumpSequence(ctx, q, c, rec["id"]); err != nil {
			return nil, err
		}
	}
	for _, ch := range children {
		if err := s.link(ctx, q, sc, rec, ch.a, ch.target, ch.v, depth, now); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// bumpSequence keeps the id sequence of a PostgreSQL table above an id given
// explicitly.
func (s *Store) bumpSequence(ctx context.Context, q querier, c *collection, id any) error {
	n, ok := flow.IntValue(id)
	if !ok || n < 1 {
		return nil
	}
	_, err := q.ExecContext(ctx, `SELECT setval(seq, GREATEST($1::bigint, COALESCE(pg_sequence_last_value(seq), 0)))
		FROM (SELECT pg_get_serial_sequence($2, $3)::regclass AS seq) s WHERE seq IS NOT NULL`, n, quote(c.table), c.colName["id"])
	return s.st.mapErr(err, "advance the id sequence of "+c.table)
}

// link links the targets of a hasOne, hasMany or belongsToMany value to rec.
func (s *Store) link(ctx context.Context, q querier, sc *schema, rec flow.Record, a *assoc, target *collection, v any, depth int, now *time.Time) error {
	src := rec[a.SourceKey]
	if src == nil {
		return fmt.Errorf("sqlstore: association %q: the record has no %q to link by: %w", a.Name, a.SourceKey, flow.ErrInvalidRecord)
	}
	lookupKey := a.TargetKey
	if a.Kind != flow.FieldBelongsToMany {
		lookupKey = target.Keys[0]
	}
	var keys []any
	for _, el := range asList(v) {
		if m, ok := asMap(el); ok {
			if kv := m[lookupKey]; kv != nil {
				r, err := s.find(ctx, q, target, lookupKey, kv)
				if err != nil {
					return err
				}
				if r != nil {
					keys = append(keys, r[lookupKey])
					continue
				}
			}
			if a.Kind != flow.FieldBelongsToMany {
				sub := make(flow.Record, len(m)+1)
				for k, x := range m {
					sub[k] = x
				}
				sub[a.ForeignKey] = src
				if _, err := s.create(ctx, q, sc, target, sub, depth+1, now); err != nil {
					return err
				}
				continue
			}
			created, err := s.create(ctx, q, sc, target, m, depth+1, now)
			if err != nil {
				return err
			}
			keys = append(keys, created[lookupKey])
			continue
		}
		r, err := s.find(ctx, q, target, lookupKey, el)
		if err != nil {
			return err
		}
		if r == nil {
			return fmt.Errorf("sqlstore: association %q: no %s record with %s %v: %w", a.Name, target.Name, lookupKey, el, flow.ErrNotFound)
		}
		keys = append(keys, r[lookupKey])
	}
	if a.Kind != flow.FieldBelongsToMany {
		if len(keys) == 0 {
			return nil
		}
		fk, err := s.st.encode(target, a.ForeignKey, src)
		if err != nil {
			return err
		}
		args := []any{fk}
		for _, k := range keys {
			ek, err := s.st.encode(target, lookupKey, k)
			if err != nil {
				return err
			}
			args = append(args, ek)
		}
		_, err = q.ExecContext(ctx, s.st.q("UPDATE "+quote(target.table)+" SET "+target.col(a.ForeignKey)+" = ? WHERE "+target.col(lookupKey)+" IN ("+placeholders(len(keys))+")"), args...)
		return s.st.mapErr(err, "link "+target.Name)
	}
	through, err := sc.collection(a.Through)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if _, err := s.create(ctx, q, sc, through, flow.Record{a.ForeignKey: src, a.OtherKey: k}, depth+1, now); err != nil {
			return err
		}
	}
	return nil
}

func keyValues(c *collection, row map[string]any) string {
	parts := make([]string, len(c.Keys))
	for i, k := range c.Keys {
		parts[i] = fmt.Sprintf("%s=%v", k, row[k])
	}
	return strings.Join(parts, ",")
}

// CreateRecord validates values, creates the record and the records its
// association values create, links the ones they name, and returns the
// record as stored (every column, NULL ones as nil). Nothing is written when
// it fails.
func (s *Store) CreateRecord(ctx context.Context, collection string, values flow.Record) (flow.Record, error) {
	sc := s.st.sch.Load()
	c, err := sc.collection(collection)
	if err != nil {
		return nil, err
	}
	for k := range values {
		if _, ok := c.Columns[k]; !ok && c.Assocs[k] == nil {
			return nil, unknownField(c, k)
		}
	}
	var out flow.Record
	err = s.write(ctx, true, func(q querier) error {
		var now time.Time
		out, err = s.create(ctx, q, sc, c, values, 0, &now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetRecord returns the record with the given primary key with the appends
// loaded.
func (s *Store) GetRecord(ctx context.Context, collection string, key flow.Record, appends []string) (flow.Record, error) {
	sc := s.st.sch.Load()
	c, err := sc.collection(collection)
	if err != nil {
		return nil, err
	}
	nodes, err := compileAppends(sc, c, appends)
	if err != nil {
		return nil, err
	}
	for k := range key {
		if !slices.Contains(c.Keys, k) {
			if _, ok := c.Columns[k]; !ok {
				return nil, unknownField(c, k)
			}
			return nil, fmt.Errorf("sqlstore: collection %q: %q is not a primary key field: %w", c.Name, k, flow.ErrInvalidRecord)
		}
	}
	conds := make([]string, len(c.Keys))
	args := make([]any, len(c.Keys))
	for i, k := range c.Keys {
		v := key[k]
		if v == nil {
			return nil, fmt.Errorf("sqlstore: collection %q: no value for key field %q: %w", c.Name, k, flow.ErrInvalidRecord)
		}
		ev, err := s.st.encode(c, k, v)
		if err != nil {
			return nil, err
		}
		conds[i], args[i] = c.col(k)+" = ?", ev
	}
	var out flow.Record
	err = s.read(ctx, func(q querier) error {
		rows, err := q.QueryContext(ctx, s.st.q("SELECT "+c.selectList+" FROM "+quote(c.table)+" WHERE "+strings.Join(conds, " AND ")), args...)
		if err != nil {
			return s.st.mapErr(err, "get "+c.Name)
		}
		rs, err := s.scanRecords(rows, c)
		if err != nil {
			return err
		}
		if len(rs) == 0 {
			return fmt.Errorf("sqlstore: collection %q: record %s: %w", c.Name, keyValues(c, key), flow.ErrNotFound)
		}
		out = rs[0]
		return s.load(ctx, q, sc, out, nodes)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListRecords returns the matching records in primary key order with the
// appends loaded.
func (s *Store) ListRecords(ctx context.Context, collection string, f storage.Filter, appends []string) ([]flow.Record, error) {
	sc := s.st.sch.Load()
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
	err = s.read(ctx, func(q querier) error {
		var err error
		if out, err = s.records(ctx, q, c, f); err != nil {
			return err
		}
		for _, r := range out {
			if err := s.load(ctx, q, sc, r, nodes); err != nil {
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

// UpdateRecords sets values on every matching record and returns the records
// as stored, in primary key order. Values may set columns and belongsTo
// associations (a scalar sets the foreign key, a map is an existing target or
// one to create). updatedAt, when declared and not given, is set to now.
func (s *Store) UpdateRecords(ctx context.Context, collection string, f storage.Filter, values flow.Record) ([]flow.Record, error) {
	sc := s.st.sch.Load()
	c, err := sc.collection(collection)
	if err != nil {
		return nil, err
	}
	if err := checkFilter(c, f); err != nil {
		return nil, err
	}
	for k := range values {
		a := c.Assocs[k]
		if _, ok := c.Columns[k]; !ok && a == nil {
			return nil, unknownField(c, k)
		}
		if a != nil && a.Kind != flow.FieldBelongsTo {
			return nil, fmt.Errorf("sqlstore: collection %q: association %q: only belongsTo associations can be set by an update: %w", c.Name, k, flow.ErrInvalidRecord)
		}
	}
	var out []flow.Record
	err = s.write(ctx, true, func(q querier) error {
		w, wargs := s.where(c, f)
		var one int
		err := scan(q.QueryRowContext(ctx, s.st.q("SELECT 1 FROM "+quote(c.table)+w+" LIMIT 1"), wargs...), &one)
		if err == sql.ErrNoRows {
			out = []flow.Record{}
			return nil
		}
		if err != nil {
			return s.st.mapErr(err, "update "+c.Name)
		}
		set := map[string]any{}
		var now time.Time
		for k, v := range values {
			a := c.Assocs[k]
			if a == nil {
				ev, err := s.st.encode(c, k, v)
				if err != nil {
					return err
				}
				set[k] = ev
				continue
			}
			target, err := sc.collection(a.Target)
			if err != nil {
				return fmt.Errorf("sqlstore: collection %q: association %q: %w", c.Name, k, err)
			}
			fk := v
			if m, ok := asMap(v); ok {
				var r flow.Record
				if kv := m[a.TargetKey]; kv != nil {
					if r, err = s.find(ctx, q, target, a.TargetKey, kv); err != nil {
						return err
					}
				}
				if r == nil {
					if r, err = s.create(ctx, q, sc, target, m, 1, &now); err != nil {
						return err
					}
				}
				fk = r[a.TargetKey]
			}
			ev, err := s.st.encode(c, a.ForeignKey, fk)
			if err != nil {
				return err
			}
			set[a.ForeignKey] = ev
		}
		if c.UpdatedAt && values["updatedAt"] == nil {
			ev, err := s.st.encode(c, "updatedAt", time.Now())
			if err != nil {
				return err
			}
			set["updatedAt"] = ev
		}
		if len(set) == 0 {
			out, err = s.records(ctx, q, c, f)
			return err
		}
		var sets []string
		var args []any
		for _, fld := range c.fields {
			if v, ok := set[fld]; ok {
				sets, args = append(sets, c.col(fld)+" = ?"), append(args, v)
			}
		}
		rows, err := q.QueryContext(ctx, s.st.q("UPDATE "+quote(c.table)+" SET "+strings.Join(sets, ", ")+w+" RETURNING "+c.selectList), append(args, wargs...)...)
		if err != nil {
			return s.st.mapErr(err, "update "+c.Name)
		}
		if out, err = s.scanRecords(rows, c); err != nil {
			return err
		}
		sort.SliceStable(out, func(i, j int) bool {
			for _, k := range c.Keys {
				if d := compareValues(out[i][k], out[j][k]); d != 0 {
					return d < 0
				}
			}
			return false
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// compileAppends turns association paths ("category", "post.category") into
// a tree (flow.Schema.Appends), failing on names that are not associations.
func compileAppends(sc *schema, c *collection, paths []string) ([]*flow.AppendNode, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	tree, err := sc.fs.Appends(c.Name, paths)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	return tree, nil
}

// load sets the appended associations on rec.
func (s *Store) load(ctx context.Context, q querier, sc *schema, rec flow.Record, nodes []*flow.AppendNode) error {
	for _, n := range nodes {
		a := n.Assoc
		target := sc.colls[n.Target.Name]
		switch a.Kind {
		case flow.FieldBelongsTo:
			r, err := s.find(ctx, q, target, a.TargetKey, rec[a.ForeignKey])
			if err != nil {
				return err
			}
			if r == nil {
				rec[a.Name] = nil
				continue
			}
			if err := s.load(ctx, q, sc, r, n.Children); err != nil {
				return err
			}
			rec[a.Name] = r
		case flow.FieldHasOne, flow.FieldHasMany:
			rows := []flow.Record{}
			if src := rec[a.SourceKey]; src != nil {
				var err error
				if rows, err = s.records(ctx, q, target, storage.Filter{a.ForeignKey: src}); err != nil {
					return err
				}
			}
			if a.Kind == flow.FieldHasOne {
				if len(rows) == 0 {
					rec[a.Name] = nil
					continue
				}
				if err := s.load(ctx, q, sc, rows[0], n.Children); err != nil {
					return err
				}
				rec[a.Name] = rows[0]
				continue
			}
			list, err := s.loadList(ctx, q, sc, rows, n.Children)
			if err != nil {
				return err
			}
			rec[a.Name] = list
		case flow.FieldBelongsToMany:
			rows := []flow.Record{}
			if src := rec[a.SourceKey]; src != nil {
				joins, err := s.records(ctx, q, sc.colls[n.Through.Name], storage.Filter{a.ForeignKey: src})
				if err != nil {
					return err
				}
				if len(joins) > 0 {
					keys := make([]any, len(joins))
					for i, j := range joins {
						keys[i] = j[a.OtherKey]
					}
					if rows, err = s.records(ctx, q, target, storage.Filter{a.TargetKey: keys}); err != nil {
						return err
					}
				}
			}
			list, err := s.loadList(ctx, q, sc, rows, n.Children)
			if err != nil {
				return err
			}
			rec[a.Name] = list
		}
	}
	return nil
}

func (s *Store) loadList(ctx context.Context, q querier, sc *schema, rows []flow.Record, children []*flow.AppendNode) ([]any, error) {
	list := make([]any, len(rows))
	for i, r := range rows {
		if err := s.load(ctx, q, sc, r, children); err != nil {
			return nil, err
		}
		list[i] = r
	}
	return list, nil
}

var _ storage.RecordPager = (*Store)(nil)

// ListRecordsPage returns the page of records q selects, with the appends
// loaded for them only, and the number of records matching q.Filter. The
// database sorts (ORDER BY the sort columns, then the primary key), pages
// (LIMIT/OFFSET) and counts (COUNT(*) with the same WHERE, skipped when the
// page itself shows the total; without a filter, on a table the store
// created, the count its triggers keep), so a page of a large table in key
// order costs the page.
// Text sorts bytewise on both dialects (COLLATE "C" on PostgreSQL), NULL
// first ascending and last descending. Outside a unit of work the page and
// the count are two statements: a write between them can make total differ
// by the records it wrote.
func (s *Store) ListRecordsPage(ctx context.Context, collection string, q storage.ListQuery, appends []string) ([]flow.Record, int, error) {
	sc := s.st.sch.Load()
	c, err := sc.collection(collection)
	if err != nil {
		return nil, 0, err
	}
	if err := checkFilter(c, q.Filter); err != nil {
		return nil, 0, err
	}
	order, err := s.orderBy(c, q)
	if err != nil {
		return nil, 0, err
	}
	nodes, err := compileAppends(sc, c, appends)
	if err != nil {
		return nil, 0, err
	}
	w, args := s.where(c, q.Filter)
	var (
		out   []flow.Record
		total int
	)
	err = s.read(ctx, func(qr querier) error {
		rows, err := qr.QueryContext(ctx, s.st.q("SELECT "+c.selectList+" FROM "+quote(c.table)+w+" ORDER BY "+order+s.st.limitOffset(q.Limit, q.Offset)), args...)
		if err != nil {
			return s.st.mapErr(err, "list "+c.Name)
		}
		if out, err = s.scanRecords(rows, c); err != nil {
			return err
		}
		switch {
		case len(out) > 0 && (q.Limit == 0 || len(out) < q.Limit):
			total = q.Offset + len(out) // the page is the last one
		case len(out) == 0 && q.Offset == 0:
			total = 0
		case c.counted && len(q.Filter) == 0:
			// A table of the store's own: its triggers keep the count.
			err := scan(qr.QueryRowContext(ctx, s.st.q("SELECT COALESCE(SUM(n), 0) FROM actiontrigger_row_counts WHERE table_name = ?"), c.table), &total)
			if err != nil {
				return s.st.mapErr(err, "count "+c.Name)
			}
		default:
			err := scan(qr.QueryRowContext(ctx, s.st.q("SELECT COUNT(*) FROM "+quote(c.table)+w), args...), &total)
			if err != nil {
				return s.st.mapErr(err, "count "+c.Name)
			}
		}
		for _, r := range out {
			if err := s.load(ctx, qr, sc, r, nodes); err != nil {
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

// orderBy validates q's paging and sort fields and renders its ORDER BY
// list: the sort columns, then the primary key columns.
func (s *Store) orderBy(c *collection, q storage.ListQuery) (string, error) {
	if q.Offset < 0 || q.Limit < 0 {
		return "", fmt.Errorf("sqlstore: collection %q: offset %d, limit %d: want 0 or more: %w", c.Name, q.Offset, q.Limit, flow.ErrInvalidRecord)
	}
	if len(q.Sort) == 0 {
		return c.orderBy, nil
	}
	parts := make([]string, 0, len(q.Sort)+1)
	for _, srt := range q.Sort {
		f, desc := storage.SortField(srt)
		typ, ok := c.Columns[f]
		if !ok {
			return "", unknownField(c, f)
		}
		expr := c.col(f)
		switch typ {
		case flow.FieldJSON:
			return "", fmt.Errorf("sqlstore: collection %q: field %q is json: it cannot be sorted on: %w", c.Name, f, flow.ErrInvalidRecord)
		case flow.FieldInteger, flow.FieldNumber, flow.FieldBoolean, flow.FieldDate:
		default:
			if s.st.d == PostgreSQL {
				expr += ` COLLATE "C"`
			}
		}
		if desc {
			expr += " DESC NULLS LAST"
		} else {
			expr += " ASC NULLS FIRST"
		}
		parts = append(parts, expr)
	}
	return strings.Join(append(parts, c.orderBy), ", "), nil
}
