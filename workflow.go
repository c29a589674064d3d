package actiontrigger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/actiontrigger/actiontrigger/executor"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
	"github.com/actiontrigger/actiontrigger/storage"
)

// SaveWorkflow validates and stores a workflow version, and returns it as stored.
//
// With wf.ID empty it creates the first version of wf.Key (a key is generated
// when empty), or, if the key exists, updates its current version. With wf.ID set
// it updates that version. A version that has run is frozen: only its title,
// description, enabled flag and options may change (flow.ErrFrozen); use Revise
// for a new version. Saving a version enabled makes it current and disables the
// key's other versions.
//
// Everything is validated here, never at run time: the trigger config (declared
// collection, actions, appends), every node (known type, config, expressions and
// templates that compile, fields that exist), unique node keys, and no pausing
// node in a sync workflow. Errors are *flow.ValidationError values naming the
// node and the field; they wrap flow.ErrInvalidWorkflow.
func (e *Engine) SaveWorkflow(ctx context.Context, wf flow.Workflow) (*flow.Workflow, error) {
	in := wf.Clone()
	if in.Key == "" && in.ID == "" {
		in.Key = executor.NewID()
	}
	var saved *flow.Workflow
	err := e.store.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
		// Saves of one key from processes sharing the database run one after
		// the other: else both can find the key new and both create a first
		// version.
		if in.Key != "" {
			if err := lockKey(ctx, tx, in.Key); err != nil {
				return err
			}
		}
		var prev *flow.Workflow
		if in.ID != "" {
			p, err := tx.GetWorkflow(ctx, in.ID)
			if err != nil {
				return fmt.Errorf("actiontrigger: save workflow: %w", err)
			}
			prev = p
			if in.Key == "" {
				in.Key = p.Key
				if err := lockKey(ctx, tx, in.Key); err != nil {
					return err
				}
			}
			if in.Key != p.Key {
				return &flow.ValidationError{Workflow: in.Key, Field: "key", Message: fmt.Sprintf("version %s belongs to key %q; the key cannot change", in.ID, p.Key)}
			}
		} else {
			versions, err := tx.ListWorkflows(ctx, storage.WorkflowFilter{Key: in.Key})
			if err != nil {
				return fmt.Errorf("actiontrigger: save workflow: %w", err)
			}
			for _, v := range versions {
				if v.Current {
					prev = v
				}
			}
			if prev == nil && len(versions) > 0 {
				prev = versions[len(versions)-1]
			}
		}
		if prev != nil && prev.Frozen() && shapeChanged(prev, in) {
			return fmt.Errorf("actiontrigger: workflow %q version %d has run %d times; its config, nodes, type and sync cannot change (Revise it): %w", prev.Key, prev.Version, prev.Executed, flow.ErrFrozen)
		}
		if _, err := e.validate(in); err != nil {
			return err
		}
		now := e.cfg.Now()
		if prev == nil {
			in.ID = executor.NewID()
			in.Version = 1
			in.Current = true
			in.CreatedAt = now
		} else {
			in.ID = prev.ID
			in.Version = prev.Version
			in.CreatedAt = prev.CreatedAt
			in.Current = prev.Current
		}
		in.UpdatedAt = now
		if in.Enabled {
			in.Current = true
			if err := e.retireOthers(ctx, tx, in); err != nil {
				return err
			}
		}
		var err error
		if prev == nil {
			err = tx.InsertWorkflow(ctx, in)
		} else {
			err = tx.UpdateWorkflow(ctx, in)
		}
		if err != nil {
			return fmt.Errorf("actiontrigger: save workflow %q: %w", in.Key, err)
		}
		saved, err = tx.GetWorkflow(ctx, in.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	e.exec.Forget(saved.ID)
	if _, err := e.plan(saved); err != nil {
		return nil, err
	}
	e.reindexKey(ctx, saved.Key)
	return e.annotate(saved), nil
}

// shapeChanged reports whether the frozen parts of a workflow differ.
func shapeChanged(a, b *flow.Workflow) bool {
	if a.Sync != b.Sync || typeOf(a) != typeOf(b) {
		return true
	}
	ja, _ := json.Marshal([]any{a.Config, a.Nodes})
	jb, _ := json.Marshal([]any{b.Config, b.Nodes})
	return !bytes.Equal(ja, jb)
}

func typeOf(w *flow.Workflow) string {
	if w.Type == "" {
		return flow.TriggerType
	}
	return w.Type
}

// retireOthers makes every other version of w's key neither current nor enabled.
func (e *Engine) retireOthers(ctx context.Context, tx storage.Store, w *flow.Workflow) error {
	others, err := tx.ListWorkflows(ctx, storage.WorkflowFilter{Key: w.Key})
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.ID == w.ID || (!o.Current && !o.Enabled) {
			continue
		}
		o.Current, o.Enabled = false, false
		o.UpdatedAt = e.cfg.Now()
		if err := tx.UpdateWorkflow(ctx, o); err != nil {
			return err
		}
	}
	return nil
}

// validate checks a workflow document and compiles its plan.
func (e *Engine) validate(w *flow.Workflow) (*executor.Plan, error) {
	return e.exec.Compile(w)
}

// checkTrigger validates what the engine owns of a workflow version: its
// type, trigger config and options (the executor compiles its nodes).
func (e *Engine) checkTrigger(w *flow.Workflow) error {
	if w.Type == "" {
		w.Type = flow.TriggerType
	}
	if w.Type != flow.TriggerType {
		return &flow.ValidationError{Workflow: w.Key, Field: "type", Message: fmt.Sprintf("unknown trigger type %q (only %q)", w.Type, flow.TriggerType)}
	}
	if w.Title == "" {
		w.Title = w.Key
	}
	c := w.Config
	if c.Collection == "" {
		return &flow.ValidationError{Workflow: w.Key, Field: "config.collection", Message: "collection is required"}
	}
	coll, ok := e.collections[c.Collection]
	if !ok {
		return &flow.ValidationError{Workflow: w.Key, Field: "config.collection", Message: fmt.Sprintf("collection %q is not declared", c.Collection), Err: flow.ErrUnknownCollection}
	}
	for _, a := range c.Actions {
		if a != flow.ActionCreate && a != flow.ActionUpdate {
			return &flow.ValidationError{Workflow: w.Key, Field: "config.actions", Message: fmt.Sprintf("action %q cannot trigger workflows (only %q and %q)", a, flow.ActionCreate, flow.ActionUpdate)}
		}
	}
	if c.Global && len(c.Actions) == 0 {
		e.log.Warn("actiontrigger: global workflow lists no actions and will never run", "workflow", w.Key)
	}
	for _, a := range c.Appends {
		if err := nodes.CheckAppend(collectionSet(e.collections), coll, a); err != nil {
			return &flow.ValidationError{Workflow: w.Key, Field: "config.appends", Message: err.Error(), Err: err}
		}
	}
	for _, s := range w.Options.DeleteExecutionOnStatus {
		if !s.Ended() {
			return &flow.ValidationError{Workflow: w.Key, Field: "options.deleteExecutionOnStatus", Message: fmt.Sprintf("%s is not a final status", s)}
		}
	}
	if w.Options.Timeout < 0 || w.Options.StackLimit < 0 {
		return &flow.ValidationError{Workflow: w.Key, Field: "options", Message: "timeout and stackLimit cannot be negative"}
	}
	return nil
}

// lockKey serialises units of work on one workflow key, on stores whose
// writers can run at the same time (storage.KeyLocker).
func lockKey(ctx context.Context, tx storage.Store, key string) error {
	if kl, ok := tx.(storage.KeyLocker); ok {
		if err := kl.LockWorkflowKey(ctx, key); err != nil {
			return fmt.Errorf("actiontrigger: workflow %q: %w", key, err)
		}
	}
	return nil
}

// plan returns the compiled plan of a stored version, compiled once.
func (e *Engine) plan(w *flow.Workflow) (*executor.Plan, error) { return e.exec.PlanOf(w) }

func (e *Engine) planFor(ctx context.Context, workflowID string) (*executor.Plan, error) {
	return e.exec.Plan(ctx, workflowID)
}

// reindexKey refreshes the in-memory index of enabled workflows for one key.
func (e *Engine) reindexKey(ctx context.Context, key string) {
	versions, err := e.store.ListWorkflows(ctx, storage.WorkflowFilter{Key: key})
	if err != nil {
		e.log.Error("actiontrigger: reload workflow index", "workflow", key, "err", err)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.unindexLocked(key)
	for _, v := range versions {
		if v.Enabled {
			e.indexLocked(v)
		}
	}
}

func (e *Engine) indexLocked(w *flow.Workflow) {
	if _, err := e.plan(w); err != nil {
		e.log.Error("actiontrigger: enabled workflow does not compile; not indexed", "workflow", w.Key, "err", err)
		return
	}
	e.byKey[w.Key] = w
	if w.Config.Global {
		e.globals[w.Config.Collection] = append(e.globals[w.Config.Collection], w)
	}
}

func (e *Engine) unindexLocked(key string) {
	old, ok := e.byKey[key]
	if !ok {
		return
	}
	delete(e.byKey, key)
	if old.Config.Global {
		list := e.globals[old.Config.Collection]
		list = slices.DeleteFunc(slices.Clone(list), func(w *flow.Workflow) bool { return w.Key == key })
		if len(list) == 0 {
			delete(e.globals, old.Config.Collection)
		} else {
			e.globals[old.Config.Collection] = list
		}
	}
}

// Enable enables the current version of key.
func (e *Engine) Enable(ctx context.Context, key string) error {
	return e.toggle(ctx, key, "", true)
}

// Disable disables the enabled version of key.
func (e *Engine) Disable(ctx context.Context, key string) error {
	return e.toggle(ctx, key, "", false)
}

// EnableVersion enables one version (for example a revision): it becomes the
// current version of its key and every other version is disabled.
func (e *Engine) EnableVersion(ctx context.Context, id string) error {
	return e.toggle(ctx, "", id, true)
}

func (e *Engine) toggle(ctx context.Context, key, id string, on bool) error {
	var saved *flow.Workflow
	err := e.store.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
		var w *flow.Workflow
		if id != "" {
			got, err := tx.GetWorkflow(ctx, id)
			if err != nil {
				return fmt.Errorf("actiontrigger: workflow version %s: %w", id, err)
			}
			w = got
		} else {
			cur, err := e.currentIn(ctx, tx, key)
			if err != nil {
				return err
			}
			w = cur
		}
		if w.Enabled == on && (!on || w.Current) {
			saved = w
			return nil
		}
		w.Enabled = on
		w.UpdatedAt = e.cfg.Now()
		if on {
			w.Current = true
			if err := e.retireOthers(ctx, tx, w); err != nil {
				return err
			}
		}
		if err := tx.UpdateWorkflow(ctx, w); err != nil {
			return err
		}
		saved = w
		return nil
	})
	if err != nil {
		return err
	}
	e.reindexKey(ctx, saved.Key)
	return nil
}

func (e *Engine) currentIn(ctx context.Context, s storage.Store, key string) (*flow.Workflow, error) {
	cur := true
	list, err := s.ListWorkflows(ctx, storage.WorkflowFilter{Key: key, Current: &cur})
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("actiontrigger: workflow %q: %w", key, flow.ErrNotFound)
	}
	return list[0], nil
}

// Workflow returns the current version of key.
func (e *Engine) Workflow(ctx context.Context, key string) (*flow.Workflow, error) {
	w, err := e.currentIn(ctx, e.store, key)
	if err != nil {
		return nil, err
	}
	return e.annotate(w), nil
}

// WorkflowVersion returns one version by id.
func (e *Engine) WorkflowVersion(ctx context.Context, id string) (*flow.Workflow, error) {
	w, err := e.store.GetWorkflow(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("actiontrigger: workflow version %s: %w", id, err)
	}
	return e.annotate(w), nil
}

// Workflows lists workflow versions.
func (e *Engine) Workflows(ctx context.Context, f WorkflowFilter) ([]*flow.Workflow, error) {
	list, err := e.store.ListWorkflows(ctx, f)
	for _, w := range list {
		e.annotate(w)
	}
	return list, err
}

// annotate fills what the engine computes on a version it returns (Atomic).
func (e *Engine) annotate(w *flow.Workflow) *flow.Workflow {
	if w == nil {
		return nil
	}
	if p, err := e.plan(w); err == nil {
		w.Atomic = p.Atomic()
	}
	return w
}

// Revise creates a new version of key from its current version: same nodes (with
// the same node keys), config and options, not current and not enabled, with its
// own execution counter. Enable it with EnableVersion.
func (e *Engine) Revise(ctx context.Context, key string) (*flow.Workflow, error) {
	var saved *flow.Workflow
	err := e.store.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
		if err := lockKey(ctx, tx, key); err != nil {
			return err
		}
		cur, err := e.currentIn(ctx, tx, key)
		if err != nil {
			return err
		}
		all, err := tx.ListWorkflows(ctx, storage.WorkflowFilter{Key: key})
		if err != nil {
			return err
		}
		maxV := 0
		for _, v := range all {
			maxV = max(maxV, v.Version)
		}
		r := cur.Clone()
		now := e.cfg.Now()
		r.ID = executor.NewID()
		r.Version = maxV + 1
		r.Current, r.Enabled = false, false
		r.Executed, r.AllExecuted = 0, 0
		r.CreatedAt, r.UpdatedAt = now, now
		if err := tx.InsertWorkflow(ctx, r); err != nil {
			return err
		}
		saved, err = tx.GetWorkflow(ctx, r.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	if _, err := e.plan(saved); err != nil {
		return nil, err
	}
	return e.annotate(saved), nil
}

// DeleteWorkflow deletes every version of key; it no longer triggers.
// Finished executions are kept; queued and paused ones are aborted (reason
// "workflow_deleted"), with their pending jobs and tasks.
func (e *Engine) DeleteWorkflow(ctx context.Context, key string) error {
	var deleted []string
	err := e.store.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
		list, err := tx.ListWorkflows(ctx, storage.WorkflowFilter{Key: key})
		if err != nil {
			return err
		}
		if len(list) == 0 {
			return fmt.Errorf("actiontrigger: workflow %q: %w", key, flow.ErrNotFound)
		}
		for _, w := range list {
			live, err := tx.ListExecutions(ctx, storage.ExecutionFilter{WorkflowID: w.ID, Statuses: []flow.ExecutionStatus{flow.ExecutionQueueing, flow.ExecutionStarted}})
			if err != nil {
				return err
			}
			for _, x := range live {
				if err := e.abort(storage.WithTx(ctx, tx), x.ID, flow.ReasonWorkflowDeleted); err != nil && !errors.Is(err, ErrExecutionEnded) {
					return err
				}
			}
			if err := tx.DeleteWorkflow(ctx, w.ID); err != nil {
				return err
			}
			deleted = append(deleted, w.ID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range deleted {
		e.exec.Forget(id)
	}
	e.mu.Lock()
	e.unindexLocked(key)
	e.mu.Unlock()
	return nil
}

// DeleteVersion deletes one version of a workflow that is neither current nor
// enabled (a draft revision, or an old version): the key's other versions stay.
// The current version is deleted with its key by DeleteWorkflow, so naming it
// is flow.ErrConflict, and so is a version that still has queued or paused
// executions (cancel them first). Finished executions are kept.
func (e *Engine) DeleteVersion(ctx context.Context, id string) error {
	err := e.store.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
		v, err := tx.GetWorkflow(ctx, id)
		if err != nil {
			return err
		}
		if v.Current || v.Enabled {
			return fmt.Errorf("actiontrigger: version %d of %q is current or enabled: delete the workflow (DeleteWorkflow) or enable another version first: %w", v.Version, v.Key, flow.ErrConflict)
		}
		live, err := tx.ListExecutions(ctx, storage.ExecutionFilter{WorkflowID: id, Statuses: []flow.ExecutionStatus{flow.ExecutionQueueing, flow.ExecutionStarted}})
		if err != nil {
			return err
		}
		if len(live) > 0 {
			return fmt.Errorf("actiontrigger: version %d of %q has %d queued or paused executions: cancel them first: %w", v.Version, v.Key, len(live), flow.ErrConflict)
		}
		return tx.DeleteWorkflow(ctx, id)
	})
	if err != nil {
		return err
	}
	e.exec.Forget(id)
	return nil
}

// Execute runs the current version of key once, synchronously, on data (a
// record, or the primary key value of one), even if the workflow is disabled or
// async: a manual run. The execution is marked Manually.
func (e *Engine) Execute(ctx context.Context, key string, data any, user User) (*flow.Execution, error) {
	w, err := e.Workflow(ctx, key)
	if err != nil {
		return nil, err
	}
	plan, err := e.plan(w)
	if err != nil {
		return nil, err
	}
	coll := e.collections[w.Config.Collection]
	var rec flow.Record
	switch d := data.(type) {
	case nil:
		return nil, fmt.Errorf("actiontrigger: execute %q: data is required: %w", key, flow.ErrInvalidRecord)
	case string, int, int64, int32, float64, json.Number:
		keys := coll.Keys()
		if len(keys) != 1 {
			return nil, fmt.Errorf("actiontrigger: execute %q: %q has a composite key %v; pass the record: %w", key, coll.FullName(), keys, flow.ErrInvalidRecord)
		}
		got, err := e.Records().GetRecord(ctx, coll.FullName(), flow.Record{keys[0]: d}, w.Config.Appends)
		if err != nil {
			return nil, fmt.Errorf("actiontrigger: execute %q: %w", key, err)
		}
		rec = got
	default:
		recs, err := toRecords(data)
		if err != nil || len(recs) != 1 {
			return nil, fmt.Errorf("actiontrigger: execute %q: data must be one record or a primary key: %w", key, flow.ErrInvalidRecord)
		}
		rec = recs[0]
	}
	payload, err := e.eventData(ctx, coll, candidate{wf: w}, rec)
	if err != nil {
		return nil, fmt.Errorf("actiontrigger: execute %q: %w", key, err)
	}
	x := e.newExecution(w, map[string]any{"data": payload, "user": e.userContext(user), "roleName": user.Role}, flow.StackFrom(ctx))
	x.Manually = true
	x.Sync = true
	out, err := e.exec.RunNew(ctx, plan, x)
	if err != nil {
		return nil, fmt.Errorf("actiontrigger: execute %q: %w", key, err)
	}
	e.afterRun(out)
	return out.Execution, nil
}

// Execution returns one execution.
func (e *Engine) Execution(ctx context.Context, id string) (*flow.Execution, error) {
	x, err := e.store.GetExecution(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("actiontrigger: execution %s: %w", id, err)
	}
	return x, nil
}

// Executions lists executions, oldest first.
func (e *Engine) Executions(ctx context.Context, f ExecutionFilter) ([]*flow.Execution, error) {
	return e.store.ListExecutions(ctx, f)
}

// Jobs lists the jobs of an execution in run order.
func (e *Engine) Jobs(ctx context.Context, executionID string) ([]*flow.Job, error) {
	if _, err := e.Execution(ctx, executionID); err != nil {
		return nil, err
	}
	return e.store.ListJobs(ctx, executionID)
}

// CancelExecution aborts a queued or started execution (reason
// "manual_cancel"); its pending jobs are aborted. An execution that already
// ended gives ErrExecutionEnded; an unknown id flow.ErrNotFound.
func (e *Engine) CancelExecution(ctx context.Context, id string) error {
	err := e.abort(ctx, id, flow.ReasonManualCancel)
	if err != nil {
		return fmt.Errorf("actiontrigger: cancel: %w", err)
	}
	return nil
}

// Resume continues an execution paused at a PENDING job: the job gets status
// and result, and the execution is queued to run on from that node (the node's
// instruction decides the final job through its Resume method, if it has one).
// Only one resume of a job wins: a job that is no longer PENDING gives
// flow.ErrConflict.
func (e *Engine) Resume(ctx context.Context, jobID string, status flow.JobStatus, result any) error {
	err := e.db(ctx).InTx(ctx, func(ctx context.Context, tx storage.Store) error {
		// Locked, as a task submission and a timer waking the job lock it.
		j, err := tx.LockJob(ctx, jobID)
		if err != nil {
			return fmt.Errorf("job %s: %w", jobID, err)
		}
		x, err := tx.GetExecution(ctx, j.ExecutionID)
		if err != nil {
			return err
		}
		if x.Status != flow.ExecutionStarted {
			return fmt.Errorf("execution %s is %s: %w", x.ID, x.Status, ErrExecutionEnded)
		}
		if j.Status != flow.JobPending {
			return fmt.Errorf("job %s is %s, not PENDING: %w", jobID, j.Status, flow.ErrConflict)
		}
		u := j.Clone()
		u.Status, u.Result, u.UpdatedAt = status, result, e.cfg.Now()
		if err := tx.UpdateJob(ctx, u, flow.JobPending); err != nil {
			return err
		}
		ux := x.Clone()
		ux.Requeue(jobID)
		ux.UpdatedAt = e.cfg.Now()
		return tx.UpdateExecution(ctx, ux, storage.ExecutionExpect{Status: flow.ExecutionStarted})
	})
	if err != nil {
		return fmt.Errorf("actiontrigger: resume: %w", err)
	}
	e.notify()
	return nil
}
