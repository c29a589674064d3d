package httptrigger

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
	"github.com/actiontrigger/actiontrigger/storage"
)

// ErrInvalidGrant: a Grant names an unknown collection, action or scope, or
// grants "own" records of a collection without a createdById field. NewAPI
// returns it (wrapped), naming the grant.
var ErrInvalidGrant = errors.New("invalid grant")

// GrantAction is what a Grant allows on a collection's records.
type GrantAction string

// The actions a Grant may allow.
const (
	// GrantCreate allows <collection>:create, association creates into the
	// collection, and nested creates of its records in another record's body.
	GrantCreate GrantAction = "create"
	// GrantView allows <collection>:list and :get, and appends that load the
	// collection's records.
	GrantView GrantAction = "view"
	// GrantUpdate allows <collection>:update.
	GrantUpdate GrantAction = "update"
)

// Scope says which records of the collection a Grant covers.
type Scope string

// The scopes of a Grant.
const (
	// ScopeAll covers every record (the default when Scope is empty).
	ScopeAll Scope = "all"
	// ScopeOwn covers the records whose createdById is the acting user's id.
	// It needs a collection with a createdById field (declared, or the foreign
	// key of a belongsTo association).
	ScopeOwn Scope = "own"
)

// AllCollections as a Grant's Collection grants the actions on every
// collection. With ScopeOwn it covers the collections that have a createdById
// field and grants nothing on the others.
const AllCollections = "*"

// OwnerField is the field ScopeOwn compares with the acting user's id: the
// createdById system field the API stamps on creates (nodes.CreatedByIDField).
const OwnerField = nodes.CreatedByIDField

// Grant allows a role some actions on the records of one collection (or of
// every collection, AllCollections). Grants add up: a role may do what any of
// its grants allows, the widest scope winning. Admin roles
// (APIOptions.AdminRoles) may do everything without grants; any other role
// gets 403 on a record route no grant allows.
type Grant struct {
	// Role the grant is for (required).
	Role string `json:"role"`
	// Collection is the collection's full name ("posts", "another:posts"), or
	// AllCollections.
	Collection string `json:"collection"`
	// Actions allowed: create, view, update (at least one).
	Actions []GrantAction `json:"actions"`
	// Scope is ScopeAll (default) or ScopeOwn.
	Scope Scope `json:"scope,omitempty"`
}

// grantKey indexes the compiled grants.
type grantKey struct {
	role, collection string
	action           GrantAction
}

// grants is the compiled form of APIOptions.Grants: the widest scope per
// role, collection (or AllCollections) and action.
type grants map[grantKey]Scope

// compileGrants validates gs against the engine's collections.
func compileGrants(eng *actiontrigger.Engine, gs []Grant) (grants, error) {
	out := grants{}
	for i, g := range gs {
		name := fmt.Sprintf("grant %d (role %q, collection %q)", i+1, g.Role, g.Collection)
		if g.Role == "" {
			return nil, fmt.Errorf("httptrigger: %s: no role: %w", name, ErrInvalidGrant)
		}
		var coll *flow.Collection
		if g.Collection != AllCollections {
			c, ok := eng.Collection(g.Collection)
			if !ok {
				return nil, fmt.Errorf("httptrigger: %s: unknown collection: %w", name, ErrInvalidGrant)
			}
			coll = c
		}
		scope := g.Scope
		switch scope {
		case "":
			scope = ScopeAll
		case ScopeAll, ScopeOwn:
		default:
			return nil, fmt.Errorf("httptrigger: %s: unknown scope %q (want %q or %q): %w", name, g.Scope, ScopeAll, ScopeOwn, ErrInvalidGrant)
		}
		if scope == ScopeOwn && coll != nil && !hasOwner(coll) {
			return nil, fmt.Errorf("httptrigger: %s: scope %q needs a %s field, which %s does not have: %w", name, ScopeOwn, OwnerField, coll.FullName(), ErrInvalidGrant)
		}
		if len(g.Actions) == 0 {
			return nil, fmt.Errorf("httptrigger: %s: no actions (want create, view, update): %w", name, ErrInvalidGrant)
		}
		for _, act := range g.Actions {
			switch act {
			case GrantCreate, GrantView, GrantUpdate:
			default:
				return nil, fmt.Errorf("httptrigger: %s: unknown action %q (want create, view, update): %w", name, act, ErrInvalidGrant)
			}
			k := grantKey{g.Role, g.Collection, act}
			if out[k] != ScopeAll {
				out[k] = scope
			}
		}
	}
	return out, nil
}

// hasOwner reports whether coll has a createdById field: declared, or the
// foreign key of one of its belongsTo associations (nodes.StoresField).
func hasOwner(coll *flow.Collection) bool {
	return nodes.StoresField(coll, OwnerField)
}

// isAdmin reports whether u acts under an admin role.
func (a *API) isAdmin(u *actiontrigger.User) bool {
	return slices.Contains(a.opts.AdminRoles, u.Role)
}

// allow returns the scope u may perform act on coll with (ScopeAll for admin
// roles), or ErrRoleNotAllowed.
func (a *API) allow(u *actiontrigger.User, coll *flow.Collection, act GrantAction) (Scope, error) {
	if a.isAdmin(u) {
		return ScopeAll, nil
	}
	scope := a.grants[grantKey{u.Role, coll.FullName(), act}]
	if scope != ScopeAll {
		if s := a.grants[grantKey{u.Role, AllCollections, act}]; s == ScopeAll || s == ScopeOwn && hasOwner(coll) {
			scope = s
		}
	}
	if scope == ScopeOwn && flow.UserKey(u.ID) == "" {
		scope = "" // a user without an id owns nothing
	}
	if scope == "" {
		return "", fmt.Errorf("role %q may not %s records of %s (no grant): %w", u.Role, act, coll.FullName(), ErrRoleNotAllowed)
	}
	return scope, nil
}

// ownerFilter narrows f to u's own records. It reports false when f already
// asks for createdById values that exclude u (nothing can match).
func ownerFilter(f storage.Filter, u *actiontrigger.User) (storage.Filter, bool) {
	out := storage.Filter{}
	for k, v := range f {
		out[k] = v
	}
	if v, ok := out[OwnerField]; ok {
		vals, isList := v.([]any)
		if !isList {
			vals = []any{v}
		}
		if !slices.ContainsFunc(vals, func(x any) bool { return isUser(x, u) }) {
			return nil, false
		}
	}
	out[OwnerField] = u.ID
	return out, true
}

// isUser reports whether v is u's id (compared as flow.UserKey).
func isUser(v any, u *actiontrigger.User) bool {
	k := flow.UserKey(v)
	return k != "" && k == flow.UserKey(u.ID)
}

// checkFields refuses, for non-admin roles, filters and sorts on hidden
// fields (a $like on a password would guess it) or through associations the
// role may not view.
func (a *API) checkFields(u *actiontrigger.User, coll *flow.Collection, what string, fields []string) error {
	if a.isAdmin(u) {
		return nil
	}
	for _, path := range fields {
		cur := coll
		segs := strings.Split(path, ".")
		for i, seg := range segs {
			f, ok := cur.Field(seg)
			if !ok {
				break
			}
			if f.Hidden {
				return fmt.Errorf("%s on %q: %s.%s is a hidden field: %w", what, path, cur.FullName(), seg, ErrBadRequest)
			}
			if !f.Type.IsAssociation() || i == len(segs)-1 {
				break
			}
			next, ok := a.target(cur, f)
			if !ok {
				break
			}
			if _, err := a.allow(u, next, GrantView); err != nil {
				return fmt.Errorf("%s on %q: %w", what, path, err)
			}
			cur = next
		}
	}
	return nil
}

// target returns the collection an association of coll points at.
func (a *API) target(coll *flow.Collection, f *flow.Field) (*flow.Collection, bool) {
	ds, _ := flow.SplitCollectionName(coll.FullName())
	return a.eng.Collection(flow.JoinCollectionName(ds, f.Target))
}

// appendScopes checks that u may view every collection the appends load, and
// returns the appended paths whose records u may view only when they are u's
// own (filtered out of the response by scrub).
func (a *API) appendScopes(u *actiontrigger.User, coll *flow.Collection, appends []string) (map[string]bool, error) {
	if a.isAdmin(u) {
		return nil, nil
	}
	var own map[string]bool
	for _, path := range appends {
		cur := coll
		segs := strings.Split(path, ".")
		for i, seg := range segs {
			f, ok := cur.Field(seg)
			if !ok || !f.Type.IsAssociation() {
				break // the store answers an unknown append
			}
			if f.Hidden {
				return nil, fmt.Errorf("appends %q: %s.%s is a hidden field: %w", path, cur.FullName(), seg, ErrBadRequest)
			}
			next, ok := a.target(cur, f)
			if !ok {
				break
			}
			scope, err := a.allow(u, next, GrantView)
			if err != nil {
				return nil, fmt.Errorf("appends %q: %w", path, err)
			}
			if scope == ScopeOwn {
				if own == nil {
					own = map[string]bool{}
				}
				own[strings.Join(segs[:i+1], ".")] = true
			}
			cur = next
		}
	}
	return own, nil
}

// viewable splits the association paths a write attached records along
// into those u may not view (some collection along the path has no view
// grant) and, of the others, those u may view only when the records are u's
// own, as appendScopes does for appends: a write answers the records it
// attached only as far as a read would show them.
func (a *API) viewable(u *actiontrigger.User, coll *flow.Collection, paths []string) (denied []string, own map[string]bool) {
	if a.isAdmin(u) {
		return nil, nil
	}
	for _, p := range paths {
		o, err := a.appendScopes(u, coll, []string{p})
		if err != nil {
			denied = append(denied, p)
			continue
		}
		for k := range o {
			if own == nil {
				own = map[string]bool{}
			}
			own[k] = true
		}
	}
	return denied, own
}

// withoutPaths returns rec without the associations loaded along paths
// ("post.category" removes category from the loaded post); rec itself is
// not changed.
func withoutPaths(rec flow.Record, paths []string) flow.Record {
	if rec == nil || len(paths) == 0 {
		return rec
	}
	out := maps.Clone(rec)
	for _, p := range paths {
		head, rest, deeper := strings.Cut(p, ".")
		if !deeper {
			delete(out, head)
			continue
		}
		switch x := out[head].(type) {
		case map[string]any:
			out[head] = withoutPaths(x, []string{rest})
		case []any:
			items := make([]any, len(x))
			for i, it := range x {
				if m, ok := it.(map[string]any); ok {
					items[i] = withoutPaths(m, []string{rest})
				} else {
					items[i] = it
				}
			}
			out[head] = items
		}
	}
	return out
}

// checkNested requires create on the target of every association given as an
// object (or a list of objects) in values: the store creates those records.
// It stamps them as created by u (stampCreate).
func (a *API) checkNested(u *actiontrigger.User, coll *flow.Collection, values map[string]any, depth int) error {
	if depth > 8 {
		return nil
	}
	for k, v := range values {
		f, ok := coll.Field(k)
		if !ok || !f.Type.IsAssociation() {
			continue
		}
		var objs []map[string]any
		switch x := v.(type) {
		case map[string]any:
			objs = append(objs, x)
		case []any:
			for _, it := range x {
				if m, ok := it.(map[string]any); ok {
					objs = append(objs, m)
				}
			}
		}
		if len(objs) == 0 {
			continue
		}
		target, ok := a.target(coll, f)
		if !ok {
			continue
		}
		if _, err := a.allow(u, target, GrantCreate); err != nil {
			return fmt.Errorf("%s.%s: %w", coll.FullName(), k, err)
		}
		for _, m := range objs {
			if err := a.stampCreate(u, target, m); err != nil {
				return fmt.Errorf("%s.%s: %w", coll.FullName(), k, err)
			}
			if err := a.checkNested(u, target, m, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// The system fields the API stamps with the acting user's id.
const (
	createdByID = nodes.CreatedByIDField
	updatedByID = nodes.UpdatedByIDField
)

// stampCreate stamps values, a record u creates in coll, with u's id in the
// createdById and updatedById fields coll stores. A non-admin role may not
// name another user there, nor set the createdBy and updatedBy associations
// (ErrRoleNotAllowed); admin roles may set them (imports), and are stamped
// when they do not.
func (a *API) stampCreate(u *actiontrigger.User, coll *flow.Collection, values map[string]any) error {
	if !a.isAdmin(u) {
		for _, name := range []string{createdByID, updatedByID} {
			if err := notForged(u, coll, values, name); err != nil {
				return err
			}
		}
	}
	nodes.StampUser(coll, values, u.ID, createdByID, updatedByID)
	return nil
}

// stampUpdate stamps values, set by u on records of coll, with u's id in
// updatedById when coll stores it. A non-admin role may not name another
// user in updatedById, nor change createdById (except to its own id on its
// own records, under scope, a no-op), nor set the createdBy and updatedBy
// associations (ErrRoleNotAllowed).
func (a *API) stampUpdate(u *actiontrigger.User, coll *flow.Collection, values map[string]any, scope Scope) error {
	if !a.isAdmin(u) {
		if err := notForged(u, coll, values, updatedByID); err != nil {
			return err
		}
		if v, ok := values[createdByID]; ok && (scope != ScopeOwn || !isUser(v, u)) {
			return fmt.Errorf("role %q may not change %s of %s records (%v): %w", u.Role, createdByID, coll.FullName(), v, ErrRoleNotAllowed)
		}
		if err := notForged(u, coll, values, createdByID); err != nil {
			return err
		}
	}
	nodes.StampUser(coll, values, u.ID, updatedByID)
	return nil
}

// notForged refuses values that name another user than u in the system
// field name, or set the belongsTo association whose foreign key it is.
func notForged(u *actiontrigger.User, coll *flow.Collection, values map[string]any, name string) error {
	if v, ok := values[name]; ok && v != nil && !isUser(v, u) {
		return fmt.Errorf("role %q may only write its own id in %s of %s records, not %v: %w", u.Role, name, coll.FullName(), v, ErrRoleNotAllowed)
	}
	for i := range coll.Fields {
		f := &coll.Fields[i]
		if f.Type != flow.FieldBelongsTo || (f.ForeignKey != name && (f.ForeignKey != "" || f.Name+"Id" != name)) {
			continue
		}
		if _, ok := values[f.Name]; ok {
			return fmt.Errorf("role %q may not set %s of %s records: the server sets %s: %w", u.Role, f.Name, coll.FullName(), name, ErrRoleNotAllowed)
		}
	}
	return nil
}

// scrub prepares a stored record for a response: hidden fields removed (for
// every role, loaded associations included) and appended records the role
// may only see when they are its own dropped when they are not (own lists
// appended paths).
func (a *API) scrub(u *actiontrigger.User, coll *flow.Collection, rec flow.Record, own map[string]bool) flow.Record {
	if rec == nil {
		return nil
	}
	if len(own) > 0 {
		rec = dropForeign(a, u, coll, rec, own, "")
	}
	return nodes.StripHidden(a.eng, coll, rec)
}

// dropForeign removes, along the appended paths in own, the loaded records
// whose createdById is not u's.
func dropForeign(a *API, u *actiontrigger.User, coll *flow.Collection, rec flow.Record, own map[string]bool, prefix string) flow.Record {
	out := make(flow.Record, len(rec))
	for k, v := range rec {
		out[k] = v
		f, ok := coll.Field(k)
		if !ok || !f.Type.IsAssociation() {
			continue
		}
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		target, ok := a.target(coll, f)
		if !ok {
			continue
		}
		keep := func(m map[string]any) bool { return !own[path] || isUser(m[OwnerField], u) }
		switch x := v.(type) {
		case map[string]any:
			if !keep(x) {
				out[k] = nil
			} else {
				out[k] = dropForeign(a, u, target, x, own, path)
			}
		case []any:
			items := make([]any, 0, len(x))
			for _, it := range x {
				m, isMap := it.(map[string]any)
				if !isMap {
					items = append(items, it)
				} else if keep(m) {
					items = append(items, dropForeign(a, u, target, m, own, path))
				}
			}
			out[k] = items
		}
	}
	return out
}
