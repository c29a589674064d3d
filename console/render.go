package console

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/actiontrigger/actiontrigger/flow"
)

// pageNames are the templates in templates/, each rendered inside
// layout.html.
var pageNames = []string{"signin", "inbox", "task", "workflows", "workflow", "executions", "execution", "error"}

// parsePages parses each page with the layout.
func parsePages() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

var funcs = template.FuncMap{
	"when":        when,
	"short":       shortID,
	"seg":         url.PathEscape,
	"taskStatus":  taskStatus,
	"statusClass": statusClass,
	"actionClass": actionClass,
}

// actionClass styles a form action's button by its status: resolve,
// reject, save.
func actionClass(status int) string {
	switch {
	case status > 0:
		return "primary"
	case status < 0:
		return "danger"
	}
	return ""
}

// when formats a time in UTC; "—" for none.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

// shortID is the last 8 characters of an id, enough to tell ids apart on
// a page (the head of a time-ordered UUIDv7 is its creation time, shared by
// ids made in the same minute; the tail is random).
func shortID(id string) string {
	if len(id) > 8 {
		return id[len(id)-8:]
	}
	return id
}

// taskStatus names a task status.
func taskStatus(s flow.TaskStatus) string {
	switch s {
	case flow.TaskPending:
		return "PENDING"
	case flow.TaskResolved:
		return "RESOLVED"
	case flow.TaskAborted:
		return "ABORTED"
	case flow.TaskRejected:
		return "REJECTED"
	}
	return "TaskStatus(" + strconv.Itoa(int(s)) + ")"
}

// statusClass is the badge class of a status number (execution, job or
// task): ok for positive, wait for pending or queued, bad for negative.
func statusClass(v any) string {
	var n int
	switch s := v.(type) {
	case flow.ExecutionStatus:
		if s == flow.ExecutionQueueing {
			return "wait"
		}
		n = int(s)
	case flow.JobStatus:
		n = int(s)
	case flow.TaskStatus:
		n = int(s)
	case int:
		n = s
	}
	switch {
	case n > 0:
		return "ok"
	case n == 0:
		return "wait"
	}
	return "bad"
}

// display renders a value for a page: text as it is, anything structured
// as indented JSON (block).
func display(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "—", false
	case string:
		return x, false
	case map[string]any, []any:
		b, err := json.MarshalIndent(x, "", "  ")
		if err != nil {
			return fmt.Sprint(x), true
		}
		return string(b), true
	}
	return plain(v), false
}

// plain renders a scalar as a form value.
func plain(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	}
	if b, err := json.Marshal(v); err == nil {
		return string(b)
	}
	return fmt.Sprint(v)
}

// pager links a list's pages.
type pager struct {
	Page       int
	Prev, Next string
}

// newPager builds the links to the pages around pg of path (relative to the
// console), keeping the query q.
func (c *Console) newPager(path string, q url.Values, pg int, more bool) pager {
	link := func(n int) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		if n > 1 {
			v.Set("page", strconv.Itoa(n))
		}
		if len(v) == 0 {
			return c.base + path
		}
		return c.base + path + "?" + v.Encode()
	}
	p := pager{Page: pg}
	if pg > 1 {
		p.Prev = link(pg - 1)
	}
	if more {
		p.Next = link(pg + 1)
	}
	return p
}

// pageParam reads ?page= (from 1).
func pageParam(r *http.Request) (int, error) {
	s := r.URL.Query().Get("page")
	if s == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1_000_000 {
		return 0, fmt.Errorf("page %q: want a number from 1: %w", s, errBadInput)
	}
	return n, nil
}
