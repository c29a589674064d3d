package httptrigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
	"github.com/actiontrigger/actiontrigger/storage"
)

// workflows serves workflows:list|get|create|update|revision|execute|destroy
// to admin roles. filterByTk is a workflow version's id. As in the reference
// system, destroying the current version destroys every version of its key,
// and destroying another version only that one. revision and execute take
// the current version only (the engine revises and runs a key's current
// version; naming another one is a 400 rather than acting on a different
// version than the one named).
func (a *API) workflows(w http.ResponseWriter, r *http.Request, u *actiontrigger.User, rt route) error {
	if err := a.requireAdmin(u, rt); err != nil {
		return err
	}
	switch rt.action {
	case "list", "get", "create", "update", "revision", "execute", "destroy":
	default:
		return fmt.Errorf("workflows:%s: no such action: %w", rt.action, ErrNoRoute)
	}
	if err := methods(r, rt.action); err != nil {
		return err
	}
	ctx := r.Context()
	st := a.eng.Store()
	if rt.action == "list" {
		raw, err := filterParam(r)
		if err != nil {
			return err
		}
		var f storage.WorkflowFilter
		if raw != nil {
			b, _ := json.Marshal(raw)
			var wf struct {
				Key     string `json:"key"`
				Type    string `json:"type"`
				Enabled *bool  `json:"enabled"`
				Current *bool  `json:"current"`
			}
			if err := json.Unmarshal(b, &wf); err != nil {
				return fmt.Errorf("workflows filter: key, type (text), enabled, current (true/false): %w", ErrBadRequest)
			}
			f = storage.WorkflowFilter{Key: wf.Key, Type: wf.Type, Enabled: wf.Enabled, Current: wf.Current}
		}
		pg, size, err := page(r)
		if err != nil {
			return err
		}
		out, meta, err := workflowPage(ctx, st, f, pg, size)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, dataBody{Data: out, Meta: meta})
		return nil
	}
	if rt.action == "create" {
		var wf flow.Workflow
		ok, err := a.readJSON(w, r, &wf)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("workflows:create needs a workflow document: %w", ErrBadRequest)
		}
		if wf.ID != "" {
			return fmt.Errorf("workflows:create: id is assigned by the server; update a version with workflows:update: %w", ErrBadRequest)
		}
		if wf.Key != "" {
			if have, err := st.ListWorkflows(ctx, storage.WorkflowFilter{Key: wf.Key}); err != nil {
				return err
			} else if len(have) > 0 {
				return fmt.Errorf("workflow key %q exists: use workflows:update or workflows:revision: %w", wf.Key, flow.ErrDuplicate)
			}
		}
		saved, err := a.eng.SaveWorkflow(ctx, wf)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, dataBody{Data: saved})
		return nil
	}

	id := tkParam(r, rt)
	if id == "" {
		return fmt.Errorf("workflows:%s needs filterByTk (a workflow id): %w", rt.action, ErrBadRequest)
	}
	cur, err := st.GetWorkflow(ctx, id)
	if err != nil {
		return err
	}
	switch rt.action {
	case "get":
		writeJSON(w, http.StatusOK, dataBody{Data: cur})
	case "update":
		// The body holds the members to change; the others keep their values.
		var patch map[string]json.RawMessage
		ok, err := a.readJSON(w, r, &patch)
		if err != nil {
			return err
		}
		if !ok || patch == nil {
			return fmt.Errorf("workflows:update needs a JSON object of the members to change: %w", ErrBadRequest)
		}
		for _, k := range []string{"id", "key"} {
			if _, ok := patch[k]; ok {
				return fmt.Errorf("workflows:update: %q cannot change: %w", k, ErrBadRequest)
			}
		}
		base, err := json.Marshal(cur)
		if err != nil {
			return err
		}
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(base, &doc); err != nil {
			return err
		}
		for k, v := range patch {
			doc[k] = v
		}
		merged, _ := json.Marshal(doc)
		var wf flow.Workflow
		if err := json.Unmarshal(merged, &wf); err != nil {
			return fmt.Errorf("workflows:update: %v: %w", err, ErrBadRequest)
		}
		saved, err := a.eng.SaveWorkflow(ctx, wf)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, dataBody{Data: saved})
	case "revision":
		// The engine revises the current version of a key; copying another
		// version silently would hand back a revision of something else than
		// the version named.
		if !cur.Current {
			return fmt.Errorf("workflows:revision: version %d of %q is not the current version: revise the current one: %w", cur.Version, cur.Key, ErrBadRequest)
		}
		rev, err := a.eng.Revise(ctx, cur.Key)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, dataBody{Data: rev})
	case "destroy":
		// As in the reference system: destroying the current version destroys
		// every version of its key; destroying another version (a draft
		// revision, an old version) destroys only that one.
		if cur.Current {
			if err := a.eng.DeleteWorkflow(ctx, cur.Key); err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, dataBody{Data: map[string]any{"key": cur.Key}})
			return nil
		}
		if err := a.destroyVersion(r, cur.ID); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, dataBody{Data: map[string]any{"key": cur.Key, "id": cur.ID}})
	case "execute":
		return a.execute(w, r, cur)
	}
	return nil
}

// destroyVersion deletes one version that is not current (so not enabled:
// the engine's enabled workflows are current ones). A version with queued or
// paused executions is kept (flow.ErrConflict): cancel them first.
func (a *API) destroyVersion(r *http.Request, id string) error {
	err := a.eng.DeleteVersion(r.Context(), id)
	if errors.Is(err, flow.ErrConflict) {
		return fmt.Errorf("%w (cancel queued or paused executions with executions:cancel)", err)
	}
	return err
}

// execute serves workflows:execute: body {"data": record or key, "userId": id,
// "roleName": role}. It runs the workflow version synchronously, even when
// disabled or async (a manual run). The engine runs the current version of a
// key, so filterByTk must name the current version.
func (a *API) execute(w http.ResponseWriter, r *http.Request, wf *flow.Workflow) error {
	if !wf.Current {
		return fmt.Errorf("workflows:execute: version %d of %q is not the current version: %w", wf.Version, wf.Key, ErrBadRequest)
	}
	var body struct {
		Data     any    `json:"data"`
		UserID   any    `json:"userId"`
		RoleName string `json:"roleName"`
	}
	ok, err := a.readJSON(w, r, &body)
	if err != nil {
		return err
	}
	if !ok || body.Data == nil {
		return fmt.Errorf("workflows:execute needs {\"data\": <record or key>, \"userId\": <id>}: %w", ErrBadRequest)
	}
	if body.UserID == nil || body.UserID == "" {
		return fmt.Errorf("workflows:execute: userId is required: %w", ErrBadRequest)
	}
	if a.opts.Users == nil {
		return fmt.Errorf("workflows:execute: this server has no user directory: %w", ErrBadRequest)
	}
	p, err := a.opts.Users.LookupUser(r.Context(), body.UserID)
	if err != nil {
		if errors.Is(err, flow.ErrNotFound) {
			return fmt.Errorf("user not found: %v: %w", body.UserID, ErrBadRequest)
		}
		return err
	}
	user := p.User
	user.Role = body.RoleName
	if user.Role == "" && len(p.Roles) > 0 {
		user.Role = p.Roles[0]
	}
	// A run acts under a role the user has, as a request with X-Role does.
	if body.RoleName != "" && !slices.Contains(p.Roles, body.RoleName) {
		return fmt.Errorf("workflows:execute: roleName %q is not one of user %v's roles %v: %w", body.RoleName, body.UserID, p.Roles, ErrRoleNotAllowed)
	}
	x, err := a.eng.Execute(r.Context(), wf.Key, body.Data, user)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, dataBody{Data: map[string]any{
		"execution": map[string]any{"id": x.ID, "status": x.Status},
	}})
	return nil
}

// workflowPage lists one page of workflow versions: paged and counted in the
// store when it is a storage.WorkflowCounter, else listed whole and paged
// here.
func workflowPage(ctx context.Context, st storage.Store, f storage.WorkflowFilter, pg, size int) ([]*flow.Workflow, pageMeta, error) {
	wc, ok := st.(storage.WorkflowCounter)
	if !ok {
		list, err := st.ListWorkflows(ctx, f)
		if err != nil {
			return nil, pageMeta{}, err
		}
		out, meta := pageOf(list, pg, size)
		return out, meta, nil
	}
	f.Limit, f.Offset = size, (pg-1)*size
	out, err := st.ListWorkflows(ctx, f)
	if err != nil {
		return nil, pageMeta{}, err
	}
	if out == nil {
		out = []*flow.Workflow{}
	}
	total := f.Offset + len(out)
	if len(out) == 0 || len(out) == size {
		// Not visibly the last page: count.
		if total, err = wc.CountWorkflows(ctx, f); err != nil {
			return nil, pageMeta{}, err
		}
	}
	return out, pageMeta{Count: total, Page: pg, PageSize: size, TotalPage: (total + size - 1) / size}, nil
}

// executions serves executions:list|get|cancel|retry to admin roles.
// executions:retry?filterByTk=<id> continues one execution that ended by a
// fault (Engine.Retry) and answers it as executions:get does;
// executions:retry?filter={"key": "...", "status": -2} continues every such
// execution of a workflow (ERROR, or ABORTED by timeout with -3) and
// answers {"data": {"count": n}}.
func (a *API) executions(w http.ResponseWriter, r *http.Request, u *actiontrigger.User, rt route) error {
	if err := a.requireAdmin(u, rt); err != nil {
		return err
	}
	switch rt.action {
	case "list", "get", "cancel", "retry":
	default:
		return fmt.Errorf("executions:%s: no such action: %w", rt.action, ErrNoRoute)
	}
	if err := methods(r, rt.action); err != nil {
		return err
	}
	ctx := r.Context()
	switch rt.action {
	case "list":
		raw, err := filterParam(r)
		if err != nil {
			return err
		}
		var f storage.ExecutionFilter
		if raw != nil {
			b, _ := json.Marshal(raw)
			var xf struct {
				WorkflowID string `json:"workflowId"`
				Key        string `json:"key"`
				Status     any    `json:"status"`
			}
			if err := json.Unmarshal(b, &xf); err != nil {
				return fmt.Errorf("executions filter: workflowId, key (text), status (a number or a list): %w", ErrBadRequest)
			}
			f.WorkflowID, f.Key = xf.WorkflowID, xf.Key
			if f.Statuses, err = statuses[flow.ExecutionStatus](xf.Status); err != nil {
				return err
			}
		}
		pg, size, err := page(r)
		if err != nil {
			return err
		}
		f.Limit, f.Offset = size, (pg-1)*size
		list, err := a.eng.Executions(ctx, f)
		if err != nil {
			return err
		}
		if list == nil {
			list = []*flow.Execution{}
		}
		if list, err = a.publicExecutions(ctx, list...); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, dataBody{Data: list, Meta: map[string]int{"page": pg, "pageSize": size}})
		return nil
	}
	id := tkParam(r, rt)
	if id == "" && rt.action == "retry" {
		return a.retryMany(w, r)
	}
	if id == "" {
		return fmt.Errorf("executions:%s needs filterByTk (an execution id): %w", rt.action, ErrBadRequest)
	}
	switch rt.action {
	case "cancel":
		if err := a.eng.CancelExecution(ctx, id); err != nil {
			return err
		}
	case "retry":
		if _, err := a.eng.Retry(ctx, id); err != nil {
			return err
		}
	}
	x, err := a.eng.Execution(ctx, id)
	if err != nil {
		return err
	}
	xs, err := a.publicExecutions(ctx, x)
	if err != nil {
		return err
	}
	x = xs[0]
	if !slices.Contains(listParam(r, "appends"), "jobs") {
		writeJSON(w, http.StatusOK, dataBody{Data: x})
		return nil
	}
	jobs, err := a.eng.Jobs(ctx, id)
	if err != nil {
		return err
	}
	if jobs == nil {
		jobs = []*flow.Job{}
	}
	writeJSON(w, http.StatusOK, dataBody{Data: struct {
		*flow.Execution
		Jobs []*flow.Job `json:"jobs"`
	}{x, jobs}})
	return nil
}

// retryMany serves executions:retry with a filter: {"key": <workflow key>,
// "status": -2 (ERROR, the default) or -3 (ABORTED by timeout)}.
func (a *API) retryMany(w http.ResponseWriter, r *http.Request) error {
	raw, err := filterParam(r)
	if err != nil {
		return err
	}
	var xf struct {
		Key    string `json:"key"`
		Status *int   `json:"status"`
	}
	if raw != nil {
		b, _ := json.Marshal(raw)
		if err := json.Unmarshal(b, &xf); err != nil {
			return fmt.Errorf("executions:retry filter: key (text), status (-2 or -3): %w", ErrBadRequest)
		}
	}
	if xf.Key == "" {
		return fmt.Errorf("executions:retry needs filterByTk (an execution id) or filter={\"key\": <workflow key>, \"status\": -2 or -3}: %w", ErrBadRequest)
	}
	f := actiontrigger.RetryFilter{WorkflowKey: xf.Key}
	if xf.Status != nil {
		f.Status = flow.ExecutionStatus(*xf.Status)
	}
	n, err := a.eng.RetryExecutions(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, dataBody{Data: map[string]int{"count": n}})
	return nil
}

// tasks serves workflowManualTasks:listMine and :submit (filterByTk = task id,
// body {"result": {"<formKey>": {...}, "_": "<actionKey>"}}).
func (a *API) tasks(w http.ResponseWriter, r *http.Request, u *actiontrigger.User, rt route) error {
	switch rt.action {
	case "listMine", "submit":
	default:
		return fmt.Errorf("workflowManualTasks:%s: no such action: %w", rt.action, ErrNoRoute)
	}
	if err := methods(r, rt.action); err != nil {
		return err
	}
	ctx := r.Context()
	if rt.action == "listMine" {
		raw, err := filterParam(r)
		if err != nil {
			return err
		}
		var f actiontrigger.TaskFilter
		if raw != nil {
			b, _ := json.Marshal(raw)
			var tf struct {
				WorkflowKey string `json:"workflowKey"`
				Status      any    `json:"status"`
			}
			if err := json.Unmarshal(b, &tf); err != nil {
				return fmt.Errorf("workflowManualTasks filter: workflowKey (text), status (a number or a list): %w", ErrBadRequest)
			}
			f.WorkflowKey = tf.WorkflowKey
			if f.Statuses, err = statuses[flow.TaskStatus](tf.Status); err != nil {
				return err
			}
		}
		pg, size, err := page(r)
		if err != nil {
			return err
		}
		// One task more than the page tells whether another page follows.
		f.Limit, f.Offset = size+1, (pg-1)*size
		list, err := a.eng.Tasks(ctx, *u, f)
		if err != nil {
			return err
		}
		hasNext := len(list) > size
		if hasNext {
			list = list[:size]
		}
		if list == nil {
			list = []*flow.Task{}
		}
		writeJSON(w, http.StatusOK, dataBody{Data: list, Meta: taskPageMeta{HasNext: hasNext, Page: pg, PageSize: size}})
		return nil
	}
	id := tkParam(r, rt)
	if id == "" {
		return fmt.Errorf("workflowManualTasks:submit needs filterByTk (a task id): %w", ErrBadRequest)
	}
	var body struct {
		Result map[string]any `json:"result"`
	}
	ok, err := a.readJSON(w, r, &body)
	if err != nil {
		return err
	}
	if !ok || body.Result == nil {
		return fmt.Errorf(`workflowManualTasks:submit needs {"result": {"<formKey>": {...}, "_": "<actionKey>"}}: %w`, ErrBadRequest)
	}
	t, err := a.eng.SubmitTask(ctx, id, *u, body.Result)
	if err != nil {
		return err
	}
	// 202 as in the reference system: the execution resumes asynchronously.
	writeJSON(w, http.StatusAccepted, dataBody{Data: t})
	return nil
}

// taskPageMeta is listMine's meta, the reference system's simple paging:
// no count, whether a next page exists.
type taskPageMeta struct {
	HasNext  bool `json:"hasNext"`
	Page     int  `json:"page"`
	PageSize int  `json:"pageSize"`
}

// statuses reads a status filter: a number or a list of numbers.
func statuses[S ~int](v any) ([]S, error) {
	var list []any
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []any:
		list = x
	default:
		list = []any{x}
	}
	out := make([]S, 0, len(list))
	for _, s := range list {
		n, ok := s.(float64)
		if !ok || n != float64(int(n)) {
			return nil, fmt.Errorf("status %v: want a number: %w", s, ErrBadRequest)
		}
		out = append(out, S(int(n)))
	}
	return out, nil
}

// publicExecutions returns copies of xs whose contexts have no hidden fields:
// $context.data by the collection of the execution's workflow, and
// $context.user by the "users" collection. The engine already leaves them
// out when it builds a context; this keeps them out of responses whatever
// wrote the execution.
func (a *API) publicExecutions(ctx context.Context, xs ...*flow.Execution) ([]*flow.Execution, error) {
	colls := map[string]*flow.Collection{}
	users, _ := a.eng.Collection("users")
	out := make([]*flow.Execution, len(xs))
	for i, x := range xs {
		coll, seen := colls[x.WorkflowID]
		if !seen {
			wf, err := a.eng.Store().GetWorkflow(ctx, x.WorkflowID)
			if err != nil && !errors.Is(err, flow.ErrNotFound) {
				return nil, err
			}
			if wf != nil && wf.Config.Collection != "" {
				coll, _ = a.eng.Collection(wf.Config.Collection)
			}
			colls[x.WorkflowID] = coll
		}
		c := x.Clone()
		c.Context = maps.Clone(x.Context)
		if d, ok := c.Context["data"].(map[string]any); ok && coll != nil {
			c.Context["data"] = nodes.StripHidden(a.eng, coll, d)
		}
		if d, ok := c.Context["user"].(map[string]any); ok && users != nil {
			c.Context["user"] = nodes.StripHidden(a.eng, users, d)
		}
		out[i] = c
	}
	return out, nil
}
