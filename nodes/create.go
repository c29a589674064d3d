package nodes

import (
	"context"
	"fmt"
	"maps"

	"github.com/actiontrigger/actiontrigger/expression"
	"github.com/actiontrigger/actiontrigger/flow"
)

// Create is the "create" node: it creates one record. Config:
//
//	collection      target collection ("expenses", "another:posts")
//	params.values   field values; any value may be a template ("{{$context.data.id}}")
//	params.appends  associations loaded into the job result
//
// The result is the created record without hidden fields. A store error (unknown
// field, constraint) becomes a job ERROR with the store's message.
//
// When the collection stores createdById or updatedById (CreatedByIDField,
// UpdatedByIDField) and params.values does not set them, the node stamps them
// with the acting user's id, $context.user.id, as the HTTP API does for a
// request's writes.
type Create struct{}

// CreatedByIDField and UpdatedByIDField are the system fields that record who
// created a record and who last updated it, as in the reference system. A
// collection has them when it declares them (integer fields, the way
// createdAt and updatedAt are declared as date fields), or declares the
// belongsTo associations whose foreign keys they are: createdBy and updatedBy,
// to the users collection. The create node and the HTTP API's creates and
// updates stamp them with the acting user's id (StampUser).
const (
	CreatedByIDField = "createdById"
	UpdatedByIDField = "updatedById"
)

// StoresField reports whether coll stores the field name: a declared field,
// a key field, or the foreign key of one of its belongsTo associations.
func StoresField(coll *flow.Collection, name string) bool {
	if coll.HasField(name) {
		return true
	}
	for i := range coll.Fields {
		f := &coll.Fields[i]
		if f.Type == flow.FieldBelongsTo && (f.ForeignKey == name || f.ForeignKey == "" && f.Name+"Id" == name) {
			return true
		}
	}
	return false
}

// StampUser sets each of fields that coll stores to userID in values, unless
// values already sets it to a value other than nil. A nil or empty userID
// stamps nothing.
func StampUser(coll *flow.Collection, values map[string]any, userID any, fields ...string) {
	if values == nil || flow.UserKey(userID) == "" {
		return
	}
	for _, name := range fields {
		if v, set := values[name]; (!set || v == nil) && StoresField(coll, name) {
			values[name] = userID
		}
	}
}

type createConfig struct {
	Collection string `json:"collection"`
	Params     struct {
		Values  map[string]any `json:"values"`
		Appends []string       `json:"appends"`
	} `json:"params"`
}

type compiledCreate struct {
	collection string
	coll       *flow.Collection
	values     *expression.Template
	appends    []string
	// stamp lists the user fields the collection stores (createdById,
	// updatedById), which a run fills with the acting user.
	stamp []string
}

// Compile implements Instruction.
func (Create) Compile(c *CompileContext, node *flow.Node) (any, error) {
	var cfg createConfig
	if err := DecodeConfig(c, node, &cfg); err != nil {
		return nil, err
	}
	if cfg.Collection == "" {
		return nil, c.Invalid(node, "config.collection", "collection is required", nil)
	}
	coll, ok := c.Collections.Collection(cfg.Collection)
	if !ok {
		return nil, c.Invalid(node, "config.collection", fmt.Sprintf("collection %q is not declared", cfg.Collection), flow.ErrUnknownCollection)
	}
	for name := range cfg.Params.Values {
		if !coll.HasField(name) {
			return nil, c.Invalid(node, "config.params.values."+name, fmt.Sprintf("collection %q has no field %q", cfg.Collection, name), flow.ErrUnknownField)
		}
	}
	for _, a := range cfg.Params.Appends {
		if err := CheckAppend(c.Collections, coll, a); err != nil {
			return nil, c.Invalid(node, "config.params.appends", err.Error(), err)
		}
	}
	values := cfg.Params.Values
	if values == nil {
		values = map[string]any{}
	}
	t, err := CompileTemplate(c, node, "config.params.values", values)
	if err != nil {
		return nil, err
	}
	cc := &compiledCreate{collection: cfg.Collection, coll: coll, values: t, appends: cfg.Params.Appends}
	for _, f := range []string{CreatedByIDField, UpdatedByIDField} {
		if StoresField(coll, f) {
			cc.stamp = append(cc.stamp, f)
		}
	}
	return cc, nil
}

// Run implements Instruction.
func (Create) Run(ctx context.Context, r *RunContext, _ *flow.Job) (Result, error) {
	cc := r.Compiled.(*compiledCreate)
	rendered, err := cc.values.RenderChecked(r.Scope)
	if err != nil {
		return Result{}, err
	}
	values, _ := rendered.(map[string]any)
	if len(cc.stamp) > 0 {
		// Stamped on a copy: the rendered values are the template's.
		values = maps.Clone(values)
		if values == nil {
			values = map[string]any{}
		}
		userID, _ := r.User().Get("id")
		StampUser(cc.coll, values, userID, cc.stamp...)
	}
	records := r.records()
	rec, err := records.CreateRecord(ctx, cc.collection, values)
	if err != nil {
		return Result{}, err
	}
	if len(cc.appends) > 0 {
		key := make(flow.Record, len(cc.coll.Keys()))
		for _, k := range cc.coll.Keys() {
			key[k] = rec[k]
		}
		rec, err = records.GetRecord(ctx, cc.collection, key, cc.appends)
		if err != nil {
			return Result{}, err
		}
	}
	return Resolved(StripHidden(r.Collections, cc.coll, rec)), nil
}

// CheckAppend validates an association path ("category", "post.category") from coll.
func CheckAppend(cl CollectionLookup, coll *flow.Collection, path string) error {
	cur := coll
	start := 0
	for i := 0; i <= len(path); i++ {
		if i < len(path) && path[i] != '.' {
			continue
		}
		seg := path[start:i]
		start = i + 1
		f, ok := cur.Field(seg)
		if !ok || !f.Type.IsAssociation() {
			return fmt.Errorf("append %q: %q is not an association of %q: %w", path, seg, cur.FullName(), flow.ErrUnknownField)
		}
		ds, _ := flow.SplitCollectionName(cur.FullName())
		next, ok := cl.Collection(flow.JoinCollectionName(ds, f.Target))
		if !ok {
			return fmt.Errorf("append %q: target %q: %w", path, f.Target, flow.ErrUnknownCollection)
		}
		cur = next
	}
	return nil
}

// StripHidden returns rec without the collection's hidden fields, recursing into
// loaded associations. rec is returned as is when nothing is hidden anywhere.
func StripHidden(cl CollectionLookup, coll *flow.Collection, rec flow.Record) flow.Record {
	if rec == nil || coll == nil || !hasHidden(cl, coll, 0) {
		return rec
	}
	return stripHidden(cl, coll, rec, 0)
}

// PublicCopy returns a new top-level copy of rec without the collection's
// hidden fields (recursing into loaded associations), for storing as event data.
func PublicCopy(cl CollectionLookup, coll *flow.Collection, rec flow.Record) flow.Record {
	if rec == nil {
		return nil
	}
	if coll != nil && hasHidden(cl, coll, 0) {
		return stripHidden(cl, coll, rec, 0)
	}
	return maps.Clone(rec)
}

func hasHidden(cl CollectionLookup, coll *flow.Collection, depth int) bool {
	if depth > 4 {
		return false
	}
	for i := range coll.Fields {
		f := &coll.Fields[i]
		if f.Hidden {
			return true
		}
		if f.Type.IsAssociation() && cl != nil {
			ds, _ := flow.SplitCollectionName(coll.FullName())
			if t, ok := cl.Collection(flow.JoinCollectionName(ds, f.Target)); ok && hasHidden(cl, t, depth+1) {
				return true
			}
		}
	}
	return false
}

func stripHidden(cl CollectionLookup, coll *flow.Collection, rec flow.Record, depth int) flow.Record {
	out := make(flow.Record, len(rec))
	for k, v := range rec {
		f, ok := coll.Field(k)
		if ok && f.Hidden {
			continue
		}
		if ok && f.Type.IsAssociation() && depth < 8 && cl != nil {
			ds, _ := flow.SplitCollectionName(coll.FullName())
			if t, found := cl.Collection(flow.JoinCollectionName(ds, f.Target)); found {
				switch x := v.(type) {
				case map[string]any:
					v = stripHidden(cl, t, x, depth+1)
				case []any:
					items := make([]any, len(x))
					for i, it := range x {
						if m, isMap := it.(map[string]any); isMap {
							items[i] = stripHidden(cl, t, m, depth+1)
						} else {
							items[i] = it
						}
					}
					v = items
				case []map[string]any:
					items := make([]any, len(x))
					for i, m := range x {
						items[i] = stripHidden(cl, t, m, depth+1)
					}
					v = items
				}
			}
		}
		out[k] = v
	}
	return out
}

// Atomic implements Atomic.
func (Create) Atomic() bool { return true }
