package console

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/diagram"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/httptrigger"
)

// requireAdmin refuses other roles than the API's admin roles, as the
// API's workflows:* and executions:* routes do.
func requireAdmin(s *session, what string) error {
	if s.Admin {
		return nil
	}
	return fmt.Errorf("role %q may not %s (admin roles only): %w", s.User.Role, what, httptrigger.ErrRoleNotAllowed)
}

// workflowsView is the workflow list's data.
type workflowsView struct {
	Workflows []*flow.Workflow
	Pager     pager
}

// workflowsPage lists the current version of every workflow.
func (c *Console) workflowsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := requireAdmin(s, "list workflows"); err != nil {
		return err
	}
	pg, err := pageParam(r)
	if err != nil {
		return err
	}
	size := c.opts.PageSize
	cur := true
	list, err := c.eng.Workflows(r.Context(), actiontrigger.WorkflowFilter{Current: &cur, Limit: size + 1, Offset: (pg - 1) * size})
	if err != nil {
		return err
	}
	more := len(list) > size
	if more {
		list = list[:size]
	}
	c.render(w, "Workflows", http.StatusOK, "workflows", &view{S: s, Nav: "workflows",
		Data: workflowsView{Workflows: list, Pager: c.newPager("workflows", nil, pg, more)}})
	return nil
}

// versionView is one workflow version with its diagram.
type versionView struct {
	W       *flow.Workflow
	Diagram template.HTML
}

// workflowView is a workflow page's data.
type workflowView struct {
	Key      string
	Current  *flow.Workflow
	Versions []versionView
}

// workflowPage shows every version of a workflow, newest first, each
// drawn as an SVG diagram, with the retry of its failed executions.
func (c *Console) workflowPage(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.showWorkflow(w, r, s, http.StatusOK, "")
}

func (c *Console) showWorkflow(w http.ResponseWriter, r *http.Request, s *session, status int, errMsg string) error {
	if err := requireAdmin(s, "view workflows"); err != nil {
		return err
	}
	key := r.PathValue("key")
	list, err := c.eng.Workflows(r.Context(), actiontrigger.WorkflowFilter{Key: key})
	if err != nil {
		return err
	}
	if len(list) == 0 {
		return fmt.Errorf("workflow %q: %w", key, flow.ErrNotFound)
	}
	wv := workflowView{Key: key}
	for _, wf := range slices.Backward(list) {
		if wf.Current {
			wv.Current = wf
		}
		// The diagram package escapes every label and writes no script,
		// style element or external reference: it is safe inline.
		wv.Versions = append(wv.Versions, versionView{W: wf, Diagram: template.HTML(diagram.SVG(wf))})
	}
	if wv.Current == nil {
		wv.Current = list[len(list)-1]
	}
	flash := ""
	if n := r.URL.Query().Get("retried"); n != "" {
		if k, err := strconv.Atoi(n); err == nil && k >= 0 {
			flash = fmt.Sprintf("%d failed execution(s) queued to run again from their failed node.", k)
		}
	}
	c.render(w, "Workflow "+key, status, "workflow", &view{S: s, Nav: "workflows", Flash: flash, Error: errMsg, Data: wv})
	return nil
}

// retryFailed retries every failed execution of a workflow
// (Engine.RetryExecutions): ERROR ones, or ABORTED by their timeout.
func (c *Console) retryFailed(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := requireAdmin(s, "retry executions"); err != nil {
		return err
	}
	key := r.PathValue("key")
	f := actiontrigger.RetryFilter{WorkflowKey: key, Status: flow.ExecutionError}
	if r.PostForm.Get("status") == strconv.Itoa(int(flow.ExecutionAborted)) {
		f.Status = flow.ExecutionAborted
	}
	n, err := c.eng.RetryExecutions(r.Context(), f)
	if err != nil {
		if code := statusOf(err); code < 500 {
			return c.showWorkflow(w, r, s, code, err.Error())
		}
		return err
	}
	http.Redirect(w, r, c.base+"workflows/"+url.PathEscape(key)+"?retried="+strconv.Itoa(n), http.StatusSeeOther)
	return nil
}

// executionFilter is the execution list's filter form.
type executionFilter struct {
	Key        string
	WorkflowID string
	Status     string
	From, To   string
}

// executionsView is the execution list's data.
type executionsView struct {
	Filter     executionFilter
	Statuses   []statusOption
	Keys       []string
	Executions []*flow.Execution
	Pager      pager
}

type statusOption struct {
	Value int
	Name  string
}

// executionStatuses are the statuses the filter offers.
var executionStatuses = []flow.ExecutionStatus{
	flow.ExecutionQueueing, flow.ExecutionStarted, flow.ExecutionResolved, flow.ExecutionFailed,
	flow.ExecutionError, flow.ExecutionAborted, flow.ExecutionCanceled, flow.ExecutionRejected,
}

// timeLayouts are the accepted forms of the time range's bounds (UTC unless
// the value says otherwise).
var timeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339, "2006-01-02"}

func parseTime(field, v string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%s %q: want a date and time such as 2026-01-31T09:30 (UTC): %w", field, v, errBadInput)
}

// executionsPage lists executions, newest first, filtered by workflow,
// status and creation time.
func (c *Console) executionsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := requireAdmin(s, "list executions"); err != nil {
		return err
	}
	q := r.URL.Query()
	fv := executionFilter{Key: strings.TrimSpace(q.Get("key")), WorkflowID: q.Get("workflowId"), Status: q.Get("status"),
		From: strings.TrimSpace(q.Get("from")), To: strings.TrimSpace(q.Get("to"))}
	v := executionsView{Filter: fv}
	for _, st := range executionStatuses {
		v.Statuses = append(v.Statuses, statusOption{Value: int(st), Name: st.String()})
	}
	cur := true
	if wfs, err := c.eng.Workflows(r.Context(), actiontrigger.WorkflowFilter{Current: &cur, Limit: 500}); err == nil {
		for _, wf := range wfs {
			v.Keys = append(v.Keys, wf.Key)
		}
	}
	f, pg, err := readExecutionFilter(r, fv)
	status := http.StatusOK
	errMsg := ""
	if err != nil {
		if statusOf(err) >= 500 {
			return err
		}
		status, errMsg = statusOf(err), err.Error()
	} else {
		size := c.opts.PageSize
		f.NewestFirst, f.Limit, f.Offset = true, size+1, (pg-1)*size
		list, err := c.eng.Executions(r.Context(), f)
		if err != nil {
			return err
		}
		more := len(list) > size
		if more {
			list = list[:size]
		}
		v.Executions = list
		keep := url.Values{}
		for _, k := range []string{"key", "workflowId", "status", "from", "to"} {
			if x := q.Get(k); x != "" {
				keep.Set(k, x)
			}
		}
		v.Pager = c.newPager("executions", keep, pg, more)
	}
	c.render(w, "Executions", status, "executions", &view{S: s, Nav: "executions", Error: errMsg, Data: v})
	return nil
}

func readExecutionFilter(r *http.Request, fv executionFilter) (actiontrigger.ExecutionFilter, int, error) {
	f := actiontrigger.ExecutionFilter{Key: fv.Key, WorkflowID: fv.WorkflowID}
	if fv.Status != "" {
		n, err := strconv.Atoi(fv.Status)
		if err != nil {
			return f, 0, fmt.Errorf("status %q: want a status number: %w", fv.Status, errBadInput)
		}
		f.Statuses = []flow.ExecutionStatus{flow.ExecutionStatus(n)}
	}
	var err error
	if fv.From != "" {
		if f.CreatedFrom, err = parseTime("from", fv.From); err != nil {
			return f, 0, err
		}
	}
	if fv.To != "" {
		if f.CreatedBefore, err = parseTime("to", fv.To); err != nil {
			return f, 0, err
		}
	}
	if !f.CreatedFrom.IsZero() && !f.CreatedBefore.IsZero() && !f.CreatedFrom.Before(f.CreatedBefore) {
		return f, 0, fmt.Errorf("the time range is empty: from must be before to: %w", errBadInput)
	}
	pg, err := pageParam(r)
	return f, pg, err
}

// jobView is one job on the execution page.
type jobView struct {
	J     *flow.Job
	Title string
	// Result is the job's result for display.
	Result string
}

// executionView is the execution page's data.
type executionView struct {
	X          *flow.Execution
	Workflow   *flow.Workflow
	Diagram    template.HTML
	Data       []fieldView
	User       []fieldView
	RoleName   string
	Jobs       []jobView
	Failure    string
	CanCancel  bool
	CanRetry   bool
	Collection string
}

// executionPage shows one execution: its context (without hidden fields),
// the diagram of the version it ran with its path marked, and each job.
func (c *Console) executionPage(w http.ResponseWriter, r *http.Request, s *session) error {
	flash := map[string]string{
		"canceled": "The execution was canceled.",
		"retried":  "The execution was queued to run again from its failed node.",
	}[r.URL.Query().Get("done")]
	return c.showExecution(w, r, s, http.StatusOK, flash, "")
}

func (c *Console) showExecution(w http.ResponseWriter, r *http.Request, s *session, status int, flash, errMsg string) error {
	if err := requireAdmin(s, "view executions"); err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	x, err := c.eng.Execution(ctx, id)
	if err != nil {
		return err
	}
	xs, err := c.api.PublicExecutions(ctx, x)
	if err != nil {
		return err
	}
	x = xs[0]
	jobs, err := c.eng.Jobs(ctx, id)
	if err != nil {
		return err
	}
	ev := executionView{X: x}
	wf, err := c.eng.WorkflowVersion(ctx, x.WorkflowID)
	if err != nil && !errors.Is(err, flow.ErrNotFound) {
		return err
	}
	titles := map[string]string{}
	if wf != nil {
		ev.Workflow = wf
		ev.Diagram = template.HTML(diagram.SVG(wf, diagram.WithJobs(jobs)))
		walkNodes(wf.Nodes, func(n *flow.Node) { titles[n.Key] = n.Title })
		ev.Collection = wf.Config.Collection
	}
	var dataColl *flow.Collection
	if ev.Collection != "" {
		dataColl, _ = c.eng.Collection(ev.Collection)
	}
	if d, ok := x.Context["data"].(map[string]any); ok {
		ev.Data = recordFields(dataColl, d)
	} else if d := x.Context["data"]; d != nil {
		s, block := display(d)
		ev.Data = []fieldView{{Name: "data", Value: s, Block: block}}
	}
	if d, ok := x.Context["user"].(map[string]any); ok {
		users, _ := c.eng.Collection("users")
		ev.User = recordFields(users, d)
	}
	ev.RoleName, _ = x.Context["roleName"].(string)
	for _, j := range jobs {
		res, _ := display(j.Result)
		ev.Jobs = append(ev.Jobs, jobView{J: j, Title: titles[j.NodeKey], Result: res})
	}
	ev.Failure = failure(x, jobs)
	ev.CanCancel = !x.Status.Ended()
	ev.CanRetry = x.Status == flow.ExecutionError || x.Status == flow.ExecutionAborted && x.Reason == flow.ReasonTimeout
	c.render(w, "Execution "+shortID(x.ID), status, "execution", &view{S: s, Nav: "executions", Flash: flash, Error: errMsg, Data: ev})
	return nil
}

// walkNodes calls fn on every node, branches included.
func walkNodes(nodes []flow.Node, fn func(*flow.Node)) {
	for i := range nodes {
		fn(&nodes[i])
		for _, b := range nodes[i].Branches {
			walkNodes(b, fn)
		}
	}
}

// failure says why an execution that did not resolve ended: its reason and
// the error of the job it ended on.
func failure(x *flow.Execution, jobs []*flow.Job) string {
	if !x.Status.Ended() || x.Status == flow.ExecutionResolved {
		return ""
	}
	var parts []string
	if x.Reason != "" {
		parts = append(parts, "reason: "+x.Reason)
	}
	for _, j := range slices.Backward(jobs) {
		if j.Status >= 0 {
			continue
		}
		msg := ""
		switch res := j.Result.(type) {
		case map[string]any:
			msg, _ = res["message"].(string)
		case string:
			msg = res
		}
		if msg == "" && len(j.Attempts) > 0 {
			msg = j.Attempts[len(j.Attempts)-1].Error
		}
		if msg == "" {
			msg, _ = display(j.Result)
		}
		parts = append(parts, fmt.Sprintf("node %s %s: %s", j.NodeKey, j.Status, msg))
		break
	}
	return strings.Join(parts, "; ")
}

// cancelExecution aborts a queued or paused execution.
func (c *Console) cancelExecution(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := requireAdmin(s, "cancel executions"); err != nil {
		return err
	}
	id := r.PathValue("id")
	if err := c.eng.CancelExecution(r.Context(), id); err != nil {
		if code := statusOf(err); code < 500 && code != http.StatusNotFound {
			return c.showExecution(w, r, s, code, "", "Cancel refused: "+err.Error())
		}
		return err
	}
	http.Redirect(w, r, c.base+"executions/"+url.PathEscape(id)+"?done=canceled", http.StatusSeeOther)
	return nil
}

// retryExecution continues an execution that ended by a fault from its
// failed node (Engine.Retry).
func (c *Console) retryExecution(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := requireAdmin(s, "retry executions"); err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := c.eng.Retry(r.Context(), id); err != nil {
		if code := statusOf(err); code < 500 && code != http.StatusNotFound {
			return c.showExecution(w, r, s, code, "", "Retry refused: "+err.Error())
		}
		return err
	}
	http.Redirect(w, r, c.base+"executions/"+url.PathEscape(id)+"?done=retried", http.StatusSeeOther)
	return nil
}
