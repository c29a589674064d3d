package actiontrigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/actiontrigger/actiontrigger/executor"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
	"github.com/actiontrigger/actiontrigger/observe"
	"github.com/actiontrigger/actiontrigger/storage"
)

// candidate is a workflow selected for an action, with its binding path.
type candidate struct {
	wf   *flow.Workflow
	path string
	// associations walked by path (nil without a path)
	fields []*flow.Association
}

// AfterAction runs the workflows bound to an action that just succeeded: the local
// workflows named in action.TriggerWorkflows (in that order), then the global
// workflows of the collection that list the action. data is the resulting record:
// a map, a struct (converted through encoding/json), or a slice of them (one
// event per record).
//
// Sync workflows run inline, in order; the first one that does not pass stops the
// rest and AfterAction returns a *SyncError. A sync workflow that resolves
// through an end node stops the rest with success. Async workflows are queued
// durably before AfterAction returns, and run on the workers started by Start.
//
// Actions other than create and update trigger nothing. With the Strict policy a
// bad binding fails with a *BindingError before anything runs.
func (e *Engine) AfterAction(ctx context.Context, action Action, data any, user User) (res *Result, err error) {
	if rec, ok := ctx.Value(recorderKey{}).(*Recorder); ok && flow.StackFrom(ctx) == nil {
		defer func() { rec.add(RecordedAction{Action: action, Result: res, Err: err}) }()
	}
	if action.Name != flow.ActionCreate && action.Name != flow.ActionUpdate {
		if err := e.checkActionName(action); err != nil {
			return nil, err
		}
		return &Result{}, nil
	}
	coll, ok := e.collections[action.Collection]
	if !ok {
		return nil, fmt.Errorf("actiontrigger: action on %q: %w", action.Collection, flow.ErrUnknownCollection)
	}
	cands, err := e.resolve(action, coll)
	if err != nil {
		return nil, err
	}
	res = &Result{}
	if len(cands) == 0 {
		return res, nil
	}
	records, err := toRecords(data)
	if err != nil {
		return nil, fmt.Errorf("actiontrigger: action on %q: %w", action.Collection, err)
	}
	if len(records) == 0 {
		return res, nil
	}
	obs := e.cfg.Observer
	if obs != nil {
		ev := observe.Action{Collection: action.Collection, Name: action.Name, Workflows: len(cands), Records: len(records)}
		actx := obs.ActionStart(ctx, ev)
		ctx = actx
		defer endAction(actx, obs, ev, time.Now(), &res, &err)
	}
	traced, trace := false, "" // the trace context stored with queued executions
	stack := flow.StackFrom(ctx)
	userCtx := e.userContext(user)
	var (
		async []*flow.Execution
		plain []flow.Record // records copied for event data, shared by workflows
	)
	for _, c := range cands {
		if stack != nil && e.stackLimited(stack, c.wf) {
			res.Skipped = append(res.Skipped, Skip{Workflow: c.wf.Key, Reason: ErrStackLimit.Error()})
			e.log.Warn("actiontrigger: workflow skipped: it already runs in this chain of executions", "workflow", c.wf.Key, "stackLimit", stackLimit(c.wf))
			continue
		}
		for i, rec := range records {
			var payload any
			if len(c.fields) == 0 && len(c.wf.Config.Appends) == 0 {
				// The record as the action returned it: one copy serves every
				// workflow (event data is immutable once stored).
				if plain == nil {
					plain = make([]flow.Record, len(records))
				}
				if plain[i] == nil {
					plain[i] = e.publicRecord(coll, rec)
				}
				payload = plain[i]
			} else if payload, err = e.eventData(ctx, coll, c, rec); err != nil {
				return res, fmt.Errorf("actiontrigger: workflow %q: event data: %w", c.wf.Key, err)
			}
			x := e.newExecution(c.wf, map[string]any{"data": payload, "user": userCtx, "roleName": user.Role}, stack)
			if action.EventKey != "" {
				x.EventKey = action.EventKey
				if len(records) > 1 {
					x.EventKey += "/" + strconv.Itoa(i)
				}
			}
			if !c.wf.Sync {
				if obs != nil {
					if !traced {
						trace, traced = obs.Trace(ctx), true
					}
					x.Trace = trace
				}
				x.Status = flow.ExecutionQueueing
				x.Runnable = true
				async = append(async, x)
				continue
			}
			stop, err := e.runSync(ctx, c.wf, x, res)
			if err != nil || stop {
				return res, err
			}
		}
	}
	if len(async) == 0 {
		return res, nil
	}
	if err := e.enqueue(ctx, async, res); err != nil {
		return res, err
	}
	return res, nil
}

// endAction tells obs that the AfterAction call of ev returned *res and
// *err.
func endAction(ctx context.Context, obs observe.Observer, ev observe.Action, t0 time.Time, res **Result, err *error) {
	end := observe.ActionEnd{Action: ev, Err: *err, Duration: time.Since(t0)}
	if r := *res; r != nil {
		for _, x := range r.Executions {
			if x.Sync {
				end.Ran++
			} else {
				end.Queued++
			}
		}
		end.Skipped = len(r.Skipped)
	}
	obs.ActionEnd(ctx, end)
}

// runSync runs one sync execution and applies the outcome table of the reference
// system. It reports whether the action's remaining workflows must not run.
func (e *Engine) runSync(ctx context.Context, wf *flow.Workflow, x *flow.Execution, res *Result) (bool, error) {
	plan, err := e.planFor(ctx, wf.ID)
	if err != nil {
		return true, &SyncError{Kind: SyncFailed, Workflow: wf.Key, Err: err}
	}
	out, err := e.exec.RunNew(ctx, plan, x)
	if err != nil {
		if errors.Is(err, flow.ErrDuplicate) && x.EventKey != "" {
			res.Skipped = append(res.Skipped, Skip{Workflow: wf.Key, Reason: "event " + x.EventKey + " already handled"})
			return false, nil
		}
		// Node faults end the execution with an outcome; an error here is the
		// store's (or the caller's context's), not the workflow's.
		return true, storeError(fmt.Sprintf("workflow %q", wf.Key), err)
	}
	res.Executions = append(res.Executions, out.Execution)
	res.Messages = append(res.Messages, out.Messages...)
	e.afterRun(out)
	switch st := out.Execution.Status; {
	case st == flow.ExecutionResolved:
		return out.Ended, nil
	case st == flow.ExecutionStarted:
		return true, &SyncError{Kind: SyncPending, Workflow: wf.Key, Execution: out.Execution, Messages: res.Messages}
	case out.Ended:
		return true, &SyncError{Kind: SyncRejected, Workflow: wf.Key, Execution: out.Execution, Messages: res.Messages}
	default:
		return true, &SyncError{Kind: SyncFailed, Workflow: wf.Key, Execution: out.Execution, Messages: res.Messages}
	}
}

// enqueue stores queued executions in one unit of work and wakes the workers.
func (e *Engine) enqueue(ctx context.Context, xs []*flow.Execution, res *Result) error {
	var dup []*flow.Execution
	err := e.db(ctx).InTx(ctx, func(ctx context.Context, tx storage.Store) error {
		dup = dup[:0]
		for _, x := range xs {
			if err := tx.InsertExecution(ctx, x); err != nil {
				if errors.Is(err, flow.ErrDuplicate) && x.EventKey != "" {
					dup = append(dup, x)
					continue
				}
				return err
			}
		}
		return nil
	})
	if err != nil {
		return storeError("queue executions", err)
	}
	for _, x := range xs {
		if containsExec(dup, x) {
			res.Skipped = append(res.Skipped, Skip{Workflow: x.Key, Reason: "event " + x.EventKey + " already handled"})
			continue
		}
		res.Executions = append(res.Executions, x)
	}
	e.notify()
	return nil
}

func containsExec(xs []*flow.Execution, x *flow.Execution) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func (e *Engine) newExecution(wf *flow.Workflow, context map[string]any, stack []flow.StackFrame) *flow.Execution {
	now := e.cfg.Now()
	return &flow.Execution{
		ID: executor.NewID(), WorkflowID: wf.ID, Key: wf.Key, Context: context,
		Sync: wf.Sync, Stack: stack, CreatedAt: now, UpdatedAt: now,
	}
}

func stackLimit(wf *flow.Workflow) int {
	if wf.Options.StackLimit > 0 {
		return wf.Options.StackLimit
	}
	return 1
}

func (e *Engine) stackLimited(stack []flow.StackFrame, wf *flow.Workflow) bool {
	n := 0
	for _, f := range stack {
		if f.Key == wf.Key {
			n++
		}
	}
	return n >= stackLimit(wf)
}

// resolve selects the workflows to run, in order: named local ones, then global.
// Malformed entries (bad paths, unknown buttons) fail under both policies;
// entries naming workflows that cannot run fail only under Strict.
func (e *Engine) resolve(action Action, coll *flow.Collection) ([]candidate, error) {
	bindings, problems := ParseTriggerWorkflows(action.TriggerWorkflows)
	if action.Button != "" {
		allowed, ok := e.cfg.Buttons[action.Button]
		if !ok {
			return nil, &BindingError{Collection: action.Collection, Problems: []BindingProblem{{Key: action.Button, Reason: "unknown button", malformed: true}}}
		}
		if action.TriggerWorkflows == "" {
			bindings = allowed
		} else {
			kept := bindings[:0]
			for _, b := range bindings {
				if containsBinding(allowed, b) {
					kept = append(kept, b)
				} else {
					problems = append(problems, BindingProblem{Key: b.Key, Path: b.Path, Reason: "not bound to button " + strconv.Quote(action.Button)})
				}
			}
			bindings = kept
		}
	}
	var cands []candidate
	e.mu.RLock()
	for _, b := range bindings {
		wf := e.byKey[b.Key]
		target, fields, err := e.walkPath(coll, b.Path)
		switch {
		case err != nil:
			problems = append(problems, BindingProblem{Key: b.Key, Path: b.Path, Reason: err.Error(), Err: err, malformed: true})
		case wf == nil:
			problems = append(problems, BindingProblem{Key: b.Key, Path: b.Path, Reason: "no enabled workflow with this key"})
		case wf.Config.Collection != target.FullName():
			problems = append(problems, BindingProblem{Key: b.Key, Path: b.Path, Reason: fmt.Sprintf("workflow runs on %q, the binding reaches %q", wf.Config.Collection, target.FullName())})
		case wf.Config.Global:
			// runs through the global rule only
		default:
			cands = append(cands, candidate{wf: wf, path: b.Path, fields: fields})
		}
	}
	for _, wf := range e.globals[coll.FullName()] {
		if wf.Config.HasAction(action.Name) {
			cands = append(cands, candidate{wf: wf})
		}
	}
	e.mu.RUnlock()
	if len(problems) > 0 && (e.cfg.BindingPolicy == Strict || slices.ContainsFunc(problems, func(p BindingProblem) bool { return p.malformed })) {
		return nil, &BindingError{Collection: action.Collection, Problems: problems}
	}
	return cands, nil
}

func containsBinding(bs []Binding, b Binding) bool {
	for _, x := range bs {
		if x == b {
			return true
		}
	}
	return false
}

// CheckBinding validates triggerWorkflows for an action before the host runs it,
// so a bad binding can be refused before any record is written. It applies the
// engine's policy: nil under Lenient unless a path is malformed.
func (e *Engine) CheckBinding(action Action) error {
	coll, ok := e.collections[action.Collection]
	if !ok {
		return fmt.Errorf("actiontrigger: action on %q: %w", action.Collection, flow.ErrUnknownCollection)
	}
	if action.Name != flow.ActionCreate && action.Name != flow.ActionUpdate {
		return e.checkActionName(action)
	}
	_, err := e.resolve(action, coll)
	return err
}

// otherActions are the reference system's resource actions besides create
// and update: they trigger nothing, even when the request names workflows
// (the reference ignores triggerWorkflows on them).
var otherActions = map[string]bool{
	"destroy": true, "list": true, "get": true, "updateOrCreate": true, "firstOrCreate": true,
	"move": true, "set": true, "add": true, "remove": true, "toggle": true, "export": true, "import": true,
}

// checkActionName refuses an action that names workflows (TriggerWorkflows or
// Button) under a name that is no action at all ("Create", "", "crate"):
// nothing could run, and saying nothing would hide the host's mistake.
func (e *Engine) checkActionName(action Action) error {
	if (action.TriggerWorkflows == "" && action.Button == "") || otherActions[action.Name] {
		return nil
	}
	hint := ""
	if n := strings.ToLower(strings.TrimSpace(action.Name)); n == flow.ActionCreate || n == flow.ActionUpdate {
		hint = fmt.Sprintf(" (did you mean %q?)", n)
	}
	return fmt.Errorf("actiontrigger: action %q on %q names workflows, but it is not an action: only %q and %q trigger workflows%s: %w",
		action.Name, action.Collection, flow.ActionCreate, flow.ActionUpdate, hint, ErrUnknownAction)
}

// storeError wraps an error of the store met while handling an action with
// ErrStore; the caller's own cancellation stays what it is.
func storeError(what string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("actiontrigger: %s: %w", what, err)
	}
	return fmt.Errorf("actiontrigger: %s: %w: %w", what, ErrStore, err)
}

// eventData builds the event's data for one record: the record itself, or the
// record reached through the binding's path, reloaded with the workflow's appends.
func (e *Engine) eventData(ctx context.Context, coll *flow.Collection, c candidate, rec flow.Record) (any, error) {
	cur, curColl := rec, coll
	for _, a := range c.fields {
		if v, ok := cur[a.Name].(map[string]any); ok && len(v) > 0 {
			cur = v
		} else {
			next, err := e.loadToOne(ctx, a, cur)
			if err != nil {
				return nil, err
			}
			cur = next
		}
		curColl = e.collections[a.Target]
		if cur == nil {
			return nil, nil
		}
	}
	if len(c.wf.Config.Appends) > 0 {
		key, ok := recordKey(curColl, cur)
		if !ok {
			return nil, fmt.Errorf("record of %q has no primary key %v to reload appends: %w", curColl.FullName(), curColl.Keys(), flow.ErrInvalidRecord)
		}
		got, err := e.Records().GetRecord(ctx, curColl.FullName(), key, c.wf.Config.Appends)
		if errors.Is(err, flow.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, storeError("load appends of "+strconv.Quote(curColl.FullName()), err)
		}
		cur = got
	}
	return e.publicRecord(curColl, cur), nil
}

// publicRecord copies a record for an execution's context, without hidden fields.
func (e *Engine) publicRecord(coll *flow.Collection, rec flow.Record) flow.Record {
	return nodes.PublicCopy(collectionSet(e.collections), coll, rec)
}

// loadToOne loads the record a to-one association of rec points at (nil if
// none), by the keys the schema resolved.
func (e *Engine) loadToOne(ctx context.Context, a *flow.Association, rec flow.Record) (flow.Record, error) {
	switch a.Kind {
	case flow.FieldBelongsTo:
		v := rec[a.ForeignKey]
		if v == nil {
			return nil, nil
		}
		target, _ := e.schema.Collection(a.Target)
		got, err := recordRouter{e}.getBy(ctx, target, a.TargetKey, v)
		if err != nil {
			return nil, storeError("load "+strconv.Quote(a.Target), err)
		}
		return got, nil
	case flow.FieldHasOne:
		if rec[a.SourceKey] == nil {
			return nil, nil
		}
		list, err := recordRouter{e}.list(ctx, a.Target, storage.Filter{a.ForeignKey: rec[a.SourceKey]})
		if err != nil {
			return nil, storeError("load "+strconv.Quote(a.Target), err)
		}
		if len(list) == 0 {
			return nil, nil
		}
		return list[0], nil
	}
	return nil, fmt.Errorf("association %q is not to-one: %w", a.Name, ErrBinding)
}

func recordKey(c *flow.Collection, rec flow.Record) (flow.Record, bool) {
	keys := c.Keys()
	out := make(flow.Record, len(keys))
	for _, k := range keys {
		v, ok := rec[k]
		if !ok || v == nil {
			return nil, false
		}
		out[k] = v
	}
	return out, true
}

// userContext builds $context.user: the user's fields without hidden ones.
func (e *Engine) userContext(u User) map[string]any {
	out := make(map[string]any, len(u.Fields)+1)
	users := e.collections[e.cfg.UsersCollection]
	for k, v := range u.Fields {
		if users != nil {
			if f, ok := users.Field(k); ok && f.Hidden {
				continue
			}
		}
		out[k] = v
	}
	if u.ID != nil {
		if _, ok := out["id"]; !ok {
			out["id"] = u.ID
		}
	}
	return out
}

// toRecords turns the host's data into records: a map, a struct, or a slice or
// array of them.
func toRecords(data any) ([]flow.Record, error) {
	switch d := data.(type) {
	case nil:
		return nil, fmt.Errorf("data is nil: %w", flow.ErrInvalidRecord)
	case map[string]any:
		if d == nil {
			return nil, fmt.Errorf("data is a nil map: %w", flow.ErrInvalidRecord)
		}
		return []flow.Record{d}, nil
	case []map[string]any:
		return d, nil
	case []any:
		out := make([]flow.Record, 0, len(d))
		for i, x := range d {
			r, err := toRecord(x)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			out = append(out, r)
		}
		return out, nil
	}
	v := reflect.ValueOf(data)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil, fmt.Errorf("data is a nil %T: %w", data, flow.ErrInvalidRecord)
		}
		v = v.Elem()
	}
	if v.Kind() == reflect.Slice || v.Kind() == reflect.Array {
		out := make([]flow.Record, 0, v.Len())
		for i := 0; i < v.Len(); i++ {
			r, err := toRecord(v.Index(i).Interface())
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			out = append(out, r)
		}
		return out, nil
	}
	r, err := toRecord(data)
	if err != nil {
		return nil, err
	}
	return []flow.Record{r}, nil
}

func toRecord(x any) (flow.Record, error) {
	if m, ok := x.(map[string]any); ok && m != nil {
		return m, nil
	}
	v := reflect.ValueOf(x)
	for v.IsValid() && v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if !v.IsValid() || (v.Kind() != reflect.Struct && v.Kind() != reflect.Map) || (v.Kind() == reflect.Map && v.IsNil()) {
		return nil, fmt.Errorf("%T is not a record (want a map, a struct, or a slice of them): %w", x, flow.ErrInvalidRecord)
	}
	raw, err := json.Marshal(x)
	if err != nil {
		return nil, fmt.Errorf("%T: %w: %w", x, flow.ErrInvalidRecord, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%T does not encode as a JSON object: %w", x, flow.ErrInvalidRecord)
	}
	return m, nil
}

// db returns the unit of work ctx carries (storage.WithTx), or the engine's store.
func (e *Engine) db(ctx context.Context) storage.Store {
	if tx, ok := storage.TxFrom(ctx); ok {
		return tx
	}
	return e.store
}
