package httptrigger

import (
	"context"
	"net/http"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
)

// The API's access rules, exported for other front ends on the same engine
// (package console) so that they authenticate, authorize and strip fields
// exactly as the API does.

// Identify authenticates r with the API's Authenticator and picks its role
// as every API route does: the X-Role header if the user has that role
// (ErrRoleNotAllowed otherwise), else the user's first role. A request
// without credentials is an error wrapping actiontrigger.ErrUnauthenticated.
func (a *API) Identify(r *http.Request) (*actiontrigger.User, error) {
	return identify(a.opts.Authenticator, r, true)
}

// IsAdmin reports whether u acts under one of the API's admin roles
// (APIOptions.AdminRoles): the roles that may use the workflows:* and
// executions:* routes.
func (a *API) IsAdmin(u actiontrigger.User) bool { return a.isAdmin(&u) }

// PublicExecutions returns copies of xs as executions:list and
// executions:get answer them: without hidden fields in their context
// ($context.data by the collection of the execution's workflow,
// $context.user by "users").
func (a *API) PublicExecutions(ctx context.Context, xs ...*flow.Execution) ([]*flow.Execution, error) {
	return a.publicExecutions(ctx, xs...)
}

// ViewRecord returns rec, a record of coll with the associations it has
// loaded, as u may view it under the API's rules: hidden fields are removed
// for every role (in loaded associations too), and, for other roles than
// admin ones, loaded associations into collections no Grant lets u view are
// removed, and those u may view only as its own (ScopeOwn) keep only u's
// records. The record's own fields are kept: the caller has decided that u
// may see rec (an assignee sees the record of their task). rec is not
// changed.
func (a *API) ViewRecord(u actiontrigger.User, coll *flow.Collection, rec flow.Record) flow.Record {
	if rec == nil || coll == nil {
		return rec
	}
	denied, own := a.viewable(&u, coll, a.loadedPaths(coll, rec, "", 0))
	return a.scrub(&u, coll, withoutPaths(rec, denied), own)
}

// loadedPaths lists the association paths along which rec holds loaded
// records ("applicant", "post.category").
func (a *API) loadedPaths(coll *flow.Collection, rec flow.Record, prefix string, depth int) []string {
	if depth > 4 {
		return nil
	}
	var out []string
	for k, v := range rec {
		f, ok := coll.Field(k)
		if !ok || !f.Type.IsAssociation() {
			continue
		}
		var items []map[string]any
		switch x := v.(type) {
		case map[string]any:
			items = append(items, x)
		case []any:
			for _, it := range x {
				if m, ok := it.(map[string]any); ok {
					items = append(items, m)
				}
			}
		default:
			continue
		}
		path := prefix + k
		out = append(out, path)
		target, ok := a.target(coll, f)
		if !ok {
			continue
		}
		seen := map[string]bool{}
		for _, m := range items {
			for _, p := range a.loadedPaths(target, m, path+".", depth+1) {
				if !seen[p] {
					seen[p] = true
					out = append(out, p)
				}
			}
		}
	}
	return out
}
