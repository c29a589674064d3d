package actiontrigger_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/internal/teststores"
	"github.com/actiontrigger/actiontrigger/nodes"
	"github.com/actiontrigger/actiontrigger/nodes/nodetest"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/storagetest"
)

// testLogger keeps engine logs of the tests quiet: only errors are printed.
var testLogger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

// engineSetup collects the options of newEngine.
type engineSetup struct {
	cfg   actiontrigger.Config
	start bool
	nodes []func(*nodes.Registry)
}

type engineOpt func(*engineSetup)

// started makes newEngine start the async workers (and stop them at cleanup).
func started() engineOpt { return func(s *engineSetup) { s.start = true } }

// lenient selects the Lenient binding policy (the reference's behaviour).
func lenient() engineOpt {
	return func(s *engineSetup) { s.cfg.BindingPolicy = actiontrigger.Lenient }
}

// withConfig edits the engine config before New.
func withConfig(f func(*actiontrigger.Config)) engineOpt {
	return func(s *engineSetup) { f(&s.cfg) }
}

// withNodes registers extra node types before New.
func withNodes(f func(*nodes.Registry)) engineOpt {
	return func(s *engineSetup) { s.nodes = append(s.nodes, f) }
}

// withCollections declares extra collections next to the reference schema.
func withCollections(cs ...flow.Collection) engineOpt {
	return func(s *engineSetup) { s.cfg.Collections = append(s.cfg.Collections, cs...) }
}

// referenceCollections is the reference test schema in the main data source
// and in the "another" data source.
func referenceCollections() []flow.Collection {
	return append(storagetest.Collections(), storagetest.CollectionsOf("another")...)
}

// newEngine returns a fresh engine on a fresh memory store with the reference
// schema, the default nodes plus the nodetest nodes, and a quiet logger.
func newEngine(t *testing.T, opts ...engineOpt) *actiontrigger.Engine {
	t.Helper()
	reg := nodetest.Registry()
	s := &engineSetup{cfg: actiontrigger.Config{
		Collections: referenceCollections(),
		Logger:      testLogger,
		Workers:     4,
		// Workers also poll; keep it short so nothing in a test depends on a wake-up.
		PollInterval: 50 * time.Millisecond,
	}}
	for _, o := range opts {
		o(s)
	}
	for _, f := range s.nodes {
		f(reg)
	}
	if s.cfg.Nodes == nil {
		s.cfg.Nodes = reg
	}
	if s.cfg.Store == nil {
		s.cfg.Store = testStore(t)
	}
	eng, err := actiontrigger.New(context.Background(), s.cfg)
	require.NoError(t, err)
	if s.start {
		require.NoError(t, eng.Start(context.Background()))
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = eng.Stop(ctx)
		})
	}
	return eng
}

// testCtx is a context bounded so that a hang fails the test instead of the run.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond every 10ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			require.Failf(t, "condition not met in time", msg, args...)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitIdle waits until the started engine has nothing queued or running.
func waitIdle(t *testing.T, eng *actiontrigger.Engine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, eng.WaitIdle(ctx), "engine did not become idle")
}

// n builds a node.
func n(key, typ string, cfg map[string]any) flow.Node {
	return flow.Node{Key: key, Type: typ, Config: cfg}
}

// asyncWF is an enabled local async workflow.
func asyncWF(key, collection string, ns ...flow.Node) flow.Workflow {
	return flow.Workflow{Key: key, Enabled: true, Config: flow.TriggerConfig{Collection: collection}, Nodes: ns}
}

// syncWF is an enabled local sync workflow.
func syncWF(key, collection string, ns ...flow.Node) flow.Workflow {
	w := asyncWF(key, collection, ns...)
	w.Sync = true
	return w
}

// globalWF is an enabled global workflow listing actions.
func globalWF(key, collection string, sync bool, actions []string, ns ...flow.Node) flow.Workflow {
	w := asyncWF(key, collection, ns...)
	w.Sync = sync
	w.Config.Global = true
	w.Config.Actions = actions
	return w
}

// save stores a workflow and fails the test on error.
func save(t *testing.T, eng *actiontrigger.Engine, w flow.Workflow) *flow.Workflow {
	t.Helper()
	saved, err := eng.SaveWorkflow(context.Background(), w)
	require.NoError(t, err, "save workflow %q", w.Key)
	return saved
}

// createAction and updateAction describe host actions.
func createAction(collection, triggerWorkflows string) actiontrigger.Action {
	return actiontrigger.Action{Collection: collection, Name: actiontrigger.ActionCreate, TriggerWorkflows: triggerWorkflows}
}

func updateAction(collection, triggerWorkflows string) actiontrigger.Action {
	return actiontrigger.Action{Collection: collection, Name: actiontrigger.ActionUpdate, TriggerWorkflows: triggerWorkflows}
}

// record creates a record through the store (the host's write).
func record(t *testing.T, eng *actiontrigger.Engine, collection string, values flow.Record) flow.Record {
	t.Helper()
	rec, err := eng.Records().CreateRecord(context.Background(), collection, values)
	require.NoError(t, err, "create %s record", collection)
	return rec
}

// users of the reference tests: root (id 1), a (id 2) and b (id 3), each with
// hidden password and token fields set in the store.
type refUsers struct {
	root, a, b actiontrigger.User
}

func seedUsers(t *testing.T, eng *actiontrigger.Engine) refUsers {
	t.Helper()
	mk := func(name, role string) actiontrigger.User {
		rec := record(t, eng, "users", flow.Record{"nickname": name, "username": name, "password": "secret-" + name, "token": "tok-" + name})
		return actiontrigger.User{ID: rec["id"], Role: role, Fields: rec}
	}
	u := refUsers{root: mk("root", "root"), a: mk("a", "member"), b: mk("b", "member")}
	require.EqualValues(t, 1, u.root.ID)
	require.EqualValues(t, 2, u.a.ID)
	require.EqualValues(t, 3, u.b.ID)
	return u
}

// memberA is user a without a store: for tests that need no users collection rows.
var memberA = actiontrigger.User{ID: 2, Role: "member", Fields: map[string]any{"id": 2, "nickname": "a", "password": "pw", "token": "tk"}}

// after calls AfterAction and fails the test on error.
func after(t *testing.T, eng *actiontrigger.Engine, action actiontrigger.Action, data any, user actiontrigger.User) *actiontrigger.Result {
	t.Helper()
	res, err := eng.AfterAction(context.Background(), action, data, user)
	require.NoError(t, err, "AfterAction %+v", action)
	require.NotNil(t, res)
	return res
}

// execsOf lists the stored executions of every version of key, oldest first.
func execsOf(t *testing.T, eng *actiontrigger.Engine, key string) []*flow.Execution {
	t.Helper()
	xs, err := eng.Executions(context.Background(), storage.ExecutionFilter{Key: key})
	require.NoError(t, err)
	return xs
}

// execsOfVersion lists the stored executions of one workflow version.
func execsOfVersion(t *testing.T, eng *actiontrigger.Engine, id string) []*flow.Execution {
	t.Helper()
	xs, err := eng.Executions(context.Background(), storage.ExecutionFilter{WorkflowID: id})
	require.NoError(t, err)
	return xs
}

// allExecs lists every stored execution.
func allExecs(t *testing.T, eng *actiontrigger.Engine) []*flow.Execution {
	t.Helper()
	xs, err := eng.Executions(context.Background(), storage.ExecutionFilter{})
	require.NoError(t, err)
	return xs
}

// execution reloads one execution.
func execution(t *testing.T, eng *actiontrigger.Engine, id string) *flow.Execution {
	t.Helper()
	x, err := eng.Execution(context.Background(), id)
	require.NoError(t, err)
	return x
}

// jobsOf lists the jobs of an execution in run order.
func jobsOf(t *testing.T, eng *actiontrigger.Engine, executionID string) []*flow.Job {
	t.Helper()
	js, err := eng.Jobs(context.Background(), executionID)
	require.NoError(t, err)
	return js
}

// dataOf returns $context.data of an execution (nil when it is null).
func dataOf(t *testing.T, x *flow.Execution) map[string]any {
	t.Helper()
	require.NotNil(t, x.Context, "execution %s has no context", x.ID)
	d, ok := x.Context["data"]
	require.True(t, ok, "execution %s context has no data key", x.ID)
	if d == nil {
		return nil
	}
	m, ok := d.(map[string]any)
	require.True(t, ok, "context.data is %T", d)
	return m
}

// userOf returns $context.user of an execution.
func userOf(t *testing.T, x *flow.Execution) map[string]any {
	t.Helper()
	u, ok := x.Context["user"].(map[string]any)
	require.True(t, ok, "context.user is %T", x.Context["user"])
	return u
}

// keysOf lists the workflow keys of executions, in order.
func keysOf(xs []*flow.Execution) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = x.Key
	}
	return out
}

// statusesOf lists the statuses of executions, in order.
func statusesOf(xs []*flow.Execution) []flow.ExecutionStatus {
	out := make([]flow.ExecutionStatus, len(xs))
	for i, x := range xs {
		out[i] = x.Status
	}
	return out
}

// jobStatuses lists the statuses of jobs, in order.
func jobStatuses(js []*flow.Job) []flow.JobStatus {
	out := make([]flow.JobStatus, len(js))
	for i, j := range js {
		out[i] = j.Status
	}
	return out
}

// jobResults lists the results of jobs, in order.
func jobResults(js []*flow.Job) []any {
	out := make([]any, len(js))
	for i, j := range js {
		out[i] = j.Result
	}
	return out
}

// pendingJob returns the last job of an execution, which must be PENDING.
func pendingJob(t *testing.T, eng *actiontrigger.Engine, executionID string) *flow.Job {
	t.Helper()
	js := jobsOf(t, eng, executionID)
	require.NotEmpty(t, js)
	j := js[len(js)-1]
	require.Equal(t, flow.JobPending, j.Status, "last job %s (%s)", j.NodeKey, j.NodeType)
	return j
}

// sleepNode is a test node that sleeps config.ms milliseconds (bounded by ctx)
// and resolves with the previous result.
type sleepNode struct{}

func (sleepNode) Compile(c *nodes.CompileContext, node *flow.Node) (any, error) {
	var cfg struct {
		MS int `json:"ms"`
	}
	if err := nodes.DecodeConfig(c, node, &cfg); err != nil {
		return nil, err
	}
	return time.Duration(cfg.MS) * time.Millisecond, nil
}

func (sleepNode) Run(ctx context.Context, r *nodes.RunContext, prev *flow.Job) (nodes.Result, error) {
	select {
	case <-time.After(r.Compiled.(time.Duration)):
	case <-ctx.Done():
		return nodes.Result{}, ctx.Err()
	}
	var v any
	if prev != nil {
		v = prev.Result
	}
	return nodes.Result{Status: flow.JobResolved, Result: v}, nil
}

// withSleepNode registers sleepNode as "sleep".
func withSleepNode() engineOpt {
	return withNodes(func(r *nodes.Registry) { r.MustRegister("sleep", sleepNode{}) })
}

// storageFilterKey selects every version of key.
func storageFilterKey(key string) storage.WorkflowFilter {
	return storage.WorkflowFilter{Key: key}
}

// testStore returns a fresh store of the kind ACTIONTRIGGER_TEST_STORE names:
// "memory" (the default), "sqlite" (a file in the test's temp folder) or
// "postgres" (a fresh schema of the database in ACTIONTRIGGER_TEST_POSTGRES_DSN),
// so the engine's scenarios run on every adapter.
func testStore(t *testing.T) storage.Store {
	t.Helper()
	return teststores.FromEnv(t)
}

// asJSON returns v as it comes back from a store that keeps payloads as JSON
// (numbers float64, times RFC 3339 strings), so assertions hold on every adapter.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	var out any
	require.NoError(t, json.Unmarshal(raw, &out))
	return out
}

// testStoreKind is the store the tests run on (ACTIONTRIGGER_TEST_STORE).
func testStoreKind() string { return teststores.Kind() }
