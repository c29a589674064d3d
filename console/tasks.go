package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
)

// inboxView is the inbox page's data.
type inboxView struct {
	Done  bool
	Tasks []*flow.Task
	Pager pager
}

// inbox lists the signed-in user's pending tasks (?show=done: decided
// ones), oldest first.
func (c *Console) inbox(w http.ResponseWriter, r *http.Request, s *session) error {
	pg, err := pageParam(r)
	if err != nil {
		return err
	}
	done := r.URL.Query().Get("show") == "done"
	f := actiontrigger.TaskFilter{Statuses: []flow.TaskStatus{flow.TaskPending}}
	if done {
		f.Statuses = []flow.TaskStatus{flow.TaskResolved, flow.TaskRejected, flow.TaskAborted}
	}
	size := c.opts.PageSize
	f.Limit, f.Offset = size+1, (pg-1)*size
	tasks, err := c.eng.Tasks(r.Context(), s.User, f)
	if err != nil {
		return err
	}
	more := len(tasks) > size
	if more {
		tasks = tasks[:size]
	}
	q := url.Values{}
	if done {
		q.Set("show", "done")
	}
	v := &view{S: s, Nav: "inbox", Data: inboxView{Done: done, Tasks: tasks, Pager: c.newPager("tasks", q, pg, more)}}
	c.render(w, "Approvals", http.StatusOK, "inbox", v)
	return nil
}

// taskView is the task page's data.
type taskView struct {
	Task       *flow.Task
	Assignee   bool
	Workflow   *flow.Workflow
	Execution  *flow.Execution
	Collection string
	Record     []fieldView
	Actor      []fieldView
	RoleName   string
	Forms      []formView
	Result     []fieldView
	Submitted  bool
}

// fieldView is one shown value.
type fieldView struct {
	Name  string
	Value string
	// Block marks a structured value (JSON) shown preformatted.
	Block bool
}

// formView is one form of a manual node.
type formView struct {
	Index      int
	Key        string
	Title      string
	Type       string
	Collection string
	Inputs     []inputView
	Actions    []actionView
}

// inputView is one input of a form.
type inputView struct {
	Name  string
	Field string
	Label string
	// Kind is text, textarea, integer, number or boolean.
	Kind  string
	Value string
}

// actionView is one submit button of a form.
type actionView struct {
	Value  string
	Key    string
	Status int
}

// taskAccess loads task id and checks that s may open it: its assignee, or
// an admin role (read only).
func (c *Console) taskAccess(ctx context.Context, s *session, id string) (*flow.Task, bool, error) {
	t, err := c.eng.Store().GetTask(ctx, id)
	if err != nil {
		return nil, false, fmt.Errorf("task %s: %w", id, err)
	}
	mine := t.UserID != "" && t.UserID == flow.UserKey(s.User.ID)
	if !mine && !s.Admin {
		return nil, false, fmt.Errorf("task %s is assigned to another user: %w", id, actiontrigger.ErrForbidden)
	}
	return t, mine, nil
}

// taskPage shows one task: the record and context it concerns, as the
// user's role may view them, and the node's forms.
func (c *Console) taskPage(w http.ResponseWriter, r *http.Request, s *session) error {
	t, mine, err := c.taskAccess(r.Context(), s, r.PathValue("id"))
	if err != nil {
		return err
	}
	tv, err := c.taskView(r.Context(), s, t, mine, nil)
	if err != nil {
		return err
	}
	tv.Submitted = r.URL.Query().Get("submitted") == "1" && t.Status != flow.TaskPending
	c.render(w, taskTitle(t), http.StatusOK, "task", &view{S: s, Nav: "inbox", Data: tv})
	return nil
}

func taskTitle(t *flow.Task) string {
	if t.Title != "" {
		return t.Title
	}
	return "Task " + t.NodeKey
}

// taskView builds the task page; posted, when set, refills the inputs.
func (c *Console) taskView(ctx context.Context, s *session, t *flow.Task, mine bool, posted url.Values) (*taskView, error) {
	tv := &taskView{Task: t, Assignee: mine}
	wf, err := c.eng.WorkflowVersion(ctx, t.WorkflowID)
	if err != nil && !errors.Is(err, flow.ErrNotFound) {
		return nil, err
	}
	tv.Workflow = wf
	x, err := c.eng.Execution(ctx, t.ExecutionID)
	if err != nil && !errors.Is(err, flow.ErrNotFound) {
		return nil, err
	}
	if x != nil {
		tv.Execution = x
		if wf != nil && wf.Config.Collection != "" {
			tv.Collection = wf.Config.Collection
			if coll, ok := c.eng.Collection(wf.Config.Collection); ok {
				if d, ok := x.Context["data"].(map[string]any); ok {
					tv.Record = recordFields(coll, c.api.ViewRecord(s.User, coll, d))
				}
			}
		}
		if d, ok := x.Context["user"].(map[string]any); ok {
			if users, ok := c.eng.Collection("users"); ok {
				tv.Actor = recordFields(users, c.api.ViewRecord(s.User, users, d))
			} else {
				tv.Actor = recordFields(nil, d)
			}
		}
		tv.RoleName, _ = x.Context["roleName"].(string)
	}
	if t.Status != flow.TaskPending {
		if res, ok := t.Result.(map[string]any); ok {
			// {"<formKey>": {...}, "_": "<actionKey>"}: the action first.
			if a, ok := res["_"].(string); ok {
				tv.Result = append(tv.Result, fieldView{Name: "action", Value: a})
			}
			rest := maps.Clone(res)
			delete(rest, "_")
			tv.Result = append(tv.Result, recordFields(nil, rest)...)
		}
	}
	if wf != nil && mine && t.Status == flow.TaskPending {
		if n := findNode(wf.Nodes, t.NodeKey); n != nil {
			saved, _ := t.Result.(map[string]any)
			tv.Forms = c.forms(n, saved, posted)
		}
	}
	return tv, nil
}

// findNode finds the node with key in nodes and their branches.
func findNode(nodes []flow.Node, key string) *flow.Node {
	for i := range nodes {
		if nodes[i].Key == key {
			return &nodes[i]
		}
		for _, b := range slices.Sorted(maps.Keys(nodes[i].Branches)) {
			if n := findNode(nodes[i].Branches[b], key); n != nil {
				return n
			}
		}
	}
	return nil
}

// forms reads a manual node's config.forms (docs/approvals.md): each form,
// in key order, with its inputs and actions. A create or update form asks
// for the collection's plain fields (no hidden, association or system
// fields); a custom form for a comment. saved (a draft the user saved) and
// posted (a refused submission) fill the inputs.
func (c *Console) forms(n *flow.Node, saved map[string]any, posted url.Values) []formView {
	raw, _ := n.Config["forms"].(map[string]any)
	var out []formView
	for i, key := range slices.Sorted(maps.Keys(raw)) {
		def, _ := raw[key].(map[string]any)
		fv := formView{Index: i, Key: key, Type: "custom"}
		fv.Title, _ = def["title"].(string)
		if typ, _ := def["type"].(string); typ != "" {
			fv.Type = typ
		}
		prefix := "f" + strconv.Itoa(i) + "."
		prev, _ := saved[key].(map[string]any)
		value := func(field string) string {
			if posted != nil {
				return posted.Get(prefix + field)
			}
			if v, ok := prev[field]; ok && v != nil {
				return plain(v)
			}
			return ""
		}
		switch fv.Type {
		case "create", "update":
			ds, _ := def["dataSource"].(string)
			name, _ := def["collection"].(string)
			fv.Collection = flow.JoinCollectionName(ds, name)
			if coll, ok := c.eng.Collection(fv.Collection); ok {
				for _, f := range coll.Fields {
					kind, ok := inputKind(coll, f)
					if !ok {
						continue
					}
					fv.Inputs = append(fv.Inputs, inputView{Name: prefix + f.Name, Field: f.Name, Label: f.Name, Kind: kind, Value: value(f.Name)})
				}
			}
		default:
			fv.Inputs = append(fv.Inputs, inputView{Name: prefix + "comment", Field: "comment", Label: "comment", Kind: "textarea", Value: value("comment")})
		}
		acts, _ := def["actions"].([]any)
		for _, a := range acts {
			am, _ := a.(map[string]any)
			ak, _ := am["key"].(string)
			if ak == "" {
				continue
			}
			st, _ := toInt(am["status"])
			fv.Actions = append(fv.Actions, actionView{Value: strconv.Itoa(i) + ":" + ak, Key: ak, Status: st})
		}
		out = append(out, fv)
	}
	return out
}

// systemFields are stamped by the server, never typed in a form.
var systemFields = map[string]bool{"id": true, "createdAt": true, "updatedAt": true, "createdById": true, "updatedById": true}

// inputKind picks the input for a field; false for fields a form does not
// ask for (hidden, associations, system fields, keys, structured values).
func inputKind(coll *flow.Collection, f flow.Field) (string, bool) {
	if f.Hidden || f.Type.IsAssociation() || systemFields[f.Name] || slices.Contains(coll.PrimaryKey, f.Name) {
		return "", false
	}
	switch f.Type {
	case flow.FieldString, flow.FieldDate:
		return "text", true
	case flow.FieldText:
		return "textarea", true
	case flow.FieldInteger:
		return "integer", true
	case flow.FieldNumber:
		return "number", true
	case flow.FieldBoolean:
		return "boolean", true
	}
	return "", false
}

func toInt(v any) (int, bool) {
	switch x := v.(type) {
	case int:
		return x, true
	case int64:
		return int(x), true
	case float64:
		return int(x), x == float64(int(x))
	}
	return 0, false
}

// submitTask submits the form whose action button was pressed, as
// Engine.SubmitTask: {"<formKey>": {...}, "_": "<actionKey>"}. A refused
// submission shows the task again with the error.
func (c *Console) submitTask(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	id := r.PathValue("id")
	t, mine, err := c.taskAccess(ctx, s, id)
	if err != nil {
		return err
	}
	sub, err := c.submission(ctx, t, r.PostForm)
	if err == nil {
		_, err = c.eng.SubmitTask(ctx, id, s.User, sub)
	}
	if err == nil {
		http.Redirect(w, r, c.base+"tasks/"+url.PathEscape(id)+"?submitted=1", http.StatusSeeOther)
		return nil
	}
	code := statusOf(err)
	if code >= 500 {
		return err
	}
	// Show the task as it now is, the inputs as they were posted.
	if nt, err := c.eng.Store().GetTask(ctx, id); err == nil {
		t = nt
	}
	tv, verr := c.taskView(ctx, s, t, mine, r.PostForm)
	if verr != nil {
		return verr
	}
	c.render(w, taskTitle(t), code, "task", &view{S: s, Nav: "inbox", Error: submitMessage(err), Data: tv})
	return nil
}

// submitMessage is the inline error of a refused submission.
func submitMessage(err error) string {
	switch {
	case errors.Is(err, actiontrigger.ErrForbidden):
		return "You are not an assignee of this task, so you cannot decide it (" + err.Error() + ")."
	case errors.Is(err, actiontrigger.ErrExecutionTimedOut):
		return "The execution passed its timeout and was aborted: the task can no longer be decided."
	case errors.Is(err, actiontrigger.ErrInvalidSubmission):
		return "The submission was refused: " + err.Error()
	}
	return err.Error()
}

// submission reads the posted form: act = "<form index>:<action key>" and
// the inputs of that form, typed by their fields; empty inputs are left out.
func (c *Console) submission(ctx context.Context, t *flow.Task, form url.Values) (map[string]any, error) {
	act := form.Get("act")
	idx, actionKey, ok := strings.Cut(act, ":")
	i, err := strconv.Atoi(idx)
	if !ok || err != nil || actionKey == "" {
		return nil, fmt.Errorf("no action chosen: %w", errBadInput)
	}
	wf, err := c.eng.WorkflowVersion(ctx, t.WorkflowID)
	if err != nil {
		return nil, err
	}
	n := findNode(wf.Nodes, t.NodeKey)
	if n == nil {
		return nil, fmt.Errorf("node %q is not in the workflow: %w", t.NodeKey, actiontrigger.ErrInvalidSubmission)
	}
	forms := c.forms(n, nil, form)
	if i < 0 || i >= len(forms) {
		return nil, fmt.Errorf("no form %d: %w", i, errBadInput)
	}
	fv := forms[i]
	values := map[string]any{}
	var bad []string
	for _, in := range fv.Inputs {
		raw := strings.TrimSpace(in.Value)
		if raw == "" {
			continue
		}
		switch in.Kind {
		case "integer":
			n, err := strconv.ParseInt(raw, 10, 64)
			if err != nil {
				bad = append(bad, in.Label+": not a whole number")
				continue
			}
			values[in.Field] = n
		case "number":
			n, err := strconv.ParseFloat(raw, 64)
			if err != nil {
				bad = append(bad, in.Label+": not a number")
				continue
			}
			values[in.Field] = n
		case "boolean":
			values[in.Field] = raw == "true"
		case "textarea":
			values[in.Field] = in.Value
		default:
			values[in.Field] = raw
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s: %w", strings.Join(bad, "; "), errBadInput)
	}
	return map[string]any{fv.Key: values, "_": actionKey}, nil
}

// recordFields lists rec's values for display: coll's fields in their
// declared order, then the others by name.
func recordFields(coll *flow.Collection, rec map[string]any) []fieldView {
	var out []fieldView
	seen := map[string]bool{}
	add := func(k string) {
		v, ok := rec[k]
		if !ok || seen[k] {
			return
		}
		seen[k] = true
		s, block := display(v)
		out = append(out, fieldView{Name: k, Value: s, Block: block})
	}
	if coll != nil {
		for _, f := range coll.Fields {
			add(f.Name)
		}
	}
	rest := slices.Collect(maps.Keys(rec))
	slices.SortFunc(rest, cmp.Compare)
	for _, k := range rest {
		add(k)
	}
	return out
}
