package memory

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/actiontrigger/actiontrigger/flow"
)

// schema is the compiled record schema: every declared collection by full name.
// It is immutable once published.
type schema struct {
	colls map[string]*collection
}

// collection is a compiled collection.
type collection struct {
	name   string // full name: "posts", "another:posts"
	def    flow.Collection
	keys   []string
	autoID bool
	// columns are the stored fields and their types: declared non-association
	// fields, key fields, "id" for auto-id collections and the foreign keys the
	// associations of any collection keep in this one.
	columns map[string]flow.FieldType
	assocs  map[string]*assoc
	// createdAt and updatedAt are set when the collection declares those
	// fields as dates.
	createdAt, updatedAt bool
	// prefix starts the go-memdb key of every record of the collection:
	// "r", the name, NUL.
	prefix []byte
	// ids hands out auto ids; it survives redeclarations.
	ids *atomic.Int64
}

// assoc is a compiled association field.
type assoc struct {
	name   string
	kind   flow.FieldType
	target string // full name
	// foreignKey: belongsTo, the column of this collection; hasOne/hasMany,
	// the column of the target; belongsToMany, the column of through pointing
	// at this collection.
	foreignKey string
	targetKey  string // belongsTo, belongsToMany: the target's key (default "id")
	sourceKey  string // hasOne, hasMany, belongsToMany: this collection's key (default "id")
	through    string // belongsToMany: full name of the join collection
	otherKey   string // belongsToMany: the column of through pointing at the target
}

// collection returns the declared collection name, or flow.ErrUnknownCollection.
func (sc *schema) collection(name string) (*collection, error) {
	if c := sc.colls[name]; c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("memory: collection %q: %w", name, flow.ErrUnknownCollection)
}

// DeclareCollections adds the collections to the schema, replacing those with
// the same full name; collections declared before and not named stay. Records
// and auto-id counters are kept. Declaring the same collections again changes
// nothing. The schema is not part of transactions.
func (s *Store) DeclareCollections(ctx context.Context, cs []flow.Collection) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	st := s.st
	st.schemaMu.Lock()
	defer st.schemaMu.Unlock()
	old := st.schema.Load()
	defs := make(map[string]flow.Collection, len(old.colls)+len(cs))
	for name, c := range old.colls {
		defs[name] = c.def
	}
	seen := make(map[string]bool, len(cs))
	for i := range cs {
		c := cloneCollection(&cs[i])
		if c.Name == "" {
			return fmt.Errorf("memory: DeclareCollections: collection %d has no name", i)
		}
		name := c.FullName()
		if seen[name] {
			return fmt.Errorf("memory: DeclareCollections: collection %q is declared twice", name)
		}
		seen[name] = true
		defs[name] = c
	}
	sc, err := compileSchema(defs, old)
	if err != nil {
		return err
	}
	st.schema.Store(sc)
	return nil
}

func cloneCollection(c *flow.Collection) flow.Collection {
	out := *c
	out.PrimaryKey = slices.Clone(c.PrimaryKey)
	out.Fields = slices.Clone(c.Fields)
	if c.AutoID != nil {
		v := *c.AutoID
		out.AutoID = &v
	}
	return out
}

// compileSchema compiles every definition; old provides the id counters.
func compileSchema(defs map[string]flow.Collection, old *schema) (*schema, error) {
	sc := &schema{colls: make(map[string]*collection, len(defs))}
	for name, def := range defs {
		c, err := compileCollection(name, def)
		if err != nil {
			return nil, err
		}
		if prev := old.colls[name]; prev != nil {
			c.ids = prev.ids
		} else {
			c.ids = new(atomic.Int64)
		}
		sc.colls[name] = c
	}
	// Foreign keys live in the collection at the other end of hasOne, hasMany
	// and belongsToMany associations. Their type is the type of the key they
	// point at.
	for _, c := range sc.colls {
		for _, a := range c.assocs {
			switch a.kind {
			case flow.FieldHasOne, flow.FieldHasMany:
				if t := sc.colls[a.target]; t != nil {
					t.addColumn(a.foreignKey, c.columnType(a.sourceKey))
				}
			case flow.FieldBelongsToMany:
				if j := sc.colls[a.through]; j != nil {
					j.addColumn(a.foreignKey, c.columnType(a.sourceKey))
					if t := sc.colls[a.target]; t != nil {
						j.addColumn(a.otherKey, t.columnType(a.targetKey))
					}
				}
			}
		}
	}
	for _, c := range sc.colls {
		for _, a := range c.assocs {
			if a.kind == flow.FieldBelongsTo {
				typ := flow.FieldInteger
				if t := sc.colls[a.target]; t != nil {
					typ = t.columnType(a.targetKey)
				}
				c.addColumn(a.foreignKey, typ)
			}
		}
	}
	return sc, nil
}

// addColumn adds an inferred column unless the collection declares a field of
// that name.
func (c *collection) addColumn(name string, typ flow.FieldType) {
	if _, ok := c.columns[name]; !ok && c.assocs[name] == nil {
		c.columns[name] = typ
	}
}

// columnType is the type of a column, integer when unknown (keys default to
// integer ids).
func (c *collection) columnType(name string) flow.FieldType {
	if t, ok := c.columns[name]; ok && t != "" {
		return t
	}
	return flow.FieldInteger
}

func compileCollection(name string, def flow.Collection) (*collection, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("memory: DeclareCollections: collection %q: %s", name, fmt.Sprintf(format, args...))
	}
	c := &collection{
		name:    name,
		def:     def,
		keys:    def.Keys(),
		columns: make(map[string]flow.FieldType, len(def.Fields)+2),
		assocs:  make(map[string]*assoc),
		prefix:  append(append([]byte{kindRecord}, name...), 0),
	}
	if def.AutoID != nil {
		c.autoID = *def.AutoID
	} else {
		c.autoID = len(c.keys) == 1 && c.keys[0] == "id"
	}
	ds := def.DataSource
	for i := range def.Fields {
		f := &def.Fields[i]
		if f.Name == "" {
			return nil, bad("field %d has no name", i)
		}
		if _, dup := c.columns[f.Name]; dup || c.assocs[f.Name] != nil {
			return nil, bad("field %q is declared twice", f.Name)
		}
		if !f.Type.IsAssociation() {
			c.columns[f.Name] = f.Type
			if f.Type == flow.FieldDate {
				c.createdAt = c.createdAt || f.Name == "createdAt"
				c.updatedAt = c.updatedAt || f.Name == "updatedAt"
			}
			continue
		}
		if f.Target == "" {
			return nil, bad("association %q has no target", f.Name)
		}
		a := &assoc{
			name:       f.Name,
			kind:       f.Type,
			target:     targetName(ds, f.Target),
			foreignKey: f.ForeignKey,
			targetKey:  orDefault(f.TargetKey, "id"),
			sourceKey:  orDefault(f.SourceKey, "id"),
			otherKey:   f.OtherKey,
		}
		switch f.Type {
		case flow.FieldBelongsTo:
			a.foreignKey = orDefault(f.ForeignKey, f.Name+"Id")
		case flow.FieldHasOne, flow.FieldHasMany:
			if f.ForeignKey == "" {
				return nil, bad("association %q needs a foreignKey (the target's field that holds this record's key)", f.Name)
			}
		case flow.FieldBelongsToMany:
			if f.Through == "" || f.ForeignKey == "" || f.OtherKey == "" {
				return nil, bad("association %q needs through, foreignKey and otherKey", f.Name)
			}
			a.through = targetName(ds, f.Through)
		}
		c.assocs[f.Name] = a
	}
	for _, k := range c.keys {
		if c.assocs[k] != nil {
			return nil, bad("key field %q is an association", k)
		}
		if _, ok := c.columns[k]; !ok {
			c.columns[k] = flow.FieldInteger
		}
	}
	if c.autoID {
		if _, ok := c.columns["id"]; !ok {
			c.columns["id"] = flow.FieldInteger
		}
	}
	return c, nil
}

// targetName resolves an association target: a name with a data source prefix
// is already full, others belong to the source's data source.
func targetName(dataSource, target string) string {
	for i := 0; i < len(target); i++ {
		if target[i] == ':' {
			return target
		}
	}
	return flow.JoinCollectionName(dataSource, target)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
