package flow

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Schema is a compiled set of collections: association defaults resolved,
// foreign keys placed in the collection that stores them, keys and stored
// fields known. It is the one schema compiler of the library: the engine and
// every storage adapter read collections through it, so that they agree on
// what a declaration means. A Schema is immutable once compiled and safe for
// concurrent use.
type Schema struct {
	colls map[string]*CollectionSchema
	names []string
}

// CollectionSchema is one compiled collection.
type CollectionSchema struct {
	// Name is the full name: "posts", "another:posts".
	Name string
	// Def is the declaration as given (cloned).
	Def Collection
	// Keys are the primary key fields.
	Keys []string
	// AutoID: the store assigns an integer "id" to a created record that has none.
	AutoID bool
	// Columns are the stored fields and their types: declared non-association
	// fields, key fields, "id" of auto-id collections and the foreign keys that
	// associations (of this or another collection) keep in this one.
	Columns map[string]FieldType
	// Assocs are the association fields by name.
	Assocs map[string]*Association
	// Inferred lists, sorted, the foreign key columns no field declares.
	Inferred []string
	// CreatedAt and UpdatedAt report date fields of those names, which stores
	// fill in.
	CreatedAt, UpdatedAt bool
}

// Association is a compiled association field, defaults resolved.
type Association struct {
	Name string
	Kind FieldType
	// Target is the full name of the associated collection.
	Target string
	// ForeignKey: for belongsTo the column of this collection holding the
	// target's key; for hasOne and hasMany the column of the target holding
	// this record's key; for belongsToMany the column of Through pointing at
	// this collection.
	ForeignKey string
	// TargetKey is the target's key a belongsTo or belongsToMany points at.
	TargetKey string
	// SourceKey is this collection's key hasOne, hasMany and belongsToMany
	// targets point at.
	SourceKey string
	// Through (full name) and OtherKey: for belongsToMany, the join collection
	// and its column pointing at the target.
	Through  string
	OtherKey string
}

// CompileSchema compiles collections. A collection without a name, declared
// twice, with a field declared twice, an association without a target or
// without the keys its kind needs, or a key that is an association, is an
// error wrapping ErrInvalidCollection (and ErrDuplicate for a collection
// declared twice); an association whose target or
// through collection is not among cs wraps ErrUnknownCollection.
func CompileSchema(cs []Collection) (*Schema, error) {
	sc := &Schema{colls: make(map[string]*CollectionSchema, len(cs))}
	for i := range cs {
		if cs[i].Name == "" {
			return nil, fmt.Errorf("collection #%d has no name: %w", i+1, ErrInvalidCollection)
		}
		c, err := compileCollection(cs[i].Clone())
		if err != nil {
			return nil, err
		}
		if sc.colls[c.Name] != nil {
			return nil, fmt.Errorf("collection %q is declared twice: %w: %w", c.Name, ErrInvalidCollection, ErrDuplicate)
		}
		sc.colls[c.Name] = c
		sc.names = append(sc.names, c.Name)
	}
	sort.Strings(sc.names)
	for _, name := range sc.names {
		c := sc.colls[name]
		for _, a := range c.sortedAssocs() {
			if sc.colls[a.Target] == nil {
				return nil, fmt.Errorf("collection %q: association %q targets undeclared collection %q: %w", c.Name, a.Name, a.Target, ErrUnknownCollection)
			}
			if a.Through != "" && sc.colls[a.Through] == nil {
				return nil, fmt.Errorf("collection %q: association %q goes through undeclared collection %q: %w", c.Name, a.Name, a.Through, ErrUnknownCollection)
			}
		}
	}
	// Foreign keys live in the collection at the other end of hasOne, hasMany
	// and belongsToMany associations; their type is the type of the key they
	// point at. belongsTo keys come after, so that they can point at a key
	// another association placed.
	for _, name := range sc.names {
		c := sc.colls[name]
		for _, a := range c.sortedAssocs() {
			switch a.Kind {
			case FieldHasOne, FieldHasMany:
				sc.colls[a.Target].addColumn(a.ForeignKey, c.ColumnType(a.SourceKey))
			case FieldBelongsToMany:
				j := sc.colls[a.Through]
				j.addColumn(a.ForeignKey, c.ColumnType(a.SourceKey))
				j.addColumn(a.OtherKey, sc.colls[a.Target].ColumnType(a.TargetKey))
			}
		}
	}
	for _, name := range sc.names {
		c := sc.colls[name]
		for _, a := range c.sortedAssocs() {
			if a.Kind == FieldBelongsTo {
				c.addColumn(a.ForeignKey, sc.colls[a.Target].ColumnType(a.TargetKey))
			}
		}
	}
	for _, c := range sc.colls {
		sort.Strings(c.Inferred)
	}
	return sc, nil
}

// Collection returns the compiled collection of a full name.
func (s *Schema) Collection(name string) (*CollectionSchema, bool) {
	c, ok := s.colls[name]
	return c, ok
}

// Names returns the full names of the collections, sorted.
func (s *Schema) Names() []string { return slices.Clone(s.names) }

// Collections returns the declarations in the order of Names, with the key
// fields and the foreign key fields the schema infers added as fields of
// their types.
func (s *Schema) Collections() []Collection {
	out := make([]Collection, 0, len(s.names))
	for _, name := range s.names {
		c := s.colls[name]
		def := c.Def.Clone()
		for _, k := range c.Keys {
			if _, ok := def.Field(k); !ok {
				def.Fields = append(def.Fields, Field{Name: k, Type: c.ColumnType(k)})
			}
		}
		for _, f := range c.Inferred {
			if _, ok := def.Field(f); !ok {
				def.Fields = append(def.Fields, Field{Name: f, Type: c.ColumnType(f)})
			}
		}
		out = append(out, def)
	}
	return out
}

// ColumnType is the type of a stored field; integer when unknown (keys
// default to integer ids).
func (c *CollectionSchema) ColumnType(name string) FieldType {
	if t, ok := c.Columns[name]; ok && t != "" {
		return t
	}
	return FieldInteger
}

// IsKey reports whether field is one of the primary key fields.
func (c *CollectionSchema) IsKey(field string) bool { return slices.Contains(c.Keys, field) }

// Key returns the primary key values of rec, and false when one is missing.
func (c *CollectionSchema) Key(rec Record) (Record, bool) {
	out := make(Record, len(c.Keys))
	for _, k := range c.Keys {
		v, ok := rec[k]
		if !ok || v == nil {
			return nil, false
		}
		out[k] = v
	}
	return out, true
}

func (c *CollectionSchema) sortedAssocs() []*Association {
	out := make([]*Association, 0, len(c.Assocs))
	for _, a := range c.Assocs {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// addColumn adds an inferred column unless the collection declares a field of
// that name.
func (c *CollectionSchema) addColumn(name string, typ FieldType) {
	if _, ok := c.Columns[name]; !ok && c.Assocs[name] == nil {
		c.Columns[name] = typ
		c.Inferred = append(c.Inferred, name)
	}
}

// Clone returns a copy of the declaration that shares no slice or pointer
// with c.
func (c *Collection) Clone() Collection {
	out := *c
	out.PrimaryKey = slices.Clone(c.PrimaryKey)
	out.Fields = slices.Clone(c.Fields)
	if c.AutoID != nil {
		v := *c.AutoID
		out.AutoID = &v
	}
	return out
}

func compileCollection(def Collection) (*CollectionSchema, error) {
	name := def.FullName()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("collection %q: %s: %w", name, fmt.Sprintf(format, args...), ErrInvalidCollection)
	}
	c := &CollectionSchema{
		Name:    name,
		Def:     def,
		Keys:    def.Keys(),
		Columns: make(map[string]FieldType, len(def.Fields)+2),
		Assocs:  make(map[string]*Association),
	}
	if def.AutoID != nil {
		c.AutoID = *def.AutoID
	} else {
		c.AutoID = len(c.Keys) == 1 && c.Keys[0] == "id"
	}
	ds := def.DataSource
	for i := range def.Fields {
		f := &def.Fields[i]
		if f.Name == "" {
			return nil, bad("field %d has no name", i+1)
		}
		if _, dup := c.Columns[f.Name]; dup || c.Assocs[f.Name] != nil {
			return nil, bad("field %q is declared twice", f.Name)
		}
		if !f.Type.IsAssociation() {
			c.Columns[f.Name] = f.Type
			if f.Type == FieldDate {
				c.CreatedAt = c.CreatedAt || f.Name == "createdAt"
				c.UpdatedAt = c.UpdatedAt || f.Name == "updatedAt"
			}
			continue
		}
		if f.Target == "" {
			return nil, bad("association %q has no target", f.Name)
		}
		a := &Association{
			Name:       f.Name,
			Kind:       f.Type,
			Target:     targetName(ds, f.Target),
			ForeignKey: f.ForeignKey,
			TargetKey:  orDefault(f.TargetKey, "id"),
			SourceKey:  orDefault(f.SourceKey, "id"),
			OtherKey:   f.OtherKey,
		}
		switch f.Type {
		case FieldBelongsTo:
			a.ForeignKey = orDefault(f.ForeignKey, f.Name+"Id")
		case FieldHasOne, FieldHasMany:
			if f.ForeignKey == "" {
				return nil, bad("association %q needs a foreignKey (the target's field that holds this record's key)", f.Name)
			}
		case FieldBelongsToMany:
			if f.Through == "" || f.ForeignKey == "" || f.OtherKey == "" {
				return nil, bad("association %q needs through, foreignKey and otherKey", f.Name)
			}
			a.Through = targetName(ds, f.Through)
		}
		c.Assocs[f.Name] = a
	}
	for _, k := range c.Keys {
		if c.Assocs[k] != nil {
			return nil, bad("key field %q is an association", k)
		}
		if _, ok := c.Columns[k]; !ok {
			c.Columns[k] = FieldInteger
		}
	}
	if c.AutoID {
		if _, ok := c.Columns["id"]; !ok {
			c.Columns["id"] = FieldInteger
		}
	}
	return c, nil
}

// targetName resolves an association target: a name with a data source
// prefix is already full, others belong to the source's data source.
func targetName(dataSource, target string) string {
	if strings.IndexByte(target, ':') >= 0 {
		return JoinCollectionName(SplitCollectionName(target))
	}
	return JoinCollectionName(dataSource, target)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// AppendNode is one association of a tree of appends: the association, its
// target (and join collection for belongsToMany), and the appends below it.
type AppendNode struct {
	Assoc    *Association
	Target   *CollectionSchema
	Through  *CollectionSchema // belongsToMany only
	Children []*AppendNode
}

// Appends turns association paths of collection ("category",
// "post.category") into a tree, one node per association, failing with
// ErrUnknownField on a name that is not an association.
func (s *Schema) Appends(collection string, paths []string) ([]*AppendNode, error) {
	c, ok := s.colls[collection]
	if !ok {
		return nil, fmt.Errorf("collection %q: %w", collection, ErrUnknownCollection)
	}
	var roots []*AppendNode
	for _, path := range paths {
		level, cur := &roots, c
		for _, name := range strings.Split(path, ".") {
			a := cur.Assocs[name]
			if a == nil {
				if _, ok := cur.Columns[name]; ok {
					return nil, fmt.Errorf("collection %q: append %q: field %q is not an association: %w", c.Name, path, name, ErrUnknownField)
				}
				return nil, fmt.Errorf("collection %q: append %q: collection %q has no association %q: %w", c.Name, path, cur.Name, name, ErrUnknownField)
			}
			var node *AppendNode
			for _, n := range *level {
				if n.Assoc == a {
					node = n
					break
				}
			}
			if node == nil {
				node = &AppendNode{Assoc: a, Target: s.colls[a.Target]}
				if a.Kind == FieldBelongsToMany {
					node.Through = s.colls[a.Through]
				}
				*level = append(*level, node)
			}
			level, cur = &node.Children, node.Target
		}
	}
	return roots, nil
}
