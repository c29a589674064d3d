package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/actiontrigger/actiontrigger/flow"
)

// schema is the compiled record schema (flow.CompileSchema, the library's
// one schema compiler) with the SQL mapping of each collection. It is
// immutable once published.
type schema struct {
	fs    *flow.Schema
	colls map[string]*collection
}

// collection is a compiled collection and its SQL mapping.
type collection struct {
	*flow.CollectionSchema
	// colName maps a field to its SQL column.
	colName map[string]string
	// fields lists the columns' fields in a fixed order (select lists).
	fields []string
	// table is the SQL table name (unquoted; validated).
	table string

	selectList string // quoted columns of fields, in order
	orderBy    string // quoted key columns
	// counted: the store created the table and keeps its row count in
	// actiontrigger_row_counts (set by DeclareCollections).
	counted bool
}

// assoc is a compiled association field.
type assoc = flow.Association

func (sc *schema) collection(name string) (*collection, error) {
	if c := sc.colls[name]; c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("sqlstore: collection %q: %w", name, flow.ErrUnknownCollection)
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// quote quotes a validated identifier.
func quote(ident string) string { return `"` + ident + `"` }

func (c *collection) col(field string) string { return quote(c.colName[field]) }

// ErrSchemaMismatch is returned by DeclareCollections when a table the store
// did not create (the host's) lacks columns the declared collections need. The
// error lists every missing column; the store never alters such a table.
var ErrSchemaMismatch = errors.New("sqlstore: a host table lacks columns a collection needs")

// ownedTable is the store's metadata table of the record tables it created.
const ownedTable = "actiontrigger_owned_tables"

// DeclareCollections adds the collections to the schema, replacing those with
// the same full name. Each collection lives in a table named Collection.Table
// or its name (prefixed with "<dataSource>__" outside the main data source).
//
// A table that does not exist is created and recorded as the store's own (in
// actiontrigger_owned_tables); a later declaration may add columns to it. A
// table that exists and the store did not create is the host's: it is never
// altered, and every column the collections need must exist, or
// DeclareCollections fails with ErrSchemaMismatch listing every missing one.
// Declaring the same collections again changes nothing.
//
// Schema changes run under a lock (PostgreSQL: an advisory transaction lock;
// SQLite: the write transaction), so that processes declaring the same
// collections at once on one database all succeed. Migrate must have run.
func (s *Store) DeclareCollections(ctx context.Context, cs []flow.Collection) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	st := s.st
	st.schMu.Lock()
	defer st.schMu.Unlock()
	old := st.sch.Load()
	defs := make(map[string]flow.Collection, len(old.colls)+len(cs))
	for name, c := range old.colls {
		defs[name] = c.Def
	}
	seen := make(map[string]bool, len(cs))
	for i := range cs {
		c := cs[i].Clone()
		if c.Name == "" {
			return fmt.Errorf("sqlstore: DeclareCollections: collection %d has no name", i)
		}
		name := c.FullName()
		if seen[name] {
			return fmt.Errorf("sqlstore: DeclareCollections: collection %q is declared twice", name)
		}
		seen[name] = true
		defs[name] = c
	}
	sc, err := compileSchema(defs)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(sc.colls))
	for name := range sc.colls {
		names = append(names, name)
	}
	sort.Strings(names)
	err = s.write(ctx, true, func(q querier) error {
		if err := st.schemaLock(ctx, q); err != nil {
			return err
		}
		var missing []string
		for _, name := range names {
			m, err := s.ensureTable(ctx, q, sc.colls[name])
			if err != nil {
				return err
			}
			missing = append(missing, m...)
		}
		if len(missing) > 0 {
			return fmt.Errorf("%w (it never alters a table it did not create: add the columns, or map the fields onto existing ones with Field.Column): %s",
				ErrSchemaMismatch, strings.Join(missing, "; "))
		}
		return nil
	})
	if err != nil {
		return err
	}
	st.sch.Store(sc)
	return nil
}

// schemaLock serialises schema changes of processes sharing the database, in
// the transaction of q. On PostgreSQL it takes the advisory lock Migrate takes
// (released when the transaction ends): CREATE TABLE IF NOT EXISTS alone races
// on the catalog ("duplicate key value violates unique constraint
// pg_type_typname_nsp_index"). On SQLite the write transaction is the lock.
func (st *state) schemaLock(ctx context.Context, q querier) error {
	if st.d != PostgreSQL {
		return nil
	}
	if _, err := q.ExecContext(ctx, "SELECT pg_advisory_xact_lock("+strconv.Itoa(advisoryLockKey)+")"); err != nil {
		return st.mapErr(err, "schema lock")
	}
	return nil
}

// AdoptTables records existing tables as created by the store, so that
// DeclareCollections may add the columns a declaration needs to them, and
// gives them the triggers that keep their row counts (schema 5; unless
// WithoutRowCounts) the next time it declares them. It is
// meant for record tables an earlier version of this package created (before
// it recorded the tables it creates): the store treats those as the host's
// and never alters them until adopted. A table that does not exist is an
// error wrapping flow.ErrNotFound.
func (s *Store) AdoptTables(ctx context.Context, tables ...string) error {
	for _, t := range tables {
		if !identRE.MatchString(t) {
			return fmt.Errorf("sqlstore: AdoptTables: %q is not a valid SQL identifier (letters, digits, underscore)", t)
		}
	}
	return s.write(ctx, true, func(q querier) error {
		if err := s.st.schemaLock(ctx, q); err != nil {
			return err
		}
		for _, t := range tables {
			cols, err := s.tableColumns(ctx, q, t)
			if err != nil {
				return err
			}
			if cols == nil {
				return fmt.Errorf("sqlstore: AdoptTables: table %q: %w", t, flow.ErrNotFound)
			}
			if err := s.recordOwned(ctx, q, t, ""); err != nil {
				return err
			}
		}
		return nil
	})
}

// recordOwned records table as created by the store.
func (s *Store) recordOwned(ctx context.Context, q querier, table, collection string) error {
	_, err := q.ExecContext(ctx, s.st.q("INSERT INTO "+ownedTable+" (table_name, collection, created_at) VALUES (?, ?, ?) ON CONFLICT (table_name) DO NOTHING"),
		table, collection, time.Now().UnixMicro())
	return s.st.mapErr(err, "record table "+table+" in "+ownedTable)
}

// owns reports whether the store created table, and whether the table's
// row count is kept (its triggers are installed).
func (s *Store) owns(ctx context.Context, q querier, table string) (owned, counted bool, err error) {
	var n, c int
	err = scan(q.QueryRowContext(ctx, s.st.q("SELECT COUNT(*), COALESCE(MAX(CASE WHEN counted THEN 1 ELSE 0 END), 0) FROM "+ownedTable+" WHERE table_name = ?"), table), &n, &c)
	if err != nil {
		return false, false, s.st.mapErr(err, "read "+ownedTable+" (has Migrate run?)")
	}
	return n > 0, c > 0, nil
}

// keepCount installs the triggers that keep the row count of table, a table
// the store created, counts its rows once, and records it as counted. It
// runs under the schema lock; creating a trigger locks the table against
// writes until the declaration commits, so the first count is exact.
func (s *Store) keepCount(ctx context.Context, q querier, table string) error {
	t := quote(table)
	var stmts []string
	if s.st.d == PostgreSQL {
		// DROP and CREATE rather than CREATE OR REPLACE TRIGGER, which
		// needs PostgreSQL 14.
		stmts = []string{
			"DROP TRIGGER IF EXISTS actiontrigger_count_ins ON " + t,
			"DROP TRIGGER IF EXISTS actiontrigger_count_del ON " + t,
			"DROP TRIGGER IF EXISTS actiontrigger_count_trunc ON " + t,
			"CREATE TRIGGER actiontrigger_count_ins AFTER INSERT ON " + t + " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION actiontrigger_count_rows()",
			"CREATE TRIGGER actiontrigger_count_del AFTER DELETE ON " + t + " REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION actiontrigger_count_rows()",
			"CREATE TRIGGER actiontrigger_count_trunc AFTER TRUNCATE ON " + t + " FOR EACH STATEMENT EXECUTE FUNCTION actiontrigger_count_rows()",
			"DELETE FROM actiontrigger_row_counts WHERE table_name = '" + table + "'",
			"INSERT INTO actiontrigger_row_counts (table_name, shard, n) SELECT '" + table + "', pg_backend_pid(), COUNT(*) FROM " + t,
			"UPDATE " + ownedTable + " SET counted = true WHERE table_name = '" + table + "'",
		}
	} else {
		stmts = []string{
			`CREATE TRIGGER IF NOT EXISTS "actiontrigger_count_ins_` + table + `" AFTER INSERT ON ` + t +
				" BEGIN UPDATE actiontrigger_row_counts SET n = n + 1 WHERE table_name = '" + table + "'; END",
			`CREATE TRIGGER IF NOT EXISTS "actiontrigger_count_del_` + table + `" AFTER DELETE ON ` + t +
				" BEGIN UPDATE actiontrigger_row_counts SET n = n - 1 WHERE table_name = '" + table + "'; END",
			"INSERT OR REPLACE INTO actiontrigger_row_counts (table_name, n) SELECT '" + table + "', COUNT(*) FROM " + t,
			"UPDATE " + ownedTable + " SET counted = 1 WHERE table_name = '" + table + "'",
		}
	}
	for _, stmt := range stmts {
		if _, err := q.ExecContext(ctx, stmt); err != nil {
			return s.st.mapErr(err, "keep the row count of "+table)
		}
	}
	return nil
}

// tableColumns returns the columns of an existing table (nil: no table).
func (s *Store) tableColumns(ctx context.Context, q querier, table string) (map[string]bool, error) {
	query := "SELECT name FROM pragma_table_info(?)"
	if s.st.d == PostgreSQL {
		query = "SELECT column_name FROM information_schema.Columns WHERE table_schema = current_schema() AND table_name = ?"
	}
	rows, err := q.QueryContext(ctx, s.st.q(query), table)
	if err != nil {
		return nil, s.st.mapErr(err, "inspect table "+table)
	}
	defer rows.Close()
	var cols map[string]bool
	for rows.Next() {
		var name string
		if err := scan(rows, &name); err != nil {
			return nil, s.st.mapErr(err, "inspect table "+table)
		}
		if cols == nil {
			cols = map[string]bool{}
		}
		cols[name] = true
	}
	return cols, s.st.mapErr(rows.Err(), "inspect table "+table)
}

// ensureTable creates the table of c (recording it as the store's), adds the
// columns c needs to a table the store created, or returns the columns a host
// table lacks (one description each).
func (s *Store) ensureTable(ctx context.Context, q querier, c *collection) ([]string, error) {
	have, err := s.tableColumns(ctx, q, c.table)
	if err != nil {
		return nil, err
	}
	if have != nil {
		var lacking []string
		for _, f := range c.fields {
			if !have[c.colName[f]] {
				lacking = append(lacking, f)
			}
		}
		owned, counted, err := s.owns(ctx, q, c.table)
		if err != nil {
			return nil, err
		}
		if owned && !counted && !s.st.opts.noRowCounts {
			if err := s.keepCount(ctx, q, c.table); err != nil {
				return nil, err
			}
			counted = true
		}
		c.counted = counted
		if len(lacking) == 0 {
			return nil, nil
		}
		if !owned {
			out := make([]string, len(lacking))
			for i, f := range lacking {
				out[i] = fmt.Sprintf("table %q (collection %q) has no column %q (field %q)", c.table, c.Name, c.colName[f], f)
			}
			return out, nil
		}
		// A table of the store's own that a later declaration extends.
		for _, f := range lacking {
			if _, err := q.ExecContext(ctx, "ALTER TABLE "+quote(c.table)+" ADD COLUMN "+c.col(f)+" "+s.sqlType(c.Columns[f])); err != nil {
				return nil, s.st.mapErr(err, "add column "+c.colName[f]+" to "+c.table)
			}
		}
		return nil, nil
	}
	var defs []string
	single := c.AutoID && len(c.Keys) == 1 && c.Keys[0] == "id"
	for _, f := range c.fields {
		typ := s.sqlType(c.Columns[f])
		if single && f == "id" {
			if s.st.d == PostgreSQL {
				defs = append(defs, c.col(f)+" BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
			} else {
				defs = append(defs, c.col(f)+" INTEGER PRIMARY KEY")
			}
			continue
		}
		defs = append(defs, c.col(f)+" "+typ)
	}
	if !single {
		defs = append(defs, "PRIMARY KEY ("+c.orderBy+")")
	}
	if _, err := q.ExecContext(ctx, "CREATE TABLE "+quote(c.table)+" ("+strings.Join(defs, ", ")+")"); err != nil {
		return nil, s.st.mapErr(err, "create table "+c.table)
	}
	if err := s.recordOwned(ctx, q, c.table, c.Name); err != nil {
		return nil, err
	}
	if !s.st.opts.noRowCounts {
		if err := s.keepCount(ctx, q, c.table); err != nil {
			return nil, err
		}
		c.counted = true
	}
	for _, f := range c.Inferred {
		idx := c.table + "_" + c.colName[f] + "_idx"
		if _, err := q.ExecContext(ctx, "CREATE INDEX IF NOT EXISTS "+quote(idx)+" ON "+quote(c.table)+" ("+c.col(f)+")"); err != nil {
			return nil, s.st.mapErr(err, "create index "+idx)
		}
	}
	return nil, nil
}

func (s *Store) sqlType(t flow.FieldType) string {
	pg := s.st.d == PostgreSQL
	switch t {
	case flow.FieldInteger:
		if pg {
			return "BIGINT"
		}
		return "INTEGER"
	case flow.FieldNumber:
		if pg {
			return "DOUBLE PRECISION"
		}
		return "REAL"
	case flow.FieldBoolean:
		if pg {
			return "BOOLEAN"
		}
		return "INTEGER"
	case flow.FieldDate:
		if pg {
			return "TIMESTAMPTZ"
		}
		return "TEXT"
	case flow.FieldJSON:
		if pg {
			return "JSONB"
		}
		return "TEXT"
	}
	return "TEXT"
}

// compileSchema compiles every definition and maps it onto its table.
func compileSchema(defs map[string]flow.Collection) (*schema, error) {
	list := make([]flow.Collection, 0, len(defs))
	for _, def := range defs {
		list = append(list, def)
	}
	fs, err := flow.CompileSchema(list)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: DeclareCollections: %w", err)
	}
	sc := &schema{fs: fs, colls: make(map[string]*collection, len(defs))}
	for _, name := range fs.Names() {
		cs, _ := fs.Collection(name)
		c := &collection{CollectionSchema: cs, colName: make(map[string]string, len(cs.Columns))}
		def := cs.Def
		table := def.Table
		if table == "" {
			table = def.Name
		}
		if ds := def.DataSource; ds != "" && ds != "main" {
			table = ds + "__" + table
		}
		c.table = table
		for _, f := range def.Fields {
			if !f.Type.IsAssociation() && f.Column != "" {
				c.colName[f.Name] = f.Column
			}
		}
		if err := c.finish(); err != nil {
			return nil, err
		}
		sc.colls[name] = c
	}
	return sc, nil
}

// finish maps fields to columns, validates identifiers and renders the
// select list.
func (c *collection) finish() error {
	for f := range c.Columns {
		if _, ok := c.colName[f]; !ok {
			c.colName[f] = f
		}
		c.fields = append(c.fields, f)
	}
	sort.Strings(c.fields)
	// Keys first, in key order.
	ordered := append([]string(nil), c.Keys...)
	for _, f := range c.fields {
		if !slices.Contains(c.Keys, f) {
			ordered = append(ordered, f)
		}
	}
	c.fields = ordered
	if !identRE.MatchString(c.table) {
		return fmt.Errorf("sqlstore: DeclareCollections: collection %q: table name %q is not a valid SQL identifier (letters, digits, underscore)", c.Name, c.table)
	}
	cols := make([]string, len(c.fields))
	seen := map[string]string{}
	for i, f := range c.fields {
		col := c.colName[f]
		if !identRE.MatchString(col) {
			return fmt.Errorf("sqlstore: DeclareCollections: collection %q: column %q of field %q is not a valid SQL identifier (letters, digits, underscore): set Field.Column", c.Name, col, f)
		}
		if other, dup := seen[col]; dup {
			return fmt.Errorf("sqlstore: DeclareCollections: collection %q: fields %q and %q map to the same column %q", c.Name, other, f, col)
		}
		seen[col] = f
		cols[i] = quote(col)
	}
	c.selectList = strings.Join(cols, ", ")
	keys := make([]string, len(c.Keys))
	for i, k := range c.Keys {
		keys[i] = c.col(k)
	}
	c.orderBy = strings.Join(keys, ", ")
	return nil
}
