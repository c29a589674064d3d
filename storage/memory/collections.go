package memory

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/actiontrigger/actiontrigger/flow"
)

// schema is the compiled record schema (flow.CompileSchema, the library's
// one schema compiler) and the store's state of each collection. It is
// immutable once published.
type schema struct {
	fs    *flow.Schema
	colls map[string]*collection
}

// collection is a compiled collection and what the store keeps for it.
type collection struct {
	*flow.CollectionSchema
	// prefix starts the go-memdb key of every record of the collection:
	// "r", the name, NUL.
	prefix []byte
	// countKey is the key of the collection's record count: "n", the
	// name, NUL.
	countKey []byte
	// ids hands out auto ids; it survives redeclarations.
	ids *atomic.Int64
}

// assoc is a compiled association field.
type assoc = flow.Association

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
		defs[name] = c.Def
	}
	seen := make(map[string]bool, len(cs))
	for i := range cs {
		c := cs[i].Clone()
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

// compileSchema compiles every definition; old provides the id counters.
func compileSchema(defs map[string]flow.Collection, old *schema) (*schema, error) {
	list := make([]flow.Collection, 0, len(defs))
	for _, def := range defs {
		list = append(list, def)
	}
	fs, err := flow.CompileSchema(list)
	if err != nil {
		return nil, fmt.Errorf("memory: DeclareCollections: %w", err)
	}
	sc := &schema{fs: fs, colls: make(map[string]*collection, len(defs))}
	for _, name := range fs.Names() {
		cs, _ := fs.Collection(name)
		c := &collection{CollectionSchema: cs, prefix: append(append([]byte{kindRecord}, name...), 0),
			countKey: append(append([]byte{kindCount}, name...), 0)}
		if prev := old.colls[name]; prev != nil {
			c.ids = prev.ids
		} else {
			c.ids = new(atomic.Int64)
		}
		sc.colls[name] = c
	}
	return sc, nil
}
