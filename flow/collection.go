package flow

import "strings"

// Record is one row of a collection, as JSON-like values.
type Record = map[string]any

// FieldType is the type of a collection field.
type FieldType string

// Field types.
const (
	FieldString  FieldType = "string"
	FieldText    FieldType = "text"
	FieldInteger FieldType = "integer"
	FieldNumber  FieldType = "number"
	FieldBoolean FieldType = "boolean"
	FieldDate    FieldType = "date"
	FieldJSON    FieldType = "json"
	// Associations.
	FieldBelongsTo     FieldType = "belongsTo"
	FieldHasOne        FieldType = "hasOne"
	FieldHasMany       FieldType = "hasMany"
	FieldBelongsToMany FieldType = "belongsToMany"
)

// IsAssociation reports whether the type links to another collection.
func (t FieldType) IsAssociation() bool {
	switch t {
	case FieldBelongsTo, FieldHasOne, FieldHasMany, FieldBelongsToMany:
		return true
	}
	return false
}

// ToOne reports whether the association reaches at most one record.
func (t FieldType) ToOne() bool { return t == FieldBelongsTo || t == FieldHasOne }

// Field declares one field of a collection.
type Field struct {
	Name string    `json:"name"`
	Type FieldType `json:"type"`
	// Hidden fields (passwords, tokens) are removed from event data and user context.
	Hidden bool `json:"hidden,omitempty"`
	// Target is the associated collection (associations only).
	Target string `json:"target,omitempty"`
	// ForeignKey: for belongsTo the field of this collection holding the target's key
	// (default "<name>Id"); for hasOne/hasMany the field of the target holding this
	// record's key (default "<collection singular>Id" is not guessed: set it).
	ForeignKey string `json:"foreignKey,omitempty"`
	// TargetKey is the key of the target a belongsTo points at (default "id").
	TargetKey string `json:"targetKey,omitempty"`
	// SourceKey is this collection's key that hasOne/hasMany targets point at (default "id").
	SourceKey string `json:"sourceKey,omitempty"`
	// Through, OtherKey: for belongsToMany, the join collection, the join field that
	// points at this collection (ForeignKey) and the one that points at the target (OtherKey).
	Through  string `json:"through,omitempty"`
	OtherKey string `json:"otherKey,omitempty"`
	// Column maps the field onto a column of a host table (SQL stores); default Name.
	Column string `json:"column,omitempty"`
}

// Collection declares a collection of records the host application owns.
type Collection struct {
	// Name, unique within its data source.
	Name string `json:"name"`
	// DataSource is empty (or "main") for the main data source.
	DataSource string `json:"dataSource,omitempty"`
	// PrimaryKey lists the key fields (default ["id"]); several make a composite key.
	PrimaryKey []string `json:"primaryKey,omitempty"`
	Fields     []Field  `json:"fields"`
	// Table maps the collection onto a host table (SQL stores); default Name.
	Table string `json:"table,omitempty"`
	// AutoID makes the store assign an integer "id" when a created record has none
	// (default true when PrimaryKey is ["id"]).
	AutoID *bool `json:"autoId,omitempty"`
}

// FullName joins the data source and the name as the reference does:
// "posts" for the main data source, "another:posts" otherwise.
func (c *Collection) FullName() string { return JoinCollectionName(c.DataSource, c.Name) }

// Keys returns the primary key fields (default ["id"]).
func (c *Collection) Keys() []string {
	if len(c.PrimaryKey) == 0 {
		return []string{"id"}
	}
	return c.PrimaryKey
}

// Field returns the named field.
func (c *Collection) Field(name string) (*Field, bool) {
	for i := range c.Fields {
		if c.Fields[i].Name == name {
			return &c.Fields[i], true
		}
	}
	return nil, false
}

// HasField reports whether name is a declared field or a key field.
func (c *Collection) HasField(name string) bool {
	if _, ok := c.Field(name); ok {
		return true
	}
	for _, k := range c.Keys() {
		if k == name {
			return true
		}
	}
	return false
}

// JoinCollectionName builds the name a workflow's config.collection uses.
func JoinCollectionName(dataSource, name string) string {
	if dataSource == "" || dataSource == "main" {
		return name
	}
	return dataSource + ":" + name
}

// SplitCollectionName splits "another:posts" into ("another", "posts") and "posts"
// into ("main", "posts").
func SplitCollectionName(full string) (dataSource, name string) {
	if i := strings.IndexByte(full, ':'); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "main", full
}
