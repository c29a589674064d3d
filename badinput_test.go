package actiontrigger_test

// Bad input (SPEC section 7): every bad input gets a typed, errors.Is-able
// error naming what and where, and changes nothing.

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/expression"
	"github.com/actiontrigger/actiontrigger/flow"
)

// Invalid workflow documents fail SaveWorkflow with a *flow.ValidationError
// (errors.Is flow.ErrInvalidWorkflow) naming the node and the field, and
// nothing is stored.
func TestBadInput_InvalidWorkflowDocuments(t *testing.T) {
	t.Parallel()
	cond := func(key string, cfg map[string]any) flow.Node { return n(key, "condition", cfg) }
	cases := []struct {
		name  string
		wf    flow.Workflow
		node  string
		field string
		cause error
	}{
		{name: "unknown node type",
			wf: asyncWF("bad", "posts", n("ok", "echo", nil), n("x", "nope", nil)), node: "x", field: "type"},
		{name: "bad config field",
			wf: asyncWF("bad", "posts", cond("c", map[string]any{"engine": "expr", "expression": "true", "rejectOnFlase": true})), node: "c", field: "config"},
		{name: "bad config type",
			wf: asyncWF("bad", "posts", n("e", "end", map[string]any{"endStatus": "minus one"})), node: "e", field: "config"},
		{name: "expr does not compile",
			wf: asyncWF("bad", "posts", cond("c", map[string]any{"engine": "expr", "expression": "1 +"})), node: "c", field: "config.expression", cause: expression.ErrExpression},
		{name: "expr missing",
			wf: asyncWF("bad", "posts", cond("c", map[string]any{"engine": "expr"})), node: "c", field: "config.expression"},
		{name: "unknown condition engine",
			wf: asyncWF("bad", "posts", cond("c", map[string]any{"engine": "mathjs"})), node: "c", field: "config.engine"},
		{name: "unknown calculator",
			wf: asyncWF("bad", "posts", cond("c", basic("foo", 1, 1))), node: "c", field: "config.calculation", cause: expression.ErrUnknownCalculator},
		{name: "template does not parse",
			wf: asyncWF("bad", "posts", n("m", "response-message", map[string]any{"message": "hello {{$context.data.title"})), node: "m", field: "config.message", cause: expression.ErrTemplate},
		{name: "template with a forbidden character",
			wf: asyncWF("bad", "posts", n("v", "echoVariable", map[string]any{"variable": "{{$context.data['title']}}"})), node: "v", field: "config.variable", cause: expression.ErrTemplate},
		{name: "message not a string",
			wf: asyncWF("bad", "posts", n("m", "response-message", map[string]any{"message": 12})), node: "m", field: "config.message"},
		{name: "unknown trigger collection",
			wf: asyncWF("bad", "nope"), field: "config.collection", cause: flow.ErrUnknownCollection},
		{name: "main prefix is not a declared name",
			wf: asyncWF("bad", "main:posts"), field: "config.collection", cause: flow.ErrUnknownCollection},
		{name: "missing trigger collection",
			wf: asyncWF("bad", ""), field: "config.collection"},
		{name: "unknown trigger type",
			wf: func() flow.Workflow { w := asyncWF("bad", "posts"); w.Type = "collection"; return w }(), field: "type"},
		{name: "action that cannot trigger",
			wf: globalWF("bad", "posts", false, []string{"create", "destroy"}), field: "config.actions"},
		{name: "append that is not an association",
			wf: func() flow.Workflow { w := asyncWF("bad", "posts"); w.Config.Appends = []string{"title"}; return w }(), field: "config.appends", cause: flow.ErrUnknownField},
		{name: "append through an unknown field",
			wf: func() flow.Workflow {
				w := asyncWF("bad", "posts")
				w.Config.Appends = []string{"category.nope"}
				return w
			}(), field: "config.appends", cause: flow.ErrUnknownField},
		{name: "deleteExecutionOnStatus not final",
			wf: func() flow.Workflow {
				w := asyncWF("bad", "posts")
				w.Options.DeleteExecutionOnStatus = []flow.ExecutionStatus{flow.ExecutionStarted}
				return w
			}(), field: "options.deleteExecutionOnStatus"},
		{name: "negative timeout",
			wf: func() flow.Workflow { w := asyncWF("bad", "posts"); w.Options.Timeout = -1; return w }(), field: "options"},
		{name: "unknown field in create values",
			wf: asyncWF("bad", "posts", n("c", "create", map[string]any{"collection": "comments", "params": map[string]any{"values": map[string]any{"nope": 1}}})), node: "c", field: "config.params.values.nope", cause: flow.ErrUnknownField},
		{name: "unknown field in a template",
			wf: asyncWF("bad", "posts", n("v", "echoVariable", map[string]any{"variable": "{{$context.data.nope}}"})), node: "v", field: "config.variable", cause: flow.ErrUnknownField},
		{name: "unknown field through an association in a template",
			wf: asyncWF("bad", "posts", n("v", "echoVariable", map[string]any{"variable": "x {{$context.data.category.nope}}"})), node: "v", field: "config.variable", cause: flow.ErrUnknownField},
		{name: "unknown field in create values template",
			wf: asyncWF("bad", "posts", n("c", "create", map[string]any{"collection": "comments", "params": map[string]any{"values": map[string]any{"content": "{{$context.data.nope}}"}}})), node: "c", field: "config.params.values", cause: flow.ErrUnknownField},
		{name: "unknown field in an expression",
			wf: asyncWF("bad", "posts", cond("c", map[string]any{"engine": "expr", "expression": "$context.data.nope > 1"})), node: "c", field: "config.expression", cause: flow.ErrUnknownField},
		{name: "unknown field in a calculation",
			wf: asyncWF("bad", "posts", cond("c", basic("equal", "{{$context.data.nope}}", 1))), node: "c", field: "config.calculation", cause: flow.ErrUnknownField},
		{name: "unknown node in $jobsMapByNodeKey",
			wf: asyncWF("bad", "posts", n("v", "echoVariable", map[string]any{"variable": "{{$jobsMapByNodeKey.ghost}}"})), node: "v", field: "config.variable"},
		{name: "sync workflow with a pausing node",
			wf: syncWF("bad", "posts", n("e", "echo", nil), n("p", "prompt", nil)), node: "p", field: "type"},
		{name: "duplicate node keys",
			wf: asyncWF("bad", "posts", withBranches(cond("c", nil), map[int][]flow.Node{1: {n("dup", "echo", nil)}}), n("dup", "echo", nil)), node: "dup", field: "key", cause: flow.ErrDuplicate},
		{name: "node without key",
			wf: asyncWF("bad", "posts", n("", "echo", nil)), field: "nodes"},
		{name: "branch index a condition does not have",
			wf: asyncWF("bad", "posts", withBranches(cond("c", nil), map[int][]flow.Node{2: {n("x", "echo", nil)}})), node: "c", field: "branches"},
		{name: "branches on a node that has none",
			wf: asyncWF("bad", "posts", withBranches(n("e", "echo", nil), map[int][]flow.Node{1: {n("x", "echo", nil)}})), node: "e", field: "branches"},
		{name: "invalid node inside a branch",
			wf: asyncWF("bad", "posts", withBranches(cond("c", nil), map[int][]flow.Node{0: {n("deep", "create", map[string]any{"collection": "nope"})}})), node: "deep", field: "config.collection", cause: flow.ErrUnknownCollection},
		{name: "unknown endStatus",
			wf: asyncWF("bad", "posts", n("e", "end", map[string]any{"endStatus": 0})), node: "e", field: "config.endStatus"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			eng := newEngine(t)
			save(t, eng, asyncWF("other", "posts"))
			before, err := eng.Workflows(ctx, storageFilterKey(""))
			require.NoError(t, err)

			got, err := eng.SaveWorkflow(ctx, tc.wf)
			require.Nil(t, got)
			require.ErrorIs(t, err, flow.ErrInvalidWorkflow)
			var ve *flow.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, "bad", ve.Workflow)
			require.Equal(t, tc.node, ve.Node)
			require.Equal(t, tc.field, ve.Field)
			require.NotEmpty(t, ve.Message)
			require.Contains(t, err.Error(), tc.field)
			if tc.node != "" {
				require.Contains(t, err.Error(), `node "`+tc.node+`"`)
			}
			if tc.cause != nil {
				require.ErrorIs(t, err, tc.cause)
			}

			_, err = eng.Workflow(ctx, "bad")
			require.ErrorIs(t, err, flow.ErrNotFound, "nothing stored")
			all, err := eng.Workflows(ctx, storageFilterKey(""))
			require.NoError(t, err)
			require.Len(t, all, len(before))
		})
	}
}

// An invalid update leaves the stored version as it was and keeps running it.
func TestBadInput_InvalidUpdateChangesNothing(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t)
	w := save(t, eng, syncWF("w", "posts", n("v", "echoVariable", map[string]any{"variable": "{{$context.data.title}}"})))
	bad := *w.Clone()
	bad.Nodes = []flow.Node{n("v", "echoVariable", map[string]any{"variable": "{{$context.data.nope}}"})}
	bad.Title = "changed"
	_, err := eng.SaveWorkflow(ctx, bad)
	var ve *flow.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "v", ve.Node)

	got, err := eng.Workflow(ctx, "w")
	require.NoError(t, err)
	require.Equal(t, w.Nodes, got.Nodes)
	require.Equal(t, w.Title, got.Title)
	require.Equal(t, w.UpdatedAt, got.UpdatedAt)
	res := after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t1"}), memberA)
	require.Equal(t, "t1", jobsOf(t, eng, res.Executions[0].ID)[0].Result)

	// A version id that does not exist, and a key change of a version.
	ghost := *w.Clone()
	ghost.ID = "no-such-version"
	_, err = eng.SaveWorkflow(ctx, ghost)
	require.ErrorIs(t, err, flow.ErrNotFound)
	rekey := *w.Clone()
	rekey.Key = "other"
	_, err = eng.SaveWorkflow(ctx, rekey)
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "key", ve.Field)
	_, err = eng.Workflow(ctx, "other")
	require.ErrorIs(t, err, flow.ErrNotFound)
}

// Malformed or mismatched triggerWorkflows under the Strict policy: a
// *BindingError (errors.Is ErrBinding) that lists every bad entry; nothing runs.
func TestBadInput_MalformedTriggerWorkflows(t *testing.T) {
	t.Parallel()
	type problem struct{ key, path string }
	cases := []struct {
		name     string
		tw       string
		problems []problem
		cause    error // an extra sentinel the error must wrap
	}{
		{name: "empty entry", tw: "a,,b", problems: []problem{{"", ""}}},
		{name: "only commas", tw: ",", problems: []problem{{"", ""}, {"", ""}}},
		{name: "path marker without path", tw: "k!", problems: []problem{{"k", ""}}},
		{name: "empty path segment", tw: "k!a..b", problems: []problem{{"k", "a..b"}}},
		{name: "leading dot", tw: "a,k!.category", problems: []problem{{"k", ".category"}}},
		{name: "empty key with path", tw: "!category", problems: []problem{{"", "category"}}},
		{name: "unknown key", tw: "a,nope", problems: []problem{{"nope", ""}}},
		{name: "disabled", tw: "dis,a", problems: []problem{{"dis", ""}}},
		{name: "other collection", tw: "com", problems: []problem{{"com", ""}}},
		{name: "other data source", tw: "far", problems: []problem{{"far", ""}}},
		{name: "path reaching another collection", tw: "a!category", problems: []problem{{"a", "category"}}},
		{name: "path through an unknown field", tw: "cat!nope", problems: []problem{{"cat", "nope"}}, cause: flow.ErrUnknownField},
		{name: "path through a scalar field", tw: "cat!title", problems: []problem{{"cat", "title"}}, cause: flow.ErrUnknownField},
		{name: "to-many path", tw: "com!comments", problems: []problem{{"com", "comments"}}},
		{name: "every bad entry is listed", tw: "nope,a,dis,com!comments,,k!x..y", problems: []problem{{"nope", ""}, {"dis", ""}, {"com", "comments"}, {"", ""}, {"k", "x..y"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			eng := newEngine(t)
			save(t, eng, recorderWF("a", "posts"))
			save(t, eng, asyncWF("b", "posts"))
			save(t, eng, recorderWF("k", "posts"))
			dis := recorderWF("dis", "posts")
			dis.Enabled = false
			save(t, eng, dis)
			save(t, eng, recorderWF("com", "comments"))
			save(t, eng, recorderWF("cat", "categories"))
			save(t, eng, recorderWF("far", "another:posts"))
			save(t, eng, globalWF("g", "posts", true, []string{"create"}))
			action := createAction("posts", tc.tw)

			for _, check := range []struct {
				what string
				err  error
			}{
				{"CheckBinding", eng.CheckBinding(action)},
				{"AfterAction", func() error {
					_, err := eng.AfterAction(ctx, action, record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
					return err
				}()},
			} {
				err := check.err
				require.ErrorIs(t, err, actiontrigger.ErrBinding, check.what)
				var be *actiontrigger.BindingError
				require.ErrorAs(t, err, &be, check.what)
				require.Equal(t, "posts", be.Collection, check.what)
				got := []problem{}
				for _, p := range be.Problems {
					got = append(got, problem{p.Key, p.Path})
					require.NotEmpty(t, p.Reason, "%s: %q", check.what, p.Key)
				}
				require.ElementsMatch(t, tc.problems, got, "%s: %v", check.what, err)
				if tc.cause != nil {
					require.ErrorIs(t, err, tc.cause, check.what)
				}
			}
			require.Empty(t, allExecs(t, eng), "nothing ran or was queued")
		})
	}
}

// Under Lenient, unusable entries are dropped but unusable paths still fail.
func TestBadInput_LenientBindings(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, lenient())
	save(t, eng, recorderWF("a", "posts"))
	save(t, eng, recorderWF("b", "posts"))
	save(t, eng, recorderWF("cat", "categories"))
	res := after(t, eng, createAction("posts", "a,,nope,k!x..y,b"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	require.Equal(t, []string{"a", "b"}, keysOf(res.Executions))

	for _, tw := range []string{"cat!nope", "cat!title"} {
		_, err := eng.AfterAction(ctx, createAction("posts", tw), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
		require.ErrorIs(t, err, actiontrigger.ErrBinding, tw)
		require.ErrorIs(t, err, flow.ErrUnknownField, tw)
	}
	require.Len(t, allExecs(t, eng), 2)
}

// Data that is not a record fails with flow.ErrInvalidRecord and nothing runs.
func TestBadInput_DataNotARecord(t *testing.T) {
	t.Parallel()
	type post struct {
		Title string `json:"title"`
	}
	var nilMap map[string]any
	var nilPost *post
	cases := map[string]any{
		"string":         "post 1",
		"int":            1,
		"nil":            nil,
		"[]string":       []string{"a", "b"},
		"[]any of ints":  []any{map[string]any{"id": 1}, 2},
		"nil map":        nilMap,
		"nil pointer":    nilPost,
		"[]any with nil": []any{nil},
		"channel":        make(chan int),
		"bool":           true,
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			eng := newEngine(t)
			save(t, eng, recorderWF("s", "posts"))
			save(t, eng, asyncWF("a", "posts"))
			save(t, eng, globalWF("g", "posts", true, []string{"create"}))
			res, err := eng.AfterAction(ctx, createAction("posts", "a,s"), data, memberA)
			require.ErrorIs(t, err, flow.ErrInvalidRecord)
			require.Contains(t, err.Error(), "posts")
			if res != nil {
				require.Empty(t, res.Executions)
			}
			require.Empty(t, allExecs(t, eng), "nothing ran or was queued")

			_, err = eng.Execute(ctx, "s", data, memberA)
			if name == "int" {
				// A bare primary key: here one that does not exist.
				require.ErrorIs(t, err, flow.ErrNotFound)
			} else {
				// "post 1" is no integer key of posts, and the rest are no records.
				require.ErrorIs(t, err, flow.ErrInvalidRecord)
			}
			require.Empty(t, allExecs(t, eng))
		})
	}
}

// Execute refuses what it cannot turn into one record.
func TestBadInput_ExecuteData(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t)
	save(t, eng, recorderWF("s", "posts"))
	save(t, eng, recorderWF("pt", "postsTags"))
	_, err := eng.Execute(ctx, "s", []map[string]any{{"id": 1}, {"id": 2}}, memberA)
	require.ErrorIs(t, err, flow.ErrInvalidRecord, "two records")
	_, err = eng.Execute(ctx, "pt", 1, memberA)
	require.ErrorIs(t, err, flow.ErrInvalidRecord, "a bare key of a composite-key collection")
	_, err = eng.Execute(ctx, "nope", map[string]any{"id": 1}, memberA)
	require.ErrorIs(t, err, flow.ErrNotFound)
	require.Empty(t, allExecs(t, eng))
}

// A workflow with appends needs the record's primary key to reload it.
func TestBadInput_AppendsWithoutPrimaryKey(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t)
	w := syncWF("w", "posts")
	w.Config.Appends = []string{"category"}
	save(t, eng, w)
	_, err := eng.AfterAction(ctx, createAction("posts", "w"), map[string]any{"title": "no id"}, memberA)
	require.ErrorIs(t, err, flow.ErrInvalidRecord)
	require.Empty(t, allExecs(t, eng))
}

// Unknown ids: flow.ErrNotFound everywhere.
func TestBadInput_UnknownIDs(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t)
	save(t, eng, asyncWF("w", "posts"))
	const ghost = "00000000-0000-0000-0000-000000000000"

	_, err := eng.Execution(ctx, ghost)
	require.ErrorIs(t, err, flow.ErrNotFound, "Execution")
	require.Contains(t, err.Error(), ghost)
	_, err = eng.Jobs(ctx, ghost)
	require.ErrorIs(t, err, flow.ErrNotFound, "Jobs")
	require.ErrorIs(t, eng.CancelExecution(ctx, ghost), flow.ErrNotFound, "CancelExecution")
	err = eng.Resume(ctx, ghost, flow.JobResolved, 1)
	require.ErrorIs(t, err, flow.ErrNotFound, "Resume")
	require.Contains(t, err.Error(), ghost)

	_, err = eng.Workflow(ctx, "nope")
	require.ErrorIs(t, err, flow.ErrNotFound, "Workflow")
	_, err = eng.WorkflowVersion(ctx, ghost)
	require.ErrorIs(t, err, flow.ErrNotFound, "WorkflowVersion")
	require.ErrorIs(t, eng.Enable(ctx, "nope"), flow.ErrNotFound, "Enable")
	require.ErrorIs(t, eng.Disable(ctx, "nope"), flow.ErrNotFound, "Disable")
	require.ErrorIs(t, eng.EnableVersion(ctx, ghost), flow.ErrNotFound, "EnableVersion")
	_, err = eng.Revise(ctx, "nope")
	require.ErrorIs(t, err, flow.ErrNotFound, "Revise")
	require.ErrorIs(t, eng.DeleteWorkflow(ctx, "nope"), flow.ErrNotFound, "DeleteWorkflow")

	_, err = eng.Execute(ctx, "w", 404, memberA)
	require.ErrorIs(t, err, flow.ErrNotFound, "Execute on a missing record")
	require.Empty(t, allExecs(t, eng))
}

// An action on an undeclared collection: flow.ErrUnknownCollection.
func TestBadInput_UnknownCollectionInAction(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t)
	save(t, eng, recorderWF("w", "posts"))
	for _, coll := range []string{"nope", "main:posts", "bad_ds:posts", "Posts", ""} {
		action := createAction(coll, "w")
		_, err := eng.AfterAction(ctx, action, map[string]any{"id": 1}, memberA)
		require.ErrorIs(t, err, flow.ErrUnknownCollection, coll)
		require.Contains(t, err.Error(), `"`+coll+`"`)
		require.ErrorIs(t, eng.CheckBinding(action), flow.ErrUnknownCollection, coll)
	}
	require.Empty(t, allExecs(t, eng))
}

// New refuses a schema it cannot use.
func TestBadInput_NewWithBadSchema(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cases := []struct {
		name  string
		cs    []flow.Collection
		cause error
	}{
		{"no name", []flow.Collection{{Name: ""}}, flow.ErrInvalidCollection},
		{"field declared twice", []flow.Collection{{Name: "a", Fields: []flow.Field{{Name: "x", Type: flow.FieldString}, {Name: "x", Type: flow.FieldString}}}}, flow.ErrInvalidCollection},
		{"hasMany without foreignKey", []flow.Collection{{Name: "a", Fields: []flow.Field{{Name: "bs", Type: flow.FieldHasMany, Target: "b"}}}, {Name: "b"}}, flow.ErrInvalidCollection},
		{"declared twice", append(referenceCollections(), flow.Collection{Name: "posts"}), flow.ErrDuplicate},
		{"association to an undeclared collection", []flow.Collection{{Name: "a", Fields: []flow.Field{{Name: "b", Type: flow.FieldBelongsTo, Target: "b"}}}}, flow.ErrUnknownCollection},
	}
	for _, tc := range cases {
		eng, err := actiontrigger.New(ctx, actiontrigger.Config{Collections: tc.cs, Logger: testLogger})
		require.ErrorIs(t, err, tc.cause, tc.name)
		require.Nil(t, eng, tc.name)
	}
}

// Engine calls that need workers fail clearly before Start.
func TestBadInput_WaitIdleBeforeStart(t *testing.T) {
	t.Parallel()
	eng := newEngine(t)
	require.ErrorIs(t, eng.WaitIdle(context.Background()), actiontrigger.ErrNotStarted)
}
