package nodes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/actiontrigger/actiontrigger/expression"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// Errors of task submissions.
var (
	// ErrForbidden: the submitting user is not the task's assignee.
	ErrForbidden = errors.New("forbidden")
	// ErrInvalidSubmission: the task, its job or its execution is no longer
	// waiting, or the submission names no action of the form.
	ErrInvalidSubmission = errors.New("invalid submission")
)

// Manual approval modes.
const (
	// ModeSingle: all assignees share one decision; the first decides.
	ModeSingle = 0
	// ModeAll: every assignee must resolve; one rejection rejects.
	ModeAll = 1
	// ModeAny: one resolution resolves; all must reject to reject.
	ModeAny = -1
)

// Manual is the "manual" approval node: it creates one task per assignee and
// pauses the execution until they decide. Config:
//
//	assignees  user ids and/or templates ("{{$context.data.createdById}}"),
//	           flattened and de-duplicated; none resolves the node at once
//	mode       0 (one shared decision, default), 1 (all must pass), -1 (any passes)
//	title      task title template (default: the node title)
//	forms      {"<formKey>": {"type": "custom"|"create"|"update", "collection",
//	           "filter", "actions": [{"key", "status": 1|-5|0, "values"}]}}
//
// Action status 1 resolves, -5 rejects, 0 saves the form and keeps waiting.
type Manual struct{}

type manualConfig struct {
	Assignees []any                 `json:"assignees"`
	Mode      int                   `json:"mode"`
	Title     string                `json:"title"`
	Schema    any                   `json:"schema"`
	Forms     map[string]manualForm `json:"forms"`
	// Deadline is decoded on its own (compileDeadline), so that its errors
	// name its fields.
	Deadline json.RawMessage `json:"deadline"`
}

type manualForm struct {
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Collection string         `json:"collection"`
	DataSource string         `json:"dataSource"`
	Filter     map[string]any `json:"filter"`
	Actions    []manualAction `json:"actions"`
}

type manualAction struct {
	Key    string         `json:"key"`
	Status *int           `json:"status"`
	Values map[string]any `json:"values"`
}

// ManualPlan is the compiled config of a manual node.
type ManualPlan struct {
	Mode      int
	assignees *expression.Template
	title     *expression.Template
	forms     map[string]*ManualFormPlan
	// deadline is the first round's deadline (nil: none); escalations
	// follow its then chain.
	deadline *deadlinePlan
}

// ManualFormPlan is one compiled form of a manual node.
type ManualFormPlan struct {
	Key        string
	Type       string
	Collection string
	coll       *flow.Collection
	filter     *expression.Template
	actions    map[string]*manualActionPlan
}

type manualActionPlan struct {
	status flow.TaskStatus
	values *expression.Template
}

// CanPause implements Pauser.
func (Manual) CanPause(*flow.Node) bool { return true }

// Compile implements Instruction.
func (Manual) Compile(c *CompileContext, node *flow.Node) (any, error) {
	var cfg manualConfig
	if err := DecodeConfig(c, node, &cfg); err != nil {
		return nil, err
	}
	if cfg.Mode != ModeSingle && cfg.Mode != ModeAll && cfg.Mode != ModeAny {
		return nil, c.Invalid(node, "config.mode", fmt.Sprintf("mode must be 0, 1 or -1, not %d", cfg.Mode), nil)
	}
	p := &ManualPlan{Mode: cfg.Mode, forms: map[string]*ManualFormPlan{}}
	assignees := cfg.Assignees
	if assignees == nil {
		assignees = []any{}
	}
	var err error
	if p.assignees, err = CompileTemplate(c, node, "config.assignees", assignees); err != nil {
		return nil, err
	}
	title := cfg.Title
	if title == "" {
		title = node.Title
	}
	if p.title, err = CompileTemplate(c, node, "config.title", title); err != nil {
		return nil, err
	}
	for key, f := range cfg.Forms {
		field := "config.forms." + key
		fp := &ManualFormPlan{Key: key, Type: f.Type, actions: map[string]*manualActionPlan{}}
		switch f.Type {
		case "", "custom":
			fp.Type = "custom"
		case "create", "update":
			name := flow.JoinCollectionName(f.DataSource, f.Collection)
			if f.Collection == "" {
				return nil, c.Invalid(node, field+".collection", "a "+f.Type+" form needs a collection", nil)
			}
			coll, ok := c.Collections.Collection(name)
			if !ok {
				return nil, c.Invalid(node, field+".collection", fmt.Sprintf("collection %q is not declared", name), flow.ErrUnknownCollection)
			}
			fp.Collection, fp.coll = name, coll
			if f.Type == "update" {
				if len(f.Filter) == 0 {
					return nil, c.Invalid(node, field+".filter", "an update form needs a filter", nil)
				}
				if fp.filter, err = CompileTemplate(c, node, field+".filter", f.Filter); err != nil {
					return nil, err
				}
			}
		default:
			return nil, c.Invalid(node, field+".type", fmt.Sprintf("unknown form type %q (custom, create or update)", f.Type), nil)
		}
		for i, a := range f.Actions {
			af := fmt.Sprintf("%s.actions[%d]", field, i)
			if a.Key == "" {
				return nil, c.Invalid(node, af+".key", "action key is required", nil)
			}
			if _, dup := fp.actions[a.Key]; dup {
				return nil, c.Invalid(node, af+".key", fmt.Sprintf("duplicate action key %q", a.Key), flow.ErrDuplicate)
			}
			if a.Status == nil {
				return nil, c.Invalid(node, af+".status", "action status is required (1 resolve, -5 reject, 0 save)", nil)
			}
			st := flow.TaskStatus(*a.Status)
			if st != flow.TaskResolved && st != flow.TaskRejected && st != flow.TaskPending {
				return nil, c.Invalid(node, af+".status", fmt.Sprintf("action status must be 1, -5 or 0, not %d", *a.Status), nil)
			}
			ap := &manualActionPlan{status: st}
			if len(a.Values) > 0 {
				if ap.values, err = CompileTemplate(c, node, af+".values", a.Values); err != nil {
					return nil, err
				}
			}
			fp.actions[a.Key] = ap
		}
		p.forms[key] = fp
	}
	if p.deadline, err = compileDeadline(c, node, "config.deadline", cfg.Deadline); err != nil {
		return nil, err
	}
	return p, nil
}

// Run implements Instruction: it resolves at once without assignees, and
// otherwise saves one PENDING task per assignee and pauses. With a deadline,
// the job's Meta holds when it falls due (see Wake).
func (Manual) Run(ctx context.Context, r *RunContext, _ *flow.Job) (Result, error) {
	p := r.Compiled.(*ManualPlan)
	rendered, err := p.assignees.RenderChecked(r.Scope)
	if err != nil {
		return Result{}, fmt.Errorf("manual: assignees: %w", err)
	}
	users := assigneeKeys(rendered)
	if len(users) == 0 {
		return Resolved(nil), nil
	}
	if _, err := p.insertTasks(ctx, r.Tasks, r.Scope, taskOwner{r.JobID, r.Execution, r.Workflow, r.Node.Key}, users, r.Now); err != nil {
		return Result{}, err
	}
	res := Pending(nil)
	if p.deadline != nil {
		st := deadlineState{}
		st.arm(p.deadline, r.Now)
		res.Meta = st.meta(nil)
	}
	res.Result = p.initialResult()
	return res, nil
}

// initialResult is the result of a job waiting for its first decision.
func (p *ManualPlan) initialResult() any {
	if p.Mode != ModeSingle {
		return []any{}
	}
	return nil
}

// taskOwner is what the tasks of a job point back at.
type taskOwner struct {
	jobID     string
	execution *flow.Execution
	workflow  *flow.Workflow
	nodeKey   string
}

// insertTasks saves one PENDING task per user, titled by the node's title
// template, and returns them.
func (p *ManualPlan) insertTasks(ctx context.Context, tasks Tasks, scope expression.Scope, o taskOwner, users []string, now time.Time) ([]*flow.Task, error) {
	if tasks == nil {
		return nil, fmt.Errorf("manual: the run context has no tasks to save")
	}
	tv, err := p.title.RenderChecked(scope)
	if err != nil {
		return nil, fmt.Errorf("manual: title: %w", err)
	}
	title, _ := tv.(string)
	out := make([]*flow.Task, 0, len(users))
	for _, u := range users {
		t := &flow.Task{
			ID: newTaskID(), JobID: o.jobID, ExecutionID: o.execution.ID, WorkflowID: o.workflow.ID,
			WorkflowKey: o.workflow.Key, NodeKey: o.nodeKey, UserID: u, Title: title,
			Status: flow.TaskPending, CreatedAt: now, UpdatedAt: now,
		}
		if err := tasks.InsertTask(ctx, t); err != nil {
			return nil, fmt.Errorf("manual: save task for user %s: %w", u, err)
		}
		out = append(out, t)
	}
	return out, nil
}

// Resume implements Resumer: the job is as the decisive submission left it.
func (Manual) Resume(_ context.Context, _ *RunContext, j *flow.Job) (Result, error) {
	return WithStatus(j.Status, j.Result).WithMeta(j.Meta), nil
}

// Assignees renders the assignee list: flattened, de-duplicated, empty entries
// dropped, as user keys (flow.UserKey). A render past the template budget
// gives no assignees.
func (p *ManualPlan) Assignees(s expression.Scope) []string {
	return assigneeKeys(p.assignees.Render(s))
}

// assigneeKeys flattens rendered assignees into de-duplicated user keys.
func assigneeKeys(rendered any) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case nil, bool:
		case string:
			if x != "" && !seen[x] {
				seen[x] = true
				out = append(out, x)
			}
		case float64:
			if x != 0 {
				walk(flow.UserKey(x))
			}
		case int:
			if x != 0 {
				walk(flow.UserKey(x))
			}
		case int64:
			if x != 0 {
				walk(flow.UserKey(x))
			}
		default:
			walk(flow.UserKey(x))
		}
	}
	walk(rendered)
	return out
}

// Submission is what an assignee submits: {"<formKey>": {...}, "_": "<actionKey>"}.
type Submission = map[string]any

func (s *SubmitContext) records() storage.RecordAccess {
	if s.Records != nil {
		return s.Records
	}
	return noRecords{}
}

// Submit implements Submitter: it applies one task submission to the job of
// a manual node (see ManualPlan.Submit).
func (Manual) Submit(ctx context.Context, s *SubmitContext) (*Decision, error) {
	p, ok := s.Compiled.(*ManualPlan)
	if !ok {
		return nil, fmt.Errorf("manual: node %q has no compiled manual config: %w", s.Node.Key, ErrInvalidSubmission)
	}
	return p.Submit(ctx, s)
}

// Abort implements Aborter: the pending tasks of an aborted job are aborted
// too, so they leave their assignees' inboxes.
func (Manual) Abort(ctx context.Context, a *AbortContext) error {
	tasks, err := a.Tasks.ListTasks(ctx, storage.TaskFilter{JobID: a.Job.ID, Statuses: []flow.TaskStatus{flow.TaskPending}})
	if err != nil {
		return err
	}
	for _, t := range tasks {
		ut := t.Clone()
		ut.Status = flow.TaskAborted
		ut.UpdatedAt = a.Now
		if err := a.Tasks.UpdateTask(ctx, ut, flow.TaskPending); err != nil && !errors.Is(err, flow.ErrConflict) {
			return err
		}
	}
	return nil
}

// Submit applies one task submission inside the caller's unit of work: it
// checks the task, job and execution are waiting and that the user is an
// assignee, records the task's decision (action values override submitted
// values, except for save actions, which accumulate forms), writes create and
// update forms, and aggregates the job's status over all its tasks by mode.
func (p *ManualPlan) Submit(ctx context.Context, sp *SubmitContext) (*Decision, error) {
	t, j, x := sp.Task, sp.Job, sp.Execution
	sp.Submission, _ = deepCopy(sp.Submission).(map[string]any) // the caller keeps its maps
	switch {
	case t.Status != flow.TaskPending:
		return nil, fmt.Errorf("task %s is already decided: %w", t.ID, ErrInvalidSubmission)
	case j.Status != flow.JobPending:
		return nil, fmt.Errorf("job of task %s is already decided: %w", t.ID, ErrInvalidSubmission)
	case x.Status != flow.ExecutionStarted:
		return nil, fmt.Errorf("execution %s is %s: %w", x.ID, x.Status, ErrInvalidSubmission)
	}
	actionKey, _ := sp.Submission["_"].(string)
	if actionKey == "" {
		return nil, fmt.Errorf("submission names no action (\"_\"): %w", ErrInvalidSubmission)
	}
	var form *ManualFormPlan
	var action *manualActionPlan
	for _, k := range slices.Sorted(maps.Keys(sp.Submission)) {
		if k == "_" {
			continue
		}
		if f, ok := p.forms[k]; ok {
			if a, ok := f.actions[actionKey]; ok {
				form, action = f, a
				break
			}
		}
	}
	if form == nil {
		return nil, fmt.Errorf("no submitted form has an action %q: %w", actionKey, ErrInvalidSubmission)
	}
	// After an escalation only the tasks of the current round count, and
	// their assignees are the escalation's.
	dl := readDeadline(j.Meta)
	if dl.round > 0 && !slices.Contains(dl.tasks, t.ID) {
		return nil, fmt.Errorf("task %s is of an earlier round of its job, before an escalation: %w", t.ID, ErrInvalidSubmission)
	}
	if t.UserID != sp.UserID || !slices.Contains(p.roundAssignees(dl.round, sp.Scope), sp.UserID) {
		return nil, fmt.Errorf("user %q is not the assignee of task %s: %w", sp.UserID, t.ID, ErrForbidden)
	}
	submitted, _ := sp.Submission[form.Key].(map[string]any)
	var result map[string]any
	if action.status == flow.TaskPending {
		result = map[string]any{}
		if prev, ok := t.Result.(map[string]any); ok {
			maps.Copy(result, prev)
		}
		maps.Copy(result, sp.Submission)
	} else {
		values := map[string]any{}
		maps.Copy(values, submitted)
		if action.values != nil {
			scope := expression.Scope{}
			maps.Copy(scope, sp.Scope)
			scope["$user"] = sp.User
			scope["currentUser"] = sp.User
			scope["$nForm"] = submitted
			scope["currentRecord"] = submitted
			scope["$nDate"] = map[string]any{"now": sp.Now}
			scope["currentTime"] = sp.Now
			rv, err := action.values.RenderChecked(scope)
			if err != nil {
				return nil, fmt.Errorf("form %q: action %q values: %w: %w", form.Key, actionKey, ErrInvalidSubmission, err)
			}
			if rendered, ok := rv.(map[string]any); ok {
				maps.Copy(values, rendered)
			}
		}
		result = map[string]any{form.Key: values, "_": actionKey}
	}
	nt := t.Clone()
	nt.Status = action.status
	nt.Result = result
	nt.UpdatedAt = sp.Now
	if err := sp.Tasks.UpdateTask(ctx, nt, flow.TaskPending); err != nil {
		if errors.Is(err, flow.ErrConflict) {
			return nil, fmt.Errorf("task %s was decided meanwhile: %w", t.ID, ErrInvalidSubmission)
		}
		return nil, err
	}
	if action.status != flow.TaskPending {
		if err := p.writeForm(ctx, sp, form, result[form.Key].(map[string]any)); err != nil {
			return nil, err
		}
	}
	all, err := sp.Tasks.ListTasks(ctx, storage.TaskFilter{JobID: j.ID})
	if err != nil {
		return nil, err
	}
	tasks := all[:0]
	for _, x := range all {
		if dl.round > 0 && !slices.Contains(dl.tasks, x.ID) {
			continue // closed by an escalation
		}
		if x.ID == nt.ID {
			x = nt
		}
		tasks = append(tasks, x)
	}
	nj := j.Clone()
	nj.UpdatedAt = sp.Now
	nj.Status, nj.Result = p.aggregate(tasks, nt)
	return &Decision{Task: nt, Job: nj, Resume: nj.Status != flow.JobPending}, nil
}

func (p *ManualPlan) writeForm(ctx context.Context, sp *SubmitContext, form *ManualFormPlan, values map[string]any) error {
	switch form.Type {
	case "create":
		v := maps.Clone(values)
		form.stamp(v, sp.User["id"], "createdById", "updatedById")
		_, err := sp.records().CreateRecord(ctx, form.Collection, v)
		if err != nil {
			return fmt.Errorf("form %q: create %s: %w", form.Key, form.Collection, err)
		}
	case "update":
		fv, err := form.filter.RenderChecked(sp.Scope)
		if err != nil {
			return fmt.Errorf("form %q: filter: %w", form.Key, err)
		}
		filter, _ := fv.(map[string]any)
		v := maps.Clone(values)
		form.stamp(v, sp.User["id"], "updatedById")
		_, err = sp.records().UpdateRecords(ctx, form.Collection, storage.Filter(filter), v)
		if err != nil {
			return fmt.Errorf("form %q: update %s: %w", form.Key, form.Collection, err)
		}
	}
	return nil
}

// aggregate computes the job's status and result from its tasks.
func (p *ManualPlan) aggregate(tasks []*flow.Task, latest *flow.Task) (flow.JobStatus, any) {
	decided, resolved, negative := 0, 0, 0
	for _, t := range tasks {
		if t.Status != flow.TaskPending {
			decided++
		}
		if t.Status == flow.TaskResolved {
			resolved++
		}
		if t.Status < 0 {
			negative++
		}
	}
	n := len(tasks)
	switch p.Mode {
	case ModeSingle:
		for _, t := range tasks {
			if t.Status != flow.TaskPending {
				return flow.JobStatus(t.Status), latest.Result
			}
		}
		return flow.JobPending, latest.Result
	case ModeAll:
		ratio := float64(decided) / float64(n)
		switch {
		case resolved == n:
			return flow.JobResolved, ratio
		case negative > 0:
			for _, t := range tasks {
				if t.Status < 0 {
					return flow.JobStatus(t.Status), ratio
				}
			}
		}
		return flow.JobPending, ratio
	default: // ModeAny
		ratio := float64(decided) / float64(n)
		switch {
		case resolved > 0:
			return flow.JobResolved, ratio
		case negative == n:
			return flow.JobRejected, ratio
		}
		return flow.JobPending, ratio
	}
}

func newTaskID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// Atomic implements Atomic.
func (Manual) Atomic() bool { return true }

// deepCopy copies maps and slices of JSON-like values.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = deepCopy(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

// stamp sets the submitting user's id on the form collection's createdBy /
// updatedBy foreign keys, when the collection has them and the values do not.
func (f *ManualFormPlan) stamp(v map[string]any, userID any, fields ...string) {
	if userID == nil || f.coll == nil {
		return
	}
	for _, name := range fields {
		if _, set := v[name]; !set && f.coll.HasField(name) {
			v[name] = userID
		}
	}
}
