package actiontrigger_test

// Node scenarios of the reference, at the engine level: the condition node
// (nocobase-behavior.md F.4, cases 40-43 and 49-59) and the create node (F.6,
// cases 64-69). The reference triggers F.4 through an async collection event on
// posts; here an async local workflow on posts, started by AfterAction.

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
)

// runAsync saves w, creates a post with values, triggers w on it, waits for
// the workers and returns the execution and its jobs.
func runAsync(t *testing.T, eng *actiontrigger.Engine, w flow.Workflow, post flow.Record) (*flow.Execution, []*flow.Job) {
	t.Helper()
	save(t, eng, w)
	p := record(t, eng, "posts", post)
	after(t, eng, createAction("posts", w.Key), p, memberA)
	waitIdle(t, eng)
	xs := execsOf(t, eng, w.Key)
	require.Len(t, xs, 1)
	return xs[0], jobsOf(t, eng, xs[0].ID)
}

// runSync saves the sync workflow w and triggers it on data; it returns the
// execution and its jobs.
func runSync(t *testing.T, eng *actiontrigger.Engine, w flow.Workflow, action actiontrigger.Action, data any) (*flow.Execution, []*flow.Job) {
	t.Helper()
	w.Sync = true
	save(t, eng, w)
	action.TriggerWorkflows = w.Key
	res := after(t, eng, action, data, memberA)
	require.Len(t, res.Executions, 1)
	return res.Executions[0], jobsOf(t, eng, res.Executions[0].ID)
}

func basic(calculator string, a, b any) map[string]any {
	return map[string]any{"calculation": map[string]any{"calculator": calculator, "operands": []any{a, b}}}
}

func withBranches(nd flow.Node, branches map[int][]flow.Node) flow.Node {
	nd.Branches = branches
	return nd
}

// F.4 case 40: rejectOnFalse with a false result fails the execution; the
// downstream node does not run.
func TestNodes_F4_40_RejectOnFalse(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	cfg := basic("equal", 0, 1)
	cfg["rejectOnFalse"] = true
	x, js := runAsync(t, eng, asyncWF("w", "posts", n("c", "condition", cfg), n("e", "echo", nil)), flow.Record{"title": "t"})
	require.Equal(t, flow.ExecutionFailed, x.Status)
	require.Len(t, js, 1)
	require.Equal(t, flow.JobFailed, js[0].Status)
	require.Equal(t, false, js[0].Result)
}

// F.4 case 41: true runs branch 1, then the condition's downstream.
func TestNodes_F4_41_BranchTrueThenDownstream(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	c := withBranches(n("c", "condition", map[string]any{"engine": "expr", "expression": "1 == 1"}), map[int][]flow.Node{
		1: {n("yes", "echo", nil)},
		0: {n("no", "echo", nil)},
	})
	x, js := runAsync(t, eng, asyncWF("w", "posts", c, n("down", "echo", nil)), flow.Record{"title": "t"})
	require.Equal(t, flow.ExecutionResolved, x.Status)
	require.Len(t, js, 3)
	require.Equal(t, []string{"c", "yes", "down"}, []string{js[0].NodeKey, js[1].NodeKey, js[2].NodeKey})
	require.Equal(t, []any{true, true, true}, jobResults(js))
	require.NotNil(t, js[0].Branch)
	require.Equal(t, 1, *js[0].Branch)
}

// F.4 case 42: false runs branch 0; no downstream.
func TestNodes_F4_42_BranchFalseNoDownstream(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	c := withBranches(n("c", "condition", map[string]any{"engine": "expr", "expression": "0 == 1"}), map[int][]flow.Node{
		1: {n("yes", "echo", nil)},
		0: {n("no", "echo", nil)},
	})
	x, js := runAsync(t, eng, asyncWF("w", "posts", c), flow.Record{"title": "t"})
	require.Equal(t, flow.ExecutionResolved, x.Status)
	require.Len(t, js, 2)
	require.Equal(t, "no", js[1].NodeKey)
	require.Equal(t, false, js[1].Result)
}

// F.4 case 43: a false branch holding a condition whose false branch is
// missing continues after the outer condition.
func TestNodes_F4_43_NestedFalseFalseContinues(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	n2 := withBranches(n("n2", "condition", basic("equal", 0, 1)), map[int][]flow.Node{1: {n("n3", "echo", nil)}})
	n1 := withBranches(n("n1", "condition", basic("equal", 0, 1)), map[int][]flow.Node{0: {n2}})
	x, js := runAsync(t, eng, asyncWF("w", "posts", n1, n("n4", "echo", nil)), flow.Record{"title": "t"})
	require.Equal(t, flow.ExecutionResolved, x.Status)
	require.Len(t, js, 3)
	require.Equal(t, []string{"n1", "n2", "n4"}, []string{js[0].NodeKey, js[1].NodeKey, js[2].NodeKey})
	require.Equal(t, []any{false, false, false}, jobResults(js))
}

// F.4 cases 49-54: the basic engine (the default) reads trigger data with
// JavaScript loose equality.
func TestNodes_F4_49to54_BasicEngineOnContext(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		cfg    map[string]any
		post   flow.Record
		result bool
	}{
		{"49 default engine is basic", basic("equal", 1, "{{$context.data.read}}"), flow.Record{"title": "t", "read": 1}, true},
		{"50 title null", basic("equal", 0, "{{$context.data.title}}"), flow.Record{"read": 0}, false},
		{"51 false == 0", basic("equal", false, "{{$context.data.read}}"), flow.Record{"title": "t", "read": 0}, true},
		{"52 1 == 1", basic("equal", 1, "{{$context.data.read}}"), flow.Record{"title": "t", "read": 1}, true},
		{"53 '1' == 1", basic("equal", "1", "{{$context.data.read}}"), flow.Record{"title": "t", "read": 1}, true},
		{"54 no category id == null", basic("equal", "{{$context.data.category.id}}", nil), flow.Record{"title": "t"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			eng := newEngine(t, started())
			x, js := runAsync(t, eng, asyncWF("w", "posts", n("c", "condition", tc.cfg)), tc.post)
			require.Equal(t, flow.ExecutionResolved, x.Status)
			require.Len(t, js, 1)
			require.Equal(t, flow.JobResolved, js[0].Status)
			require.Equal(t, tc.result, js[0].Result)
		})
	}
}

// F.4 cases 55-56: math.js "1 == 1" is the expr engine here; formula.js is
// not implemented, so that engine is refused at save.
func TestNodes_F4_55_56_Engines(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	x, js := runAsync(t, eng, asyncWF("w", "posts", n("c", "condition", map[string]any{"engine": "expr", "expression": "1 == 1"})), flow.Record{"title": "t"})
	require.Equal(t, flow.ExecutionResolved, x.Status)
	require.Equal(t, true, js[0].Result)

	for _, engine := range []string{"formula.js", "math.js"} {
		_, err := eng.SaveWorkflow(context.Background(), asyncWF("f", "posts", n("c", "condition", map[string]any{"engine": engine, "expression": "1 == 1"})))
		var ve *flow.ValidationError
		require.ErrorAs(t, err, &ve, engine)
		require.Equal(t, "c", ve.Node)
		require.Equal(t, "config.engine", ve.Field)
	}
}

// F.4 case 57: a condition without config is true.
func TestNodes_F4_57_ConditionWithoutConfig(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	c := withBranches(flow.Node{Key: "c", Type: "condition"}, map[int][]flow.Node{
		1: {n("yes", "echo", nil)},
		0: {n("no", "echo", nil)},
	})
	x, js := runAsync(t, eng, asyncWF("w", "posts", c), flow.Record{"title": "t"})
	require.Equal(t, flow.ExecutionResolved, x.Status)
	require.Len(t, js, 2)
	require.Equal(t, "yes", js[1].NodeKey)
	require.Equal(t, true, js[1].Result)
}

// F.4 case 58: a pending node in a branch pauses; resumed, the flow continues
// after the condition.
func TestNodes_F4_58_PendingInBranchResumes(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started())
	c := withBranches(n("c", "condition", map[string]any{"engine": "expr", "expression": "true"}), map[int][]flow.Node{
		1: {n("p", "pending", nil)},
	})
	x, js := runAsync(t, eng, asyncWF("w", "posts", c, n("down", "echo", nil)), flow.Record{"title": "t"})
	require.Equal(t, flow.ExecutionStarted, x.Status)
	require.Len(t, js, 2)
	require.Equal(t, flow.JobPending, js[1].Status)

	require.NoError(t, eng.Resume(ctx, js[1].ID, flow.JobResolved, 123))
	waitIdle(t, eng)
	x = execution(t, eng, x.ID)
	require.Equal(t, flow.ExecutionResolved, x.Status)
	js = jobsOf(t, eng, x.ID)
	require.Len(t, js, 3)
	require.Equal(t, []string{"c", "p", "down"}, []string{js[0].NodeKey, js[1].NodeKey, js[2].NodeKey})
	require.Equal(t, flow.JobResolved, js[1].Status)
	require.Equal(t, asJSON(t, 123), asJSON(t, js[1].Result))
}

// F.4 case 58 variant: pending with config.status decides the resumed status.
func TestNodes_F4_58_PendingConfigStatus(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started())
	x, js := runAsync(t, eng, asyncWF("w", "posts", n("p", "pending", map[string]any{"status": -1}), n("e", "echo", nil)), flow.Record{"title": "t"})
	require.Equal(t, flow.ExecutionStarted, x.Status)
	require.NoError(t, eng.Resume(ctx, js[0].ID, flow.JobResolved, nil))
	waitIdle(t, eng)
	require.Equal(t, flow.ExecutionFailed, execution(t, eng, x.ID).Status)
	require.Len(t, jobsOf(t, eng, x.ID), 1)
}

// F.4 case 59: prompt->error in a branch: after resume, execution ERROR.
func TestNodes_F4_59_PromptErrorInBranch(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started())
	c := withBranches(n("c", "condition", map[string]any{"engine": "expr", "expression": "true"}), map[int][]flow.Node{
		1: {n("p", "prompt->error", nil)},
	})
	x, js := runAsync(t, eng, asyncWF("w", "posts", c, n("down", "echo", nil)), flow.Record{"title": "t"})
	require.Equal(t, flow.ExecutionStarted, x.Status)
	require.NoError(t, eng.Resume(ctx, js[1].ID, flow.JobResolved, nil))
	waitIdle(t, eng)
	require.Equal(t, flow.ExecutionError, execution(t, eng, x.ID).Status)
	js = jobsOf(t, eng, x.ID)
	require.Len(t, js, 2)
	require.Equal(t, flow.JobError, js[1].Status)
}

// A condition whose evaluation fails at run time makes the job ERROR.
func TestNodes_ConditionRuntimeError(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	x, js := runAsync(t, eng, asyncWF("w", "posts", n("c", "condition", map[string]any{"engine": "expr", "expression": "$context.data.title + 1 > 0"}), n("e", "echo", nil)), flow.Record{"title": "t"})
	require.Equal(t, flow.ExecutionError, x.Status)
	require.Len(t, js, 1)
	require.Equal(t, flow.JobError, js[0].Status)
}

// ---- F.6 create node ----

// F.6 case 64: values rendered from the context.
func TestNodes_F6_64_CreateValuesFromContext(t *testing.T) {
	t.Parallel()
	eng := newEngine(t)
	p := record(t, eng, "posts", flow.Record{"title": "t1"})
	x, js := runSync(t, eng, syncWF("w", "posts", n("c", "create", map[string]any{
		"collection": "comments",
		"params":     map[string]any{"values": map[string]any{"postId": "{{$context.data.id}}", "content": "on {{$context.data.title}}"}},
	})), createAction("posts", ""), p)
	require.Equal(t, flow.ExecutionResolved, x.Status)
	require.Len(t, js, 1)
	res := js[0].Result.(map[string]any)
	require.EqualValues(t, p["id"], res["postId"])
	require.Equal(t, "on t1", res["content"])
	comments, err := eng.Records().ListRecords(context.Background(), "comments", nil, nil)
	require.NoError(t, err)
	require.Len(t, comments, 1)
	require.EqualValues(t, p["id"], comments[0]["postId"])
}

// F.6 case 65: hasMany ids link existing records; appends load them.
func TestNodes_F6_65_CreateHasManyIds(t *testing.T) {
	t.Parallel()
	eng := newEngine(t)
	r1 := record(t, eng, "replies", flow.Record{"content": "r1"})
	r2 := record(t, eng, "replies", flow.Record{"content": "r2"})
	p := record(t, eng, "posts", flow.Record{"title": "t1"})
	_, js := runSync(t, eng, syncWF("w", "posts", n("c", "create", map[string]any{
		"collection": "comments",
		"params":     map[string]any{"values": map[string]any{"replies": []any{r1["id"], r2["id"]}}, "appends": []any{"replies"}},
	})), createAction("posts", ""), p)
	require.Equal(t, flow.JobResolved, js[0].Status, "%v", js[0].Result)
	replies, ok := js[0].Result.(map[string]any)["replies"].([]any)
	require.True(t, ok, "%#v", js[0].Result)
	require.Len(t, replies, 2)
}

// F.6 case 66: appends of a belongsTo.
func TestNodes_F6_66_CreateAppendsBelongsTo(t *testing.T) {
	t.Parallel()
	eng := newEngine(t)
	p := record(t, eng, "posts", flow.Record{"title": "t1"})
	_, js := runSync(t, eng, syncWF("w", "posts", n("c", "create", map[string]any{
		"collection": "comments",
		"params":     map[string]any{"values": map[string]any{"postId": "{{$context.data.id}}"}, "appends": []any{"post"}},
	})), createAction("posts", ""), p)
	require.Equal(t, flow.JobResolved, js[0].Status, "%v", js[0].Result)
	post, ok := js[0].Result.(map[string]any)["post"].(map[string]any)
	require.True(t, ok, "%#v", js[0].Result)
	require.EqualValues(t, p["id"], post["id"])
}

// F.6 case 67: belongsToMany given as ids, with appends.
func TestNodes_F6_67_CreateBelongsToMany(t *testing.T) {
	t.Parallel()
	eng := newEngine(t)
	p := record(t, eng, "posts", flow.Record{"title": "t1"})
	_, js := runSync(t, eng, syncWF("w", "posts", n("c", "create", map[string]any{
		"collection": "tags",
		"params":     map[string]any{"values": map[string]any{"name": "n", "posts": []any{"{{$context.data.id}}"}}, "appends": []any{"posts"}},
	})), createAction("posts", ""), p)
	require.Equal(t, flow.JobResolved, js[0].Status, "%v", js[0].Result)
	posts, ok := js[0].Result.(map[string]any)["posts"].([]any)
	require.True(t, ok, "%#v", js[0].Result)
	require.Len(t, posts, 1)
	require.EqualValues(t, p["id"], posts[0].(map[string]any)["id"])
}

// F.6 case 68: create in another data source.
func TestNodes_F6_68_CreateOtherDataSource(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t)
	p := record(t, eng, "posts", flow.Record{"title": "t1"})
	_, js := runSync(t, eng, syncWF("w", "posts", n("c", "create", map[string]any{
		"collection": "another:posts",
		"params":     map[string]any{"values": map[string]any{"title": "{{$context.data.title}}", "published": true}},
	})), createAction("posts", ""), p)
	require.Equal(t, flow.JobResolved, js[0].Status, "%v", js[0].Result)
	require.Equal(t, "t1", js[0].Result.(map[string]any)["title"])
	rows, err := eng.Records().ListRecords(ctx, "another:posts", nil, nil)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, "t1", rows[0]["title"])
	require.Equal(t, true, rows[0]["published"])
	main, err := eng.Records().ListRecords(ctx, "posts", nil, nil)
	require.NoError(t, err)
	require.Len(t, main, 1, "the main posts are untouched")
}

// F.6 case 69: create node validation at save. The reference accepts
// "main:posts"; here the main data source has no prefix, so it is undeclared.
func TestNodes_F6_69_CreateValidation(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t)
	cases := []struct {
		name  string
		cfg   map[string]any
		field string
		cause error
	}{
		{"empty config", nil, "config.collection", nil},
		{"unknown collection", map[string]any{"collection": "nope"}, "config.collection", flow.ErrUnknownCollection},
		{"main prefix", map[string]any{"collection": "main:posts"}, "config.collection", flow.ErrUnknownCollection},
		{"bad data source", map[string]any{"collection": "bad_ds:posts"}, "config.collection", flow.ErrUnknownCollection},
		{"unknown value field", map[string]any{"collection": "posts", "params": map[string]any{"values": map[string]any{"nope": 1}}}, "config.params.values.nope", flow.ErrUnknownField},
		{"bad appends", map[string]any{"collection": "posts", "params": map[string]any{"appends": []any{"title"}}}, "config.params.appends", flow.ErrUnknownField},
		{"unknown params key", map[string]any{"collection": "posts", "params": map[string]any{"filter": map[string]any{}}}, "config", nil},
	}
	for _, tc := range cases {
		_, err := eng.SaveWorkflow(ctx, syncWF("bad", "posts", n("c", "create", tc.cfg)))
		require.ErrorIs(t, err, flow.ErrInvalidWorkflow, tc.name)
		var ve *flow.ValidationError
		require.ErrorAs(t, err, &ve, tc.name)
		require.Equal(t, "c", ve.Node, tc.name)
		require.Equal(t, tc.field, ve.Field, tc.name)
		if tc.cause != nil {
			require.ErrorIs(t, err, tc.cause, tc.name)
		}
	}
	_, err := eng.Workflow(ctx, "bad")
	require.ErrorIs(t, err, flow.ErrNotFound)
	for _, coll := range []string{"posts", "another:posts", "postsTags"} {
		_, err := eng.SaveWorkflow(ctx, syncWF("ok-"+coll, "posts", n("c", "create", map[string]any{"collection": coll})))
		require.NoError(t, err, coll)
	}
}

// A store error in a create node makes the job ERROR with the store's message.
func TestNodes_CreateStoreErrorIsJobError(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t)
	save(t, eng, syncWF("w", "posts", n("c", "create", map[string]any{
		"collection": "postsTags",
		"params":     map[string]any{"values": map[string]any{"postId": "{{$context.data.id}}", "tagId": 1}},
	})))
	p := record(t, eng, "posts", flow.Record{"title": "t1"})
	res := after(t, eng, createAction("posts", "w"), p, memberA)
	require.Equal(t, flow.ExecutionResolved, res.Executions[0].Status)
	// The same composite key again is a duplicate.
	_, err := eng.AfterAction(ctx, createAction("posts", "w"), p, memberA)
	var se *actiontrigger.SyncError
	require.ErrorAs(t, err, &se)
	require.Equal(t, actiontrigger.SyncFailed, se.Kind)
	js := jobsOf(t, eng, se.Execution.ID)
	require.Len(t, js, 1)
	require.Equal(t, flow.JobError, js[0].Status)
	require.NotEmpty(t, js[0].Result.(map[string]any)["message"])
	rows, err := eng.Records().ListRecords(ctx, "postsTags", nil, nil)
	require.NoError(t, err)
	require.Len(t, rows, 1)
}
