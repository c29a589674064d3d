package httptrigger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/httptrigger"
	"github.com/actiontrigger/actiontrigger/internal/teststores"
	"github.com/actiontrigger/actiontrigger/nodes"
	"github.com/actiontrigger/actiontrigger/nodes/nodetest"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/storagetest"
)

// quiet keeps the engine's and the handlers' logs out of the test output
// (server errors are logged on purpose by several tests).
var quiet = slog.New(slog.DiscardHandler)

// The test principals: root (id 1), a (id 2, member) and b (id 3, member and
// manager), as in the reference tests.
var testTokens = httptrigger.Tokens{
	"tok-root": {User: actiontrigger.User{ID: 1, Fields: map[string]any{"id": 1, "nickname": "root"}}, Roles: []string{"root"}},
	"tok-a":    {User: actiontrigger.User{ID: 2, Fields: map[string]any{"id": 2, "nickname": "a"}}, Roles: []string{"member"}},
	"tok-b":    {User: actiontrigger.User{ID: 3, Fields: map[string]any{"id": 3, "nickname": "b"}}, Roles: []string{"member", "manager"}},
}

// testGrants let the test roles member and manager create, view and update
// every collection's records, as the scenario tests (written before grants)
// expect; the grant tests set their own.
var testGrants = []httptrigger.Grant{
	{Role: "member", Collection: httptrigger.AllCollections, Actions: []httptrigger.GrantAction{httptrigger.GrantCreate, httptrigger.GrantView, httptrigger.GrantUpdate}},
	{Role: "manager", Collection: httptrigger.AllCollections, Actions: []httptrigger.GrantAction{httptrigger.GrantCreate, httptrigger.GrantView, httptrigger.GrantUpdate}},
}

// env is one test's engine (started), API at /api/ and host routes wrapped by
// the Middleware, behind an httptest.Server.
type env struct {
	t   *testing.T
	eng *actiontrigger.Engine
	srv *httptest.Server
	// hostRuns counts the runs of the host handlers.
	hostRuns atomic.Int64
}

type envSetup struct {
	cfg     actiontrigger.Config
	apiOpts httptrigger.APIOptions
}

type envOpt func(*envSetup)

func lenient() envOpt {
	return func(s *envSetup) { s.cfg.BindingPolicy = actiontrigger.Lenient }
}

func withAPIOptions(f func(*httptrigger.APIOptions)) envOpt {
	return func(s *envSetup) { f(&s.apiOpts) }
}

// hangNode returns a PENDING job without declaring that it can pause (no
// nodes.Pauser or nodes.Resumer), so a sync workflow holding it can be saved:
// it stands for the reference's async-only nodes that only the client keeps
// out of sync workflows (REF B.8, "hangs"). The engine does not let it hang:
// a PENDING result from a node that cannot pause is an ERROR job.
type hangNode struct{}

func (hangNode) Compile(*nodes.CompileContext, *flow.Node) (any, error) { return nil, nil }
func (hangNode) Run(context.Context, *nodes.RunContext, *flow.Job) (nodes.Result, error) {
	return nodes.Result{Status: flow.JobPending}, nil
}

func newEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	reg := nodetest.Registry()
	reg.MustRegister("hang", hangNode{})
	s := &envSetup{
		cfg: actiontrigger.Config{
			Collections:  append(storagetest.Collections(), storagetest.CollectionsOf("another")...),
			Nodes:        reg,
			Logger:       quiet,
			Workers:      4,
			PollInterval: 50 * time.Millisecond,
		},
		apiOpts: httptrigger.APIOptions{Authenticator: testTokens, Logger: quiet, Grants: testGrants},
	}
	for _, o := range opts {
		o(s)
	}
	s.cfg.Store = testStore(t)
	eng, err := actiontrigger.New(context.Background(), s.cfg)
	require.NoError(t, err)
	require.NoError(t, eng.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = eng.Stop(ctx)
	})

	e := &env{t: t, eng: eng}
	api, err := httptrigger.NewAPI(eng, s.apiOpts)
	require.NoError(t, err)
	mw := httptrigger.NewMiddleware(eng, httptrigger.Options{Authenticator: testTokens, RequireAuth: true, Logger: quiet})

	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	// A host handler that writes a post and reports it.
	mux.Handle("POST /host/posts", mw.Wrap("posts", actiontrigger.ActionCreate, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hostRuns.Add(1)
		rec, ok := e.hostCreate(w, r)
		if !ok {
			return
		}
		if !httptrigger.Report(r, rec) {
			http.Error(w, "no middleware around the handler", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"id": rec["id"], "title": rec["title"]}})
	})))
	// A host handler that writes a post and answers {"data": record} without Report.
	mux.Handle("POST /host/posts-body", mw.Wrap("posts", actiontrigger.ActionCreate, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hostRuns.Add(1)
		rec, ok := e.hostCreate(w, r)
		if !ok {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": rec})
	})))
	// A host handler that refuses the action itself (422): nothing triggers.
	mux.Handle("POST /host/posts-refuse", mw.Wrap("posts", actiontrigger.ActionCreate, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hostRuns.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		_, _ = io.WriteString(w, `{"errors":[{"message":"title is required"}]}`)
	})))
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

// hostCreate is the host's own write: the body's values become a post.
func (e *env) hostCreate(w http.ResponseWriter, r *http.Request) (flow.Record, bool) {
	var values map[string]any
	if err := json.NewDecoder(r.Body).Decode(&values); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, false
	}
	rec, err := e.eng.Records().CreateRecord(r.Context(), "posts", values)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, false
	}
	return rec, true
}

// resp is a decoded response.
type resp struct {
	code   int
	header http.Header
	raw    string
	body   map[string]any
}

// errorMessages lists the messages of an {"errors": [...]} body.
func (r resp) errorMessages() []string {
	list, _ := r.body["errors"].([]any)
	out := make([]string, 0, len(list))
	for _, it := range list {
		m, _ := it.(map[string]any)
		s, _ := m["message"].(string)
		out = append(out, s)
	}
	return out
}

// data returns the "data" member as an object.
func (r resp) data() map[string]any {
	m, _ := r.body["data"].(map[string]any)
	return m
}

type reqOpt func(*http.Request)

func header(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }

// do sends a request as the user with token (none if ""). body is sent as
// is when it is a string, else as JSON; with a body the content type is
// application/json unless an option sets another.
func (e *env) do(method, path, token string, body any, opts ...reqOpt) resp {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, err := json.Marshal(body)
			require.NoError(e.t, err)
			rd = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	require.NoError(e.t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, o := range opts {
		o(req)
	}
	res, err := e.srv.Client().Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	out := resp{code: res.StatusCode, header: res.Header, raw: string(raw)}
	if len(bytes.TrimSpace(raw)) > 0 && strings.Contains(res.Header.Get("Content-Type"), "json") {
		var v any
		require.NoError(e.t, json.Unmarshal(raw, &v), "body %s", raw)
		if m, ok := v.(map[string]any); ok {
			out.body = m
		} else {
			out.body = map[string]any{"_": v}
		}
	}
	return out
}

func (e *env) post(path, token string, body any, opts ...reqOpt) resp {
	e.t.Helper()
	return e.do(http.MethodPost, path, token, body, opts...)
}

// requireError checks an error response: its status and the
// {"errors":[{"message":...}]} shape, with a message containing each of want.
func requireError(t *testing.T, r resp, code int, want ...string) {
	t.Helper()
	require.Equal(t, code, r.code, "body: %s", r.raw)
	require.Contains(t, r.header.Get("Content-Type"), "application/json", "body: %s", r.raw)
	msgs := r.errorMessages()
	require.NotEmpty(t, msgs, "body: %s", r.raw)
	joined := strings.Join(msgs, "\n")
	for _, w := range want {
		require.Contains(t, joined, w, "body: %s", r.raw)
	}
}

func (e *env) save(wf flow.Workflow) *flow.Workflow {
	e.t.Helper()
	saved, err := e.eng.SaveWorkflow(context.Background(), wf)
	require.NoError(e.t, err, "save workflow %q", wf.Key)
	return saved
}

func (e *env) record(collection string, values flow.Record) flow.Record {
	e.t.Helper()
	rec, err := e.eng.Records().CreateRecord(context.Background(), collection, values)
	require.NoError(e.t, err)
	return rec
}

func (e *env) records(collection string, f storage.Filter) []flow.Record {
	e.t.Helper()
	recs, err := e.eng.Records().ListRecords(context.Background(), collection, f, nil)
	require.NoError(e.t, err)
	return recs
}

func (e *env) execs(key string) []*flow.Execution {
	e.t.Helper()
	xs, err := e.eng.Executions(context.Background(), storage.ExecutionFilter{Key: key})
	require.NoError(e.t, err)
	return xs
}

func (e *env) allExecs() []*flow.Execution {
	e.t.Helper()
	xs, err := e.eng.Executions(context.Background(), storage.ExecutionFilter{})
	require.NoError(e.t, err)
	return xs
}

func (e *env) waitIdle() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(e.t, e.eng.WaitIdle(ctx), "engine did not become idle")
}

// eventually polls cond until it holds (10s at most).
func eventually(t *testing.T, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			require.Failf(t, "condition not met in time", msg, args...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func n(key, typ string, cfg map[string]any) flow.Node {
	return flow.Node{Key: key, Type: typ, Config: cfg}
}

func asyncWF(key, collection string, ns ...flow.Node) flow.Workflow {
	return flow.Workflow{Key: key, Enabled: true, Config: flow.TriggerConfig{Collection: collection}, Nodes: ns}
}

func syncWF(key, collection string, ns ...flow.Node) flow.Workflow {
	w := asyncWF(key, collection, ns...)
	w.Sync = true
	return w
}

// dataOf returns $context.data of an execution.
func dataOf(t *testing.T, x *flow.Execution) map[string]any {
	t.Helper()
	d, ok := x.Context["data"].(map[string]any)
	require.True(t, ok, "context.data is %T", x.Context["data"])
	return d
}

// num reads a JSON-ish number (int, int64 or float64) as float64.
func num(t *testing.T, v any) float64 {
	t.Helper()
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case float64:
		return x
	case json.Number:
		f, err := x.Float64()
		require.NoError(t, err)
		return f
	}
	require.Failf(t, "not a number", "%T %v", v, v)
	return 0
}

// testStore returns a fresh store of the kind ACTIONTRIGGER_TEST_STORE names:
// "memory" (the default), "sqlite" (a file in the test's temp folder) or
// "postgres" (a fresh schema of the database in ACTIONTRIGGER_TEST_POSTGRES_DSN,
// dropped at cleanup). Without the DSN the postgres tests skip, except in CI
// (CI=true), where they fail.
func testStore(t *testing.T) storage.Store {
	t.Helper()
	return teststores.FromEnv(t)
}

// jsonBody is v as a JSON request body.
func jsonBody(t *testing.T, v any) io.Reader {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return bytes.NewReader(b)
}

// rawMember is one member of a JSON object body, as sent.
func rawMember(t *testing.T, r resp, name string) string {
	t.Helper()
	var obj map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(r.raw), &obj), "body: %s", r.raw)
	raw, ok := obj[name]
	require.True(t, ok, "no %q in %s", name, r.raw)
	return string(raw)
}
