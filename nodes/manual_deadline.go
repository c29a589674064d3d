package nodes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/actiontrigger/actiontrigger/expression"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// Approval deadlines. A manual node's config.deadline makes its PENDING job
// act on its own when nobody decided in time:
//
//	"deadline": {
//	  "after": 86400000,            // ms from the job's creation (> 0)
//	  "action": "escalate",         // "resolve", "reject" or "escalate"
//	  "result": {...},              // resolve/reject: the job's result (a template)
//	  "assignees": [...],           // escalate: who gets the new tasks (required)
//	  "remindBefore": 3600000,      // optional: remind the open tasks this long before
//	  "then": {...}                 // escalate: the deadline of the escalated round
//	}
//
// The job's Meta["deadline"] keeps the state (deadlineState), so WakeAt is a
// function of the job alone and any process sharing the store can act on it.

// Deadline actions (config.deadline.action).
const (
	DeadlineResolve  = "resolve"
	DeadlineReject   = "reject"
	DeadlineEscalate = "escalate"
)

// DeadlineActionKey is the action key ("_") of the result of a job decided by
// its deadline, where a submission's result names the submitted action.
const DeadlineActionKey = "$deadline"

// maxDeadline bounds after and remindBefore (so that they fit a Duration).
const maxDeadline = 100 * 365 * 24 * time.Hour

// deadlinePlan is one compiled deadline; then is the next round's.
type deadlinePlan struct {
	field        string // config path, for messages
	after        time.Duration
	action       string
	result       *expression.Template
	assignees    *expression.Template
	remindBefore time.Duration
	then         *deadlinePlan
}

type deadlineConfig struct {
	After        *int64          `json:"after"`
	Action       string          `json:"action"`
	Result       map[string]any  `json:"result"`
	Assignees    []any           `json:"assignees"`
	RemindBefore *int64          `json:"remindBefore"`
	Then         json.RawMessage `json:"then"`
}

// compileDeadline decodes and validates the deadline at field (raw JSON;
// absent or null: none).
func compileDeadline(c *CompileContext, node *flow.Node, field string, raw json.RawMessage) (*deadlinePlan, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var cfg deadlineConfig
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		// Name the offending field where the decoder says which.
		at := field
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			at = field + "." + te.Field
		} else if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			if n, uerr := strconv.Unquote(name); uerr == nil {
				at = field + "." + n
			}
		}
		return nil, c.Invalid(node, at, "a deadline is an object of after (ms), action, result, assignees, remindBefore (ms) and then", err)
	}
	d := &deadlinePlan{field: field, action: cfg.Action}
	ms := func(name string, v int64) (time.Duration, error) {
		if v <= 0 || v > int64(maxDeadline/time.Millisecond) {
			return 0, c.Invalid(node, field+"."+name, fmt.Sprintf("%s must be a number of milliseconds above 0 and at most 100 years, not %d", name, v), nil)
		}
		return time.Duration(v) * time.Millisecond, nil
	}
	if cfg.After == nil {
		return nil, c.Invalid(node, field+".after", "after is required: the milliseconds from the job's creation to the deadline", nil)
	}
	var err error
	if d.after, err = ms("after", *cfg.After); err != nil {
		return nil, err
	}
	if cfg.RemindBefore != nil {
		if d.remindBefore, err = ms("remindBefore", *cfg.RemindBefore); err != nil {
			return nil, err
		}
		if d.remindBefore >= d.after {
			return nil, c.Invalid(node, field+".remindBefore", fmt.Sprintf("remindBefore (%d ms) must be less than after (%d ms)", *cfg.RemindBefore, *cfg.After), nil)
		}
	}
	switch cfg.Action {
	case DeadlineResolve, DeadlineReject:
		if cfg.Assignees != nil {
			return nil, c.Invalid(node, field+".assignees", "only an escalate deadline has assignees", nil)
		}
		if len(cfg.Then) > 0 && string(cfg.Then) != "null" {
			return nil, c.Invalid(node, field+".then", "only an escalate deadline has a next deadline (then): a "+cfg.Action+" deadline decides the job", nil)
		}
		if cfg.Result != nil {
			if _, ok := cfg.Result["_"]; ok {
				return nil, c.Invalid(node, field+".result", fmt.Sprintf("result must not set \"_\": the job's result names the deadline (%q) as its action", DeadlineActionKey), nil)
			}
			if d.result, err = CompileTemplate(c, node, field+".result", cfg.Result); err != nil {
				return nil, err
			}
		}
	case DeadlineEscalate:
		if cfg.Result != nil {
			return nil, c.Invalid(node, field+".result", "an escalate deadline decides nothing: result is only for resolve and reject", nil)
		}
		if len(cfg.Assignees) == 0 {
			return nil, c.Invalid(node, field+".assignees", "an escalate deadline needs assignees (user ids and/or templates, as the node's)", nil)
		}
		if d.assignees, err = CompileTemplate(c, node, field+".assignees", cfg.Assignees); err != nil {
			return nil, err
		}
		if d.then, err = compileDeadline(c, node, field+".then", cfg.Then); err != nil {
			return nil, err
		}
	case "":
		return nil, c.Invalid(node, field+".action", `action is required: "resolve", "reject" or "escalate"`, nil)
	default:
		return nil, c.Invalid(node, field+".action", fmt.Sprintf(`unknown action %q ("resolve", "reject" or "escalate")`, cfg.Action), nil)
	}
	return d, nil
}

// deadlineOf is the deadline of a round (0: the node's own; n: after n
// escalations), or nil.
func (p *ManualPlan) deadlineOf(round int) *deadlinePlan {
	d := p.deadline
	for ; d != nil && round > 0; round-- {
		d = d.then
	}
	return d
}

// roundAssignees renders the assignees of a round: the node's for round 0,
// the escalation's that opened it for the others.
func (p *ManualPlan) roundAssignees(round int, s expression.Scope) []string {
	if round == 0 {
		return p.Assignees(s)
	}
	d := p.deadlineOf(round - 1)
	if d == nil || d.assignees == nil {
		return nil
	}
	return assigneeKeys(d.assignees.Render(s))
}

// Keys of Job.Meta["deadline"].
const (
	metaDeadline    = "deadline"
	metaRound       = "round"       // escalations so far
	metaAt          = "at"          // when the round's deadline falls due
	metaRemindAt    = "remindAt"    // when its reminder is due
	metaReminded    = "reminded"    // ids of the tasks reminded (set: the reminder ran)
	metaTasks       = "tasks"       // ids of the round's tasks (rounds after an escalation)
	metaEscalatedAt = "escalatedAt" // when the last escalation happened
	metaExpiredAt   = "expiredAt"   // when the deadline decided the job
)

// deadlineState is a job's Meta["deadline"]: times are RFC 3339 strings
// (with nanoseconds, UTC) in Meta, read back from strings, unix
// milliseconds or time.Time, whatever the store made of them.
type deadlineState struct {
	round       int
	at          time.Time
	remindAt    time.Time
	reminded    []string
	remindedSet bool
	tasks       []string
	escalatedAt time.Time
	expiredAt   time.Time
}

// arm starts the round of deadline d at now.
func (s *deadlineState) arm(d *deadlinePlan, now time.Time) {
	s.at, s.remindAt, s.reminded, s.remindedSet = time.Time{}, time.Time{}, nil, false
	if d == nil {
		return
	}
	s.at = now.Add(d.after)
	if d.remindBefore > 0 {
		s.remindAt = s.at.Add(-d.remindBefore)
	}
}

// next is when the job needs waking: the pending reminder, else the
// deadline (zero: never).
func (s deadlineState) next() time.Time {
	if s.at.IsZero() {
		return time.Time{}
	}
	if !s.remindAt.IsZero() && !s.remindedSet && s.remindAt.Before(s.at) {
		return s.remindAt
	}
	return s.at
}

// meta returns a copy of old (never changed: stores share it) with the state
// as its "deadline" entry.
func (s deadlineState) meta(old map[string]any) map[string]any {
	m := maps.Clone(old)
	if m == nil {
		m = map[string]any{}
	}
	d := map[string]any{metaRound: s.round}
	put := func(k string, t time.Time) {
		if !t.IsZero() {
			d[k] = t.UTC().Format(time.RFC3339Nano)
		}
	}
	put(metaAt, s.at)
	put(metaRemindAt, s.remindAt)
	put(metaEscalatedAt, s.escalatedAt)
	put(metaExpiredAt, s.expiredAt)
	if s.remindedSet {
		d[metaReminded] = anyStrings(s.reminded)
	}
	if s.round > 0 {
		d[metaTasks] = anyStrings(s.tasks)
	}
	m[metaDeadline] = d
	return m
}

func anyStrings(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// readDeadline reads a job's Meta["deadline"] (the zero state without one).
func readDeadline(meta map[string]any) deadlineState {
	var s deadlineState
	d, _ := meta[metaDeadline].(map[string]any)
	if d == nil {
		return s
	}
	s.round = metaInt(d[metaRound])
	s.at = metaTime(d[metaAt])
	s.remindAt = metaTime(d[metaRemindAt])
	s.escalatedAt = metaTime(d[metaEscalatedAt])
	s.expiredAt = metaTime(d[metaExpiredAt])
	if v, ok := d[metaReminded]; ok && v != nil {
		s.reminded, s.remindedSet = metaStrings(v), true
	}
	s.tasks = metaStrings(d[metaTasks])
	return s
}

func metaInt(v any) int {
	switch x := v.(type) {
	case int:
		return x
	case int64:
		return int(x)
	case float64:
		return int(x)
	case json.Number:
		n, _ := x.Int64()
		return int(n)
	}
	return 0
}

func metaTime(v any) time.Time {
	switch x := v.(type) {
	case time.Time:
		return x
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return time.Time{}
		}
		return t
	case float64:
		return time.UnixMilli(int64(x)).UTC()
	case int64:
		return time.UnixMilli(x).UTC()
	case int:
		return time.UnixMilli(int64(x)).UTC()
	case json.Number:
		n, err := x.Int64()
		if err != nil {
			return time.Time{}
		}
		return time.UnixMilli(n).UTC()
	}
	return time.Time{}
}

func metaStrings(v any) []string {
	switch x := v.(type) {
	case []string:
		return append([]string(nil), x...)
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// WakeAt implements Waker: when the job's deadline, or the reminder before
// it, falls due (zero: the node has no deadline, or it passed).
func (Manual) WakeAt(j *flow.Job) time.Time {
	return readDeadline(j.Meta).next()
}

// Wake implements Waker, in the unit of work that holds the job:
//
//   - a reminder that fell due (deadline − remindBefore, the deadline not
//     passed yet) calls wc.Remind once for each pending task, records the
//     tasks reminded in the job's Meta and keeps the job PENDING;
//   - a deadline that fell due closes the round's pending tasks (ABORTED;
//     decided ones keep their decision) and, by its action, resolves or
//     rejects the job with its result plus "_": DeadlineActionKey, or
//     escalates: new tasks for its assignees, the job PENDING on the next
//     deadline (then), if any, counted from now. An escalation whose
//     assignees render to no one fails the job (ERROR).
func (Manual) Wake(ctx context.Context, wc *WakeContext) (*flow.Job, error) {
	p, ok := wc.Compiled.(*ManualPlan)
	if !ok {
		return nil, fmt.Errorf("manual: node %q has no compiled manual config", wc.Node.Key)
	}
	j := wc.Job
	st := readDeadline(j.Meta)
	nj := j.Clone()
	d := p.deadlineOf(st.round)
	switch {
	case d == nil || st.at.IsZero():
		// Nothing of this version's config is due: clear the timer.
		st.at, st.remindAt = time.Time{}, time.Time{}
		nj.Meta = st.meta(j.Meta)
		return nj, nil
	case !wc.Now.Before(st.at):
		return p.expire(ctx, wc, d, st, nj)
	case !st.remindAt.IsZero() && !st.remindedSet && !wc.Now.Before(st.remindAt):
		return p.remind(ctx, wc, st, nj)
	}
	return nj, nil // not due yet: the timer is armed again
}

// pendingTasks lists the job's PENDING tasks: the current round's (an
// escalation closed the others).
func pendingTasks(ctx context.Context, wc *WakeContext) ([]*flow.Task, error) {
	list, err := wc.Tasks.ListTasks(ctx, storage.TaskFilter{JobID: wc.Job.ID, Statuses: []flow.TaskStatus{flow.TaskPending}})
	if err != nil {
		return nil, fmt.Errorf("manual: list the pending tasks of job %s: %w", wc.Job.ID, err)
	}
	return list, nil
}

func (p *ManualPlan) remind(ctx context.Context, wc *WakeContext, st deadlineState, nj *flow.Job) (*flow.Job, error) {
	tasks, err := pendingTasks(ctx, wc)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(tasks))
	for _, t := range tasks {
		if wc.Remind != nil {
			wc.Remind(ctx, t.Clone())
		}
		ids = append(ids, t.ID)
	}
	st.reminded, st.remindedSet = ids, true
	nj.Meta = st.meta(wc.Job.Meta)
	return nj, nil
}

func (p *ManualPlan) expire(ctx context.Context, wc *WakeContext, d *deadlinePlan, st deadlineState, nj *flow.Job) (*flow.Job, error) {
	tasks, err := pendingTasks(ctx, wc)
	if err != nil {
		return nil, err
	}
	for _, t := range tasks {
		ut := t.Clone()
		ut.Status = flow.TaskAborted
		ut.UpdatedAt = wc.Now
		if err := wc.Tasks.UpdateTask(ctx, ut, flow.TaskPending); err != nil && !errors.Is(err, flow.ErrConflict) {
			return nil, fmt.Errorf("manual: close task %s at the deadline: %w", t.ID, err)
		}
	}
	if d.action != DeadlineEscalate {
		st.at, st.remindAt, st.expiredAt = time.Time{}, time.Time{}, wc.Now
		nj.Meta = st.meta(wc.Job.Meta)
		result := map[string]any{}
		if d.result != nil {
			scope := expression.Scope{}
			maps.Copy(scope, wc.Scope)
			scope["$nDate"] = map[string]any{"now": wc.Now}
			scope["currentTime"] = wc.Now
			rv, err := d.result.RenderChecked(scope)
			if err != nil {
				nj.Status, nj.Result = flow.JobError, map[string]any{"message": fmt.Sprintf("manual: %s.result: %v", d.field, err)}
				return nj, nil
			}
			if m, ok := rv.(map[string]any); ok {
				maps.Copy(result, m)
			}
		}
		result["_"] = DeadlineActionKey
		nj.Status, nj.Result = flow.JobResolved, result
		if d.action == DeadlineReject {
			nj.Status = flow.JobRejected
		}
		return nj, nil
	}
	rendered, err := d.assignees.RenderChecked(wc.Scope)
	users := assigneeKeys(rendered)
	if err != nil || len(users) == 0 {
		why := "they rendered to no user"
		if err != nil {
			why = err.Error()
		}
		st.at, st.remindAt, st.expiredAt = time.Time{}, time.Time{}, wc.Now
		nj.Meta = st.meta(wc.Job.Meta)
		nj.Status, nj.Result = flow.JobError, map[string]any{"message": fmt.Sprintf("manual: %s: escalation to no one: assignees: %s", d.field, why)}
		return nj, nil
	}
	created, err := p.insertTasks(ctx, wc.Tasks, wc.Scope, taskOwner{wc.Job.ID, wc.Execution, wc.Workflow, wc.Node.Key}, users, wc.Now)
	if err != nil {
		return nil, err
	}
	st.round++
	st.tasks = nil
	for _, t := range created {
		st.tasks = append(st.tasks, t.ID)
	}
	st.escalatedAt = wc.Now
	st.arm(d.then, wc.Now)
	nj.Meta = st.meta(wc.Job.Meta)
	nj.Result = p.initialResult()
	return nj, nil
}
