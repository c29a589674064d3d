package console_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/console"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/httptrigger"
	"github.com/actiontrigger/actiontrigger/internal/teststores"
	"github.com/actiontrigger/actiontrigger/nodes"
	"github.com/actiontrigger/actiontrigger/storage"
)

var quiet = slog.New(slog.DiscardHandler)

// The test users: root (admin), ana (member, the approver), ben (member),
// and max (manager first, admin second).
var tokens = httptrigger.Tokens{
	"tok-root": {User: actiontrigger.User{ID: int64(1), Fields: map[string]any{"id": int64(1), "nickname": "root"}}, Roles: []string{"root"}},
	"tok-ana":  {User: actiontrigger.User{ID: int64(2), Fields: map[string]any{"id": int64(2), "nickname": "ana"}}, Roles: []string{"member"}},
	"tok-ben":  {User: actiontrigger.User{ID: int64(3), Fields: map[string]any{"id": int64(3), "nickname": "ben"}}, Roles: []string{"member"}},
	"tok-max":  {User: actiontrigger.User{ID: int64(4), Fields: map[string]any{"id": int64(4), "nickname": "max"}}, Roles: []string{"manager", "admin"}},
}

// Values the pages must never show: hidden fields of the record and of the
// users collection.
const (
	hiddenSecret   = "s3cret-expense-value"
	hiddenPassword = "pw-of-the-applicant"
)

// evil is text that would run or break out of an attribute if a page did not
// escape it.
const evil = `<script>alert("x")</script>"'&`

var collections = []flow.Collection{
	{Name: "users", Fields: []flow.Field{
		{Name: "id", Type: flow.FieldInteger},
		{Name: "nickname", Type: flow.FieldString},
		{Name: "password", Type: flow.FieldString, Hidden: true},
	}},
	{Name: "expenses", Fields: []flow.Field{
		{Name: "id", Type: flow.FieldInteger},
		{Name: "title", Type: flow.FieldString},
		{Name: "amount", Type: flow.FieldNumber},
		{Name: "secret", Type: flow.FieldString, Hidden: true},
		{Name: "applicant", Type: flow.FieldBelongsTo, Target: "users", ForeignKey: "applicantId"},
		{Name: "applicantId", Type: flow.FieldInteger},
	}},
	{Name: "reviews", Fields: []flow.Field{
		{Name: "id", Type: flow.FieldInteger},
		{Name: "note", Type: flow.FieldText},
		{Name: "score", Type: flow.FieldInteger},
		{Name: "ok", Type: flow.FieldBoolean},
		{Name: "hush", Type: flow.FieldString, Hidden: true},
	}},
	{Name: "ledger", Fields: []flow.Field{
		{Name: "id", Type: flow.FieldInteger},
		{Name: "title", Type: flow.FieldString},
	}},
}

// reviewWorkflow sends claims over 500 to ana for approval (a custom
// decision form: approve, reject, save a draft; and a create form filing a
// review), then books every claim in the ledger.
func reviewWorkflow(title string) flow.Workflow {
	return flow.Workflow{
		Key: "review", Title: title, Enabled: true,
		Config: flow.TriggerConfig{Collection: "expenses", Appends: []string{"applicant"}},
		Nodes: []flow.Node{
			{Key: "big", Type: "condition", Title: "Over 500?", Config: map[string]any{"engine": "expr", "expression": "$context.data.amount > 500"},
				Branches: map[int][]flow.Node{1: {
					{Key: "approve", Type: "manual", Title: "Approval", Config: map[string]any{
						"assignees": []any{2},
						"title":     "Approve {{$context.data.title}}",
						"forms": map[string]any{
							"decision": map[string]any{"type": "custom", "actions": []any{
								map[string]any{"key": "approve", "status": 1},
								map[string]any{"key": "reject", "status": -5},
								map[string]any{"key": "draft", "status": 0},
							}},
							"review": map[string]any{"type": "create", "collection": "reviews", "title": "File a review", "actions": []any{
								map[string]any{"key": "file", "status": 1},
							}},
						},
					}},
				}}},
			{Key: "book", Type: "create", Title: "Book it", Config: map[string]any{"collection": "ledger",
				"params": map[string]any{"values": map[string]any{"title": "{{$context.data.title}}"}}}},
		},
	}
}

// failWorkflow always ends ERROR: its node fails for good (a policy of one
// attempt, so that each run is listed in the job's attempts).
var failWorkflow = flow.Workflow{
	Key: "charge", Title: "Charge the card", Enabled: true,
	Config:  flow.TriggerConfig{Collection: "expenses"},
	Options: flow.Options{Retry: &flow.RetryPolicy{MaxAttempts: 1}},
	Nodes:   []flow.Node{{Key: "charge", Type: "fail", Title: "Charge"}},
}

// laterWorkflow's node asks to run again in an hour (a snooze).
var laterWorkflow = flow.Workflow{
	Key: "later", Title: "Wait for the gateway", Enabled: true,
	Config: flow.TriggerConfig{Collection: "expenses"},
	Nodes:  []flow.Node{{Key: "poll", Type: "later", Title: "Poll"}},
}

// failMessage is the error the fail node ends with.
const failMessage = "card declined by the gateway"

type env struct {
	t    *testing.T
	eng  *actiontrigger.Engine
	api  *httptrigger.API
	srv  *httptest.Server
	base string // the console's prefix
	url  string // srv.URL + base
}

type envOptions struct {
	title    string
	prefix   string
	tls      bool
	strip    bool
	pageSize int
	secret   []byte
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	reg := nodes.DefaultRegistry()
	reg.MustRegister("later", &nodes.Func[struct{}]{Do: func(context.Context, *nodes.FuncRun[struct{}]) (nodes.Result, error) {
		return nodes.Result{}, nodes.Snooze(time.Hour)
	}})
	reg.MustRegister("fail", &nodes.Func[struct{}]{Do: func(context.Context, *nodes.FuncRun[struct{}]) (nodes.Result, error) {
		return nodes.Result{}, nodes.Permanent(errors.New(failMessage))
	}})
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{
		Store: teststores.FromEnv(t), Collections: collections, Nodes: reg, Logger: quiet,
		Workers: 2, PollInterval: 20 * time.Millisecond,
	})
	require.NoError(t, err)
	require.NoError(t, eng.Start(ctx))
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = eng.Stop(sctx)
	})
	api, err := httptrigger.NewAPI(eng, httptrigger.APIOptions{Authenticator: tokens, Logger: quiet})
	require.NoError(t, err)
	if o.prefix == "" {
		o.prefix = "/actiontrigger/"
	}
	if o.title == "" {
		o.title = "Review big claims"
	}
	con, err := console.New(eng, api, console.Options{Prefix: o.prefix, Logger: quiet, PageSize: o.pageSize, Secret: o.secret})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	if o.strip {
		mux.Handle(o.prefix, http.StripPrefix(strings.TrimSuffix(o.prefix, "/"), con))
	} else {
		mux.Handle(o.prefix, con)
	}
	var srv *httptest.Server
	if o.tls {
		srv = httptest.NewTLSServer(mux)
	} else {
		srv = httptest.NewServer(mux)
	}
	t.Cleanup(srv.Close)
	for _, wf := range []flow.Workflow{reviewWorkflow(o.title), failWorkflow, laterWorkflow} {
		_, err := eng.SaveWorkflow(ctx, wf)
		require.NoError(t, err)
	}
	for _, u := range []flow.Record{
		{"id": int64(1), "nickname": "root", "password": "pw-root"},
		{"id": int64(2), "nickname": "ana", "password": hiddenPassword},
	} {
		_, err := eng.Records().CreateRecord(ctx, "users", u)
		require.NoError(t, err)
	}
	return &env{t: t, eng: eng, api: api, srv: srv, base: o.prefix, url: srv.URL + o.prefix}
}

// claim files an expense and runs workflow key on it; it returns the
// execution (queued).
func (e *env) claim(key, title string) *flow.Execution {
	e.t.Helper()
	ctx := context.Background()
	rec, err := e.eng.Records().CreateRecord(ctx, "expenses", flow.Record{
		"title": title, "amount": 1850.5, "secret": hiddenSecret, "applicantId": int64(2),
	})
	require.NoError(e.t, err)
	res, err := e.eng.AfterAction(ctx, actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: key},
		rec, actiontrigger.User{ID: int64(2), Role: "member", Fields: map[string]any{"id": int64(2), "nickname": "ana"}})
	require.NoError(e.t, err)
	require.Len(e.t, res.Executions, 1)
	return res.Executions[0]
}

// idle waits for the engine's queue to drain.
func (e *env) idle() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(e.t, e.eng.WaitIdle(ctx))
}

// pendingTask runs a review claim up to ana's task and returns it.
func (e *env) pendingTask(title string) (*flow.Task, *flow.Execution) {
	e.t.Helper()
	x := e.claim("review", title)
	e.idle()
	tasks, err := e.eng.Store().ListTasks(context.Background(), storage.TaskFilter{ExecutionID: x.ID})
	require.NoError(e.t, err)
	require.Len(e.t, tasks, 1)
	return tasks[0], x
}

// failedExecution runs a charge claim to its ERROR end.
func (e *env) failedExecution() *flow.Execution {
	e.t.Helper()
	x := e.claim("charge", "Taxi")
	e.idle()
	got, err := e.eng.Execution(context.Background(), x.ID)
	require.NoError(e.t, err)
	require.Equal(e.t, flow.ExecutionError, got.Status)
	return got
}

// waitStatus polls an execution until it has status want.
func (e *env) waitStatus(id string, want flow.ExecutionStatus) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		x, err := e.eng.Execution(context.Background(), id)
		require.NoError(e.t, err)
		if x.Status == want {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("execution %s is %s, want %s", id, x.Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// client is a browser-like HTTP client with a cookie jar that does not
// follow redirects.
type client struct {
	t    *testing.T
	e    *env
	http *http.Client
	csrf string
}

// anon is a client that has not signed in.
func (e *env) anon() *client {
	jar, err := cookiejar.New(nil)
	require.NoError(e.t, err)
	hc := *e.srv.Client() // a client of its own: its own jar
	hc.Jar = jar
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &client{t: e.t, e: e, http: &hc}
}

// signin signs in with token (and role) through the sign-in form.
func (e *env) signin(token, role string) *client {
	e.t.Helper()
	c := e.anon()
	res := c.postSignin(token, role)
	require.Equal(e.t, http.StatusSeeOther, res.code, res.body)
	require.Equal(e.t, e.base+"tasks", res.header.Get("Location"))
	page := c.get("tasks")
	require.Equal(e.t, http.StatusOK, page.code, page.body)
	c.csrf = csrfOf(e.t, page.body)
	return c
}

func (c *client) postSignin(token, role string) resp {
	c.t.Helper()
	page := c.get("signin")
	require.Equal(c.t, http.StatusOK, page.code)
	return c.post("signin", url.Values{"csrf": {csrfOf(c.t, page.body)}, "token": {token}, "role": {role}})
}

type resp struct {
	code   int
	body   string
	header http.Header
	cookie []*http.Cookie
}

func (c *client) do(req *http.Request) resp {
	c.t.Helper()
	res, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(c.t, err)
	return resp{code: res.StatusCode, body: string(b), header: res.Header, cookie: res.Cookies()}
}

// get fetches path (relative to the console).
func (c *client) get(path string) resp {
	c.t.Helper()
	req, err := http.NewRequest("GET", c.e.url+path, nil)
	require.NoError(c.t, err)
	return c.do(req)
}

// post sends a form to path (relative to the console).
func (c *client) post(path string, form url.Values) resp {
	c.t.Helper()
	req, err := http.NewRequest("POST", c.e.url+path, strings.NewReader(form.Encode()))
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// form is the session's CSRF token plus kv pairs.
func (c *client) form(kv ...string) url.Values {
	v := url.Values{"csrf": {c.csrf}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	require.NotNil(t, m, "no CSRF token in %s", body)
	return m[1]
}

func taskPath(t *flow.Task) string { return "tasks/" + t.ID }

func execPath(x *flow.Execution) string { return "executions/" + x.ID }

// requireNoLeak checks that body shows no hidden value and no unescaped
// markup of evil.
func requireNoLeak(t *testing.T, body, where string) {
	t.Helper()
	for _, s := range []string{hiddenSecret, hiddenPassword, "<script>alert", `"x")</script>`} {
		require.NotContains(t, body, s, "%s shows %q", where, s)
	}
}

func mustStatus(t *testing.T, r resp, code int, what string) {
	t.Helper()
	require.Equal(t, code, r.code, "%s: %s", what, snippet(r.body))
}

func snippet(s string) string {
	if len(s) > 1500 {
		return s[:1500] + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return s
}
