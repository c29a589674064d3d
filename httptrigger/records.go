package httptrigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// records serves "<collection>:create|update|list|get" and association
// creates ("categories/1/posts:create", "categories.posts:create?associatedIndex=1").
func (a *API) records(w http.ResponseWriter, r *http.Request, u *actiontrigger.User, rt route) error {
	ds := r.Header.Get("X-Data-Source")
	name, assoc, isAssoc := strings.Cut(rt.resource, ".")
	coll, ok := a.eng.Collection(flow.JoinCollectionName(ds, name))
	if !ok {
		return fmt.Errorf("collection %q: %w", flow.JoinCollectionName(ds, name), flow.ErrUnknownCollection)
	}
	switch rt.action {
	case "create", "update", "list", "get":
	default:
		return fmt.Errorf("%s:%s: no such action: %w", rt.resource, rt.action, ErrNoRoute)
	}
	if err := methods(r, rt.action); err != nil {
		return err
	}
	if !isAssoc {
		switch rt.action {
		case "create":
			return a.create(w, r, u, coll, nil)
		case "update":
			return a.update(w, r, u, coll, rt)
		case "list":
			return a.list(w, r, u, coll, nil)
		default:
			return a.get(w, r, u, coll, rt)
		}
	}
	// An association resource acts on the target collection, for one source record.
	f, ok := coll.Field(assoc)
	if !ok || !f.Type.IsAssociation() {
		return fmt.Errorf("%s has no association %q: %w", coll.FullName(), assoc, ErrNoRoute)
	}
	target, ok := a.eng.Collection(flow.JoinCollectionName(ds, f.Target))
	if !ok {
		return fmt.Errorf("collection %q: %w", f.Target, flow.ErrUnknownCollection)
	}
	src := rt.source
	if src == "" {
		src = r.URL.Query().Get("associatedIndex")
	}
	if src == "" {
		return fmt.Errorf("%s: the source record's key is missing (%s/<key>/%s:%s or associatedIndex): %w", rt.resource, name, assoc, rt.action, ErrBadRequest)
	}
	if f.Type != flow.FieldHasMany && f.Type != flow.FieldHasOne || f.ForeignKey == "" {
		return fmt.Errorf("%s: only hasMany and hasOne associations with a foreign key are served: %w", rt.resource, ErrNoRoute)
	}
	key, err := parseKey(coll, src)
	if err != nil {
		return err
	}
	source, err := a.eng.Records().GetRecord(r.Context(), coll.FullName(), key, nil)
	if err != nil {
		return err
	}
	sourceKey := f.SourceKey
	if sourceKey == "" {
		sourceKey = "id"
	}
	link := storage.Filter{f.ForeignKey: source[sourceKey]}
	switch rt.action {
	case "create":
		return a.create(w, r, u, target, link)
	case "list":
		return a.list(w, r, u, target, link)
	}
	return fmt.Errorf("%s:%s: association resources serve create and list: %w", rt.resource, rt.action, ErrNoRoute)
}

// create writes one record (with link's foreign key set, for an association
// resource) and runs the action's workflows in the same unit of work. It
// needs a create grant on the collection, and on the target of every
// association the body creates a record of.
func (a *API) create(w http.ResponseWriter, r *http.Request, u *actiontrigger.User, coll *flow.Collection, link storage.Filter) error {
	if _, err := a.allow(u, coll, GrantCreate); err != nil {
		return err
	}
	action := recordAction(r, coll, actiontrigger.ActionCreate)
	if err := a.eng.CheckBinding(action); err != nil {
		return err
	}
	values, ok, err := a.readValues(w, r)
	if err != nil {
		return err
	}
	if !ok || values == nil {
		return fmt.Errorf("create needs a JSON object of the record's values: %w", ErrBadRequest)
	}
	for k, v := range link {
		values[k] = v
	}
	// createdById and updatedById become the user's id (under ScopeOwn the
	// grant needs createdById, so the record is the user's own).
	if err := a.stampCreate(u, coll, values); err != nil {
		return err
	}
	if err := a.checkNested(u, coll, values, 0); err != nil {
		return err
	}
	nested := a.nestedPaths(coll, values, "", 0)
	denied, own := a.viewable(u, coll, nested)
	var rec flow.Record
	res, serr, err := a.act(r.Context(), action, *u, func(ctx context.Context, tx storage.Store) (any, error) {
		var err error
		rec, err = a.eng.Records().CreateRecord(storage.WithTx(ctx, tx), coll.FullName(), values)
		if err == nil && len(nested) > 0 {
			// The records the body created through associations come back
			// (and go to the workflows) attached, as in the reference.
			rec, err = a.eng.Records().GetRecord(storage.WithTx(ctx, tx), coll.FullName(), keyOf(coll, rec), nested)
		}
		return rec, err
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	writeJSON(w, http.StatusOK, dataBody{Data: a.scrub(u, coll, withoutPaths(rec, denied), own), Messages: messages(res)})
	return nil
}

// update sets the body's values on the record filterByTk names (404 if
// none), or on every record the filter matches (possibly none), or with both
// on the records both select, and runs the action's workflows once per
// updated record. It answers the list of updated records. It needs an update
// grant; under ScopeOwn only the user's own records match.
func (a *API) update(w http.ResponseWriter, r *http.Request, u *actiontrigger.User, coll *flow.Collection, rt route) error {
	scope, err := a.allow(u, coll, GrantUpdate)
	if err != nil {
		return err
	}
	action := recordAction(r, coll, actiontrigger.ActionUpdate)
	if err := a.eng.CheckBinding(action); err != nil {
		return err
	}
	tk := tkParam(r, rt)
	raw, err := recordFilterParam(r)
	if err != nil {
		return err
	}
	var filter storage.Filter
	if tk == "" && raw == nil {
		return fmt.Errorf("update needs filterByTk or filter: %w", ErrBadRequest)
	}
	if raw != nil {
		if len(raw) == 0 && tk == "" {
			return fmt.Errorf("update with an empty filter would change every record: name the records: %w", ErrBadRequest)
		}
		if filter, err = recordFilter(raw); err != nil {
			return err
		}
		if err := a.checkFields(u, coll, "filter", filterFields(filter)); err != nil {
			return err
		}
	}
	matchable := true
	if tk != "" {
		// filterByTk and filter together select the records both match (AND),
		// as in the reference system.
		key, err := parseKey(coll, tk)
		if err != nil {
			return err
		}
		filter, matchable = andFilter(filter, storage.Filter(key))
	}
	if scope == ScopeOwn && matchable {
		filter, matchable = ownerFilter(filter, u)
	}
	values, ok, err := a.readValues(w, r)
	if err != nil {
		return err
	}
	if !ok || values == nil {
		return fmt.Errorf("update needs a JSON object of the values to set: %w", ErrBadRequest)
	}
	for _, k := range coll.Keys() {
		if _, ok := values[k]; ok {
			return fmt.Errorf("update: the primary key field %q cannot change: %w", k, ErrBadRequest)
		}
	}
	if err := a.stampUpdate(u, coll, values, scope); err != nil {
		return err
	}
	if err := a.checkNested(u, coll, values, 0); err != nil {
		return err
	}
	if !matchable {
		if tk != "" {
			return fmt.Errorf("%s record %s: %w", coll.FullName(), tk, flow.ErrNotFound)
		}
		writeJSON(w, http.StatusOK, dataBody{Data: []flow.Record{}})
		return nil
	}
	nested := a.nestedPaths(coll, values, "", 0)
	denied, own := a.viewable(u, coll, nested)
	var recs []flow.Record
	res, serr, err := a.act(r.Context(), action, *u, func(ctx context.Context, tx storage.Store) (any, error) {
		var err error
		recs, err = a.eng.Records().UpdateRecords(storage.WithTx(ctx, tx), coll.FullName(), filter, values)
		if err == nil && tk != "" && len(recs) == 0 {
			err = fmt.Errorf("%s record %s: %w", coll.FullName(), tk, flow.ErrNotFound)
		}
		for i := 0; err == nil && len(nested) > 0 && i < len(recs); i++ {
			recs[i], err = a.eng.Records().GetRecord(storage.WithTx(ctx, tx), coll.FullName(), keyOf(coll, recs[i]), nested)
		}
		return recs, err
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	out := make([]flow.Record, len(recs))
	for i, rec := range recs {
		out[i] = a.scrub(u, coll, withoutPaths(rec, denied), own)
	}
	// As in the reference system, an update answers the list of updated
	// records, also when filterByTk names one.
	writeJSON(w, http.StatusOK, dataBody{Data: out, Messages: messages(res)})
	return nil
}

// nestedPaths lists, sorted, the association paths ("category",
// "post.category", "comments") through which values creates records: to-one
// associations given as an object, to-many ones given as a list holding
// objects.
func (a *API) nestedPaths(coll *flow.Collection, values map[string]any, prefix string, depth int) []string {
	if depth > 8 {
		return nil
	}
	seen := map[string]bool{}
	for k, v := range values {
		f, ok := coll.Field(k)
		if !ok || !f.Type.IsAssociation() {
			continue
		}
		var objs []map[string]any
		switch x := v.(type) {
		case map[string]any:
			if f.Type.ToOne() {
				objs = append(objs, x)
			}
		case []any:
			if !f.Type.ToOne() {
				for _, it := range x {
					if m, isMap := it.(map[string]any); isMap {
						objs = append(objs, m)
					}
				}
			}
		}
		target, ok := a.target(coll, f)
		if len(objs) == 0 || !ok {
			continue
		}
		path := prefix + k
		seen[path] = true
		for _, m := range objs {
			for _, sub := range a.nestedPaths(target, m, path+".", depth+1) {
				seen[sub] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// keyOf returns the primary key values of rec.
func keyOf(coll *flow.Collection, rec flow.Record) flow.Record {
	key := make(flow.Record, len(coll.Keys()))
	for _, k := range coll.Keys() {
		key[k] = rec[k]
	}
	return key
}

// ButtonParam is the query parameter of <collection>:create and :update that
// names a server-side button binding (actiontrigger.Config.Buttons,
// Action.Button): the request may then trigger only that button's workflows,
// and triggers all of them when it has no triggerWorkflows. The reference
// system has no such parameter (its buttons live in the client, which sends
// triggerWorkflows); "button" is ours.
const ButtonParam = "button"

// recordAction describes the record action r asks for.
func recordAction(r *http.Request, coll *flow.Collection, name string) actiontrigger.Action {
	q := r.URL.Query()
	return actiontrigger.Action{Collection: coll.FullName(), Name: name, TriggerWorkflows: q.Get("triggerWorkflows"), Button: q.Get(ButtonParam)}
}

// andFilter returns the filter matching what both f and g match. A field
// both test keeps the values both allow; it reports false when there are
// none (nothing can match).
func andFilter(f, g storage.Filter) (storage.Filter, bool) {
	out := storage.Filter{}
	for k, v := range f {
		out[k] = v
	}
	for k, v := range g {
		have, ok := out[k]
		if !ok {
			out[k] = v
			continue
		}
		var both []any
		for _, x := range valuesOf(v) {
			if slices.ContainsFunc(valuesOf(have), func(y any) bool { return sameValue(x, y) }) {
				both = append(both, x)
			}
		}
		switch len(both) {
		case 0:
			return nil, false
		case 1:
			out[k] = both[0]
		default:
			out[k] = both
		}
	}
	return out, true
}

// valuesOf lists the values a filter entry allows.
func valuesOf(v any) []any {
	if list, ok := v.([]any); ok {
		return list
	}
	return []any{v}
}

// sameValue compares two filter values: integers exactly (1, int64(1), 1.0
// and "1" are the same), other numbers by value, the rest as text.
func sameValue(x, y any) bool {
	if a, ok := flow.IntValue(x); ok {
		if b, ok := flow.IntValue(y); ok {
			return a == b
		}
	}
	if a, ok := flow.FloatValue(x); ok {
		b, ok := flow.FloatValue(y)
		return ok && a == b
	}
	return fmt.Sprint(x) == fmt.Sprint(y)
}

// act runs write and then AfterAction on what it wrote, in one unit of work
// of the store. A sync workflow's refusal (serr) still commits: the record
// stays written, with the refusing execution, as in the reference system. Any
// other error rolls everything back.
func (a *API) act(ctx context.Context, action actiontrigger.Action, u actiontrigger.User,
	write func(ctx context.Context, tx storage.Store) (any, error)) (res *actiontrigger.Result, serr, err error) {
	// Requests may share a commit (group commit on SQLite): nothing here holds
	// a lock across the unit of work.
	unit := func(ctx context.Context, tx storage.Store) error {
		res, serr = nil, nil
		written, err := write(ctx, tx)
		if err != nil {
			return err
		}
		if recs, ok := written.([]flow.Record); ok && len(recs) == 0 {
			return nil
		}
		res, err = a.eng.AfterAction(storage.WithTx(ctx, tx), action, written, u)
		var se *actiontrigger.SyncError
		if errors.As(err, &se) {
			serr = err
			return nil
		}
		return err
	}
	// First all or nothing: a store may then write without a savepoint around
	// each write (two round trips each on PostgreSQL), and nearly every
	// request has no failed write. When one fails, the store rolls the whole
	// request back (storage.ErrUnitFailed) and it runs again with savepoints,
	// so that what a request keeps after a failed write (a sync workflow's
	// failed execution, or the error of the host's own write) is as before.
	// Only the request's nodes run twice then, as a batch's do in the executor.
	ctx = storage.WithSharedCommit(ctx)
	err = a.eng.Store().InTx(storage.WithAllOrNothing(ctx), unit)
	if errors.Is(err, storage.ErrUnitFailed) {
		err = a.eng.Store().InTx(ctx, unit)
	}
	if err != nil {
		return nil, nil, err
	}
	if res != nil && hasAsync(res) {
		a.eng.Notify()
	}
	return res, serr, nil
}

func hasAsync(res *actiontrigger.Result) bool {
	for _, x := range res.Executions {
		if !x.Sync {
			return true
		}
	}
	return false
}

func messages(res *actiontrigger.Result) any {
	if res == nil || len(res.Messages) == 0 {
		return nil
	}
	return res.Messages
}

// list serves "<collection>:list" with filter, appends, page and pageSize.
// It needs a view grant on the collection and on every appended one; under
// ScopeOwn only the user's own records are listed (or appended).
func (a *API) list(w http.ResponseWriter, r *http.Request, u *actiontrigger.User, coll *flow.Collection, link storage.Filter) error {
	scope, err := a.allow(u, coll, GrantView)
	if err != nil {
		return err
	}
	raw, err := recordFilterParam(r)
	if err != nil {
		return err
	}
	filter, err := recordFilter(raw)
	if err != nil {
		return err
	}
	if err := a.checkFields(u, coll, "filter", filterFields(filter)); err != nil {
		return err
	}
	if err := a.checkFields(u, coll, "sort", sortFields(r)); err != nil {
		return err
	}
	appends := listParam(r, "appends")
	own, err := a.appendScopes(u, coll, appends)
	if err != nil {
		return err
	}
	for k, v := range link {
		if filter == nil {
			filter = storage.Filter{}
		}
		filter[k] = v
	}
	pg, size, err := page(r)
	if err != nil {
		return err
	}
	out := []flow.Record{}
	total := 0
	matchable := true
	if scope == ScopeOwn {
		filter, matchable = ownerFilter(filter, u)
	}
	if matchable {
		// The store sorts, pages and counts: a page of a large table costs
		// the page, and appends are loaded for it only.
		q := storage.ListQuery{Filter: filter, Sort: listParam(r, "sort"), Offset: (pg - 1) * size, Limit: size}
		recs, n, err := a.listPage(r.Context(), coll.FullName(), q, appends)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			out = append(out, a.scrub(u, coll, rec, own))
		}
		total = n
	}
	meta := pageMeta{Count: total, Page: pg, PageSize: size, TotalPage: (total + size - 1) / size}
	writeJSON(w, http.StatusOK, dataBody{Data: out, Meta: meta})
	return nil
}

// listPage lists one page through the engine's records, which implement
// storage.RecordPager (Engine.Records does).
func (a *API) listPage(ctx context.Context, collection string, q storage.ListQuery, appends []string) ([]flow.Record, int, error) {
	p, ok := a.eng.Records().(storage.RecordPager)
	if !ok {
		return nil, 0, fmt.Errorf("%s:list: the engine's records (%T) cannot page: %w", collection, a.eng.Records(), storage.ErrNotSupported)
	}
	return p.ListRecordsPage(ctx, collection, q, appends)
}

// get serves "<collection>:get?filterByTk=" with appends. It needs a view
// grant on the collection and on every appended one; under ScopeOwn another
// user's record is not found.
func (a *API) get(w http.ResponseWriter, r *http.Request, u *actiontrigger.User, coll *flow.Collection, rt route) error {
	scope, err := a.allow(u, coll, GrantView)
	if err != nil {
		return err
	}
	appends := listParam(r, "appends")
	own, err := a.appendScopes(u, coll, appends)
	if err != nil {
		return err
	}
	tk := tkParam(r, rt)
	if tk == "" {
		return fmt.Errorf("get needs filterByTk: %w", ErrBadRequest)
	}
	key, err := parseKey(coll, tk)
	if err != nil {
		return err
	}
	rec, err := a.eng.Records().GetRecord(r.Context(), coll.FullName(), key, appends)
	if err != nil {
		return err
	}
	if scope == ScopeOwn && !isUser(rec[OwnerField], u) {
		return fmt.Errorf("%s record %s: %w", coll.FullName(), tk, flow.ErrNotFound)
	}
	writeJSON(w, http.StatusOK, dataBody{Data: a.scrub(u, coll, rec, own)})
	return nil
}

// parseKey reads a primary key value: a number or text for a one-field key
// (by the field's type), a JSON object of every key field for a composite key.
func parseKey(coll *flow.Collection, s string) (flow.Record, error) {
	keys := coll.Keys()
	if strings.HasPrefix(s, "{") {
		var obj map[string]any
		if err := json.Unmarshal([]byte(s), &obj); err != nil {
			return nil, fmt.Errorf("filterByTk %q: malformed JSON: %w", s, ErrBadRequest)
		}
		for _, k := range keys {
			if _, ok := obj[k]; !ok {
				return nil, fmt.Errorf("filterByTk %q: missing key field %q of %s: %w", s, k, coll.FullName(), ErrBadRequest)
			}
		}
		if len(obj) != len(keys) {
			return nil, fmt.Errorf("filterByTk %q: want exactly the key fields %v: %w", s, keys, ErrBadRequest)
		}
		return obj, nil
	}
	if len(keys) != 1 {
		return nil, fmt.Errorf("filterByTk %q: %s has the composite key %v: give a JSON object: %w", s, coll.FullName(), keys, ErrBadRequest)
	}
	if f, ok := coll.Field(keys[0]); ok && f.Type == flow.FieldInteger {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("filterByTk %q: %s.%s is an integer: %w", s, coll.FullName(), keys[0], ErrBadRequest)
		}
		return flow.Record{keys[0]: n}, nil
	}
	return flow.Record{keys[0]: s}, nil
}

// recordFilterParam decodes the "filter" parameter of a record route (nil if
// absent): numbers exactly, no NUL character in text (exactValues).
func recordFilterParam(r *http.Request) (map[string]any, error) {
	s := r.URL.Query().Get("filter")
	if s == "" {
		return nil, nil
	}
	var f map[string]any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&f); err != nil || f == nil || dec.More() {
		return nil, fmt.Errorf("filter %q: want a JSON object: %w", s, ErrBadRequest)
	}
	if err := exactValues(f, ""); err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	return f, nil
}

// recordFilter turns the reference's filter object into a storage.Filter. It
// takes field: value (equal), field: [values] (one of), and the operators
// $eq and $in; anything else is ErrBadRequest, and so are lists of more than
// MaxFilterValues values in all.
func recordFilter(raw map[string]any) (storage.Filter, error) {
	if raw == nil {
		return nil, nil
	}
	out := storage.Filter{}
	fields := make([]string, 0, len(raw))
	for k := range raw {
		fields = append(fields, k)
	}
	sort.Strings(fields)
	listed := 0
	for _, k := range fields {
		if strings.HasPrefix(k, "$") {
			return nil, fmt.Errorf("filter: operator %q is not supported (use field: value, field: [values], $eq, $in): %w", k, ErrBadRequest)
		}
		switch v := raw[k].(type) {
		case map[string]any:
			if len(v) != 1 {
				return nil, fmt.Errorf("filter on %q: want one operator, $eq or $in: %w", k, ErrBadRequest)
			}
			if x, ok := v["$eq"]; ok {
				out[k] = x
			} else if x, ok := v["$in"].([]any); ok {
				out[k] = x
			} else {
				return nil, fmt.Errorf("filter on %q: only $eq and $in (with a list) are supported: %w", k, ErrBadRequest)
			}
		default:
			out[k] = v
		}
		if list, ok := out[k].([]any); ok {
			if listed += len(list); listed > MaxFilterValues {
				return nil, fmt.Errorf("filter: more than %d values in its lists (field: [values] and $in) in all: %w", MaxFilterValues, ErrBadRequest)
			}
		}
	}
	return out, nil
}

// filterFields lists the fields a record filter tests.
func filterFields(f storage.Filter) []string {
	out := make([]string, 0, len(f))
	for k := range f {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// sortFields lists the fields of the "sort" parameter ("-createdAt" sorts
// on createdAt).
func sortFields(r *http.Request) []string {
	var out []string
	for _, s := range listParam(r, "sort") {
		out = append(out, strings.TrimPrefix(s, "-"))
	}
	return out
}
