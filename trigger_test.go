package actiontrigger_test

// Ports of the reference's action-trigger scenarios (nocobase-behavior.md F.1,
// cases 1-24) and the triggering rules of SPEC section 1.
//
// "user creates a post with triggerWorkflows=K" is: the host writes the record
// through eng.Records().CreateRecord, then calls AfterAction with the record.
// "sleep" is WaitIdle on a started engine.

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/nodes"
	"github.com/actiontrigger/actiontrigger/storage"
)

// F.1 case 1: executions only while the workflow is enabled.
func TestTrigger_F1_01_EnabledDisabled(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started())
	u := seedUsers(t, eng)
	save(t, eng, asyncWF("w", "posts"))

	p1 := record(t, eng, "posts", flow.Record{"title": "t1"})
	after(t, eng, createAction("posts", "w"), p1, u.a)
	waitIdle(t, eng)
	xs := execsOf(t, eng, "w")
	require.Len(t, xs, 1)
	require.Equal(t, flow.ExecutionResolved, xs[0].Status)
	require.Equal(t, "t1", dataOf(t, xs[0])["title"])

	require.NoError(t, eng.Disable(ctx, "w"))
	p2 := record(t, eng, "posts", flow.Record{"title": "t2"})
	// Strict policy (the default): naming a disabled workflow is a binding error.
	_, err := eng.AfterAction(ctx, createAction("posts", "w"), p2, u.a)
	require.ErrorIs(t, err, actiontrigger.ErrBinding)
	waitIdle(t, eng)
	require.Len(t, execsOf(t, eng, "w"), 1, "a disabled workflow must not run")

	require.NoError(t, eng.Enable(ctx, "w"))
	p3 := record(t, eng, "posts", flow.Record{"title": "t3"})
	after(t, eng, createAction("posts", "w"), p3, u.a)
	waitIdle(t, eng)
	xs = execsOf(t, eng, "w")
	require.Len(t, xs, 2)
	require.Equal(t, flow.ExecutionResolved, xs[1].Status)
	require.Equal(t, "t3", dataOf(t, xs[1])["title"])
}

// F.1 case 1 under the Lenient policy: the disabled key is ignored silently.
func TestTrigger_F1_01_EnabledDisabled_Lenient(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started(), lenient())
	save(t, eng, asyncWF("w", "posts"))
	require.NoError(t, eng.Disable(ctx, "w"))
	res := after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t2"}), memberA)
	require.Empty(t, res.Executions)
	waitIdle(t, eng)
	require.Empty(t, execsOf(t, eng, "w"))
}

// F.1 case 2: a workflow runs only when its collection matches the action's.
// The reference edits the config of the executed workflow in the database; here
// the executed version is frozen, so the change goes through a revision.
func TestTrigger_F1_02_OnlyMatchingCollection(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{"strict", "lenient"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			opts := []engineOpt{started()}
			if policy == "lenient" {
				opts = append(opts, lenient())
			}
			eng := newEngine(t, opts...)
			save(t, eng, asyncWF("w", "posts"))
			after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t1"}), memberA)
			waitIdle(t, eng)
			require.Len(t, execsOf(t, eng, "w"), 1)

			rev, err := eng.Revise(ctx, "w")
			require.NoError(t, err)
			rev.Config.Collection = "comments"
			rev, err = eng.SaveWorkflow(ctx, *rev)
			require.NoError(t, err)
			require.NoError(t, eng.EnableVersion(ctx, rev.ID))

			_, err = eng.AfterAction(ctx, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t2"}), memberA)
			if policy == "strict" {
				var be *actiontrigger.BindingError
				require.ErrorAs(t, err, &be)
				require.Len(t, be.Problems, 1)
				require.Equal(t, "w", be.Problems[0].Key)
				require.Contains(t, be.Problems[0].Reason, "comments")
			} else {
				require.NoError(t, err)
			}
			waitIdle(t, eng)
			require.Len(t, execsOf(t, eng, "w"), 1, "collection mismatch must not run")
		})
	}
}

// F.1 case 3: the event data is the whole record, system fields included.
func TestTrigger_F1_03_SystemFieldsAccessible(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	save(t, eng, asyncWF("w", "posts"))
	p := record(t, eng, "posts", flow.Record{"title": "t1"})
	require.NotNil(t, p["createdAt"], "the memory store fills createdAt")
	after(t, eng, createAction("posts", "w"), p, memberA)
	waitIdle(t, eng)
	xs := execsOf(t, eng, "w")
	require.Len(t, xs, 1)
	require.Equal(t, flow.ExecutionResolved, xs[0].Status)
	d := dataOf(t, xs[0])
	require.Equal(t, asJSON(t, p["createdAt"]), asJSON(t, d["createdAt"]))
	require.Equal(t, asJSON(t, p["updatedAt"]), asJSON(t, d["updatedAt"]))
	require.EqualValues(t, p["id"], d["id"])
}

// F.1 case 4: config.appends loads associations into the event data, without
// the hidden fields of the associated collection.
func TestTrigger_F1_04_Appends(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	u := seedUsers(t, eng)
	w := asyncWF("w", "posts")
	w.Config.Appends = []string{"createdBy"}
	save(t, eng, w)
	p := record(t, eng, "posts", flow.Record{"title": "t1", "createdById": u.a.ID})
	after(t, eng, createAction("posts", "w"), p, u.a)
	waitIdle(t, eng)
	xs := execsOf(t, eng, "w")
	require.Len(t, xs, 1)
	require.Equal(t, flow.ExecutionResolved, xs[0].Status)
	cb, ok := dataOf(t, xs[0])["createdBy"].(map[string]any)
	require.True(t, ok, "createdBy loaded: %#v", dataOf(t, xs[0])["createdBy"])
	require.EqualValues(t, 2, cb["id"])
	require.Equal(t, "a", cb["nickname"])
	require.NotContains(t, cb, "password", "hidden fields of appended records are removed")
	require.NotContains(t, cb, "token")
}

// F.1 case 5: $context.user is the acting user without hidden fields;
// $context.roleName is the role.
func TestTrigger_F1_05_UserSubmittedForm(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	u := seedUsers(t, eng)
	w := asyncWF("w", "posts")
	w.Config.Appends = []string{"createdBy"}
	save(t, eng, w)
	after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t1", "createdById": u.a.ID}), u.a)
	waitIdle(t, eng)
	xs := execsOf(t, eng, "w")
	require.Len(t, xs, 1)
	user := userOf(t, xs[0])
	require.EqualValues(t, 2, user["id"])
	require.Equal(t, "a", user["nickname"])
	require.NotContains(t, user, "password")
	require.NotContains(t, user, "token")
	require.Equal(t, "member", xs[0].Context["roleName"])
}

// F.1 case 6: a record with a composite primary key (a through table).
func TestTrigger_F1_06_CompositePrimaryKey(t *testing.T) {
	t.Parallel()
	eng := newEngine(t) // sync: no workers needed
	p := record(t, eng, "posts", flow.Record{"title": "p1"})
	tg := record(t, eng, "tags", flow.Record{"name": "t1"})
	save(t, eng, syncWF("w", "postsTags"))
	pt := record(t, eng, "postsTags", flow.Record{"postId": p["id"], "tagId": tg["id"]})
	res := after(t, eng, createAction("postsTags", "w"), pt, memberA)
	require.Len(t, res.Executions, 1)
	require.Equal(t, flow.ExecutionResolved, res.Executions[0].Status)
	xs := execsOf(t, eng, "w")
	require.Len(t, xs, 1, "a sync execution is stored before AfterAction returns")
	require.Equal(t, flow.ExecutionResolved, xs[0].Status)
	d := dataOf(t, xs[0])
	require.EqualValues(t, p["id"], d["postId"])
	require.EqualValues(t, tg["id"], d["tagId"])
}

// SPEC 1.7: appends on a collection with a composite key reload the record by
// every key field.
func TestTrigger_Rule_CompositeKeyAppends(t *testing.T) {
	t.Parallel()
	noAuto := false
	eng := newEngine(t, withCollections(flow.Collection{
		Name: "postLikes", PrimaryKey: []string{"postId", "userId"}, AutoID: &noAuto,
		Fields: []flow.Field{
			{Name: "post", Type: flow.FieldBelongsTo, Target: "posts", ForeignKey: "postId"},
			{Name: "user", Type: flow.FieldBelongsTo, Target: "users", ForeignKey: "userId"},
			{Name: "weight", Type: flow.FieldInteger},
		},
	}))
	u := seedUsers(t, eng)
	p1 := record(t, eng, "posts", flow.Record{"title": "p1"})
	p2 := record(t, eng, "posts", flow.Record{"title": "p2"})
	record(t, eng, "postLikes", flow.Record{"postId": p1["id"], "userId": u.a.ID, "weight": 1})
	like := record(t, eng, "postLikes", flow.Record{"postId": p2["id"], "userId": u.a.ID, "weight": 2})
	w := syncWF("w", "postLikes")
	w.Config.Appends = []string{"post", "user"}
	save(t, eng, w)
	res := after(t, eng, createAction("postLikes", "w"), like, u.a)
	require.Len(t, res.Executions, 1)
	d := dataOf(t, res.Executions[0])
	require.EqualValues(t, 2, d["weight"])
	require.Equal(t, "p2", d["post"].(map[string]any)["title"])
	require.Equal(t, "a", d["user"].(map[string]any)["nickname"])
	require.NotContains(t, d["user"], "password")
}

// F.1 case 7: update triggers after the update, with the updated record.
func TestTrigger_F1_07_UpdateTriggerAfterUpdated(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started())
	u := seedUsers(t, eng)
	w := asyncWF("w", "posts")
	w.Config.Appends = []string{"createdBy"}
	save(t, eng, w)

	p := record(t, eng, "posts", flow.Record{"title": "t1", "createdById": u.a.ID})
	res := after(t, eng, createAction("posts", ""), p, u.a)
	require.Empty(t, res.Executions)
	waitIdle(t, eng)
	require.Empty(t, execsOf(t, eng, "w"), "not bound: no execution")

	updated, err := eng.Records().UpdateRecords(ctx, "posts", storage.Filter{"id": p["id"]}, flow.Record{"title": "t2"})
	require.NoError(t, err)
	require.Len(t, updated, 1)
	after(t, eng, updateAction("posts", "w"), updated, u.a)
	waitIdle(t, eng)
	xs := execsOf(t, eng, "w")
	require.Len(t, xs, 1)
	require.Equal(t, flow.ExecutionResolved, xs[0].Status)
	d := dataOf(t, xs[0])
	require.Equal(t, "t2", d["title"])
	require.NotNil(t, d["createdBy"])
}

// F.1 case 8: a bulk update gives one execution per record.
func TestTrigger_F1_08_UpdateMultipleRecords(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started())
	save(t, eng, asyncWF("w", "posts"))
	p1 := record(t, eng, "posts", flow.Record{"title": "p1"})
	p2 := record(t, eng, "posts", flow.Record{"title": "p2"})
	updated, err := eng.Records().UpdateRecords(ctx, "posts", storage.Filter{"id": []any{p1["id"], p2["id"]}}, flow.Record{"title": "t3"})
	require.NoError(t, err)
	require.Len(t, updated, 2)
	res := after(t, eng, updateAction("posts", "w"), updated, memberA)
	require.Len(t, res.Executions, 2)
	waitIdle(t, eng)
	xs := execsOf(t, eng, "w")
	require.Len(t, xs, 2)
	ids := []any{}
	for _, x := range xs {
		require.Equal(t, flow.ExecutionResolved, x.Status)
		require.Equal(t, "t3", dataOf(t, x)["title"])
		ids = append(ids, dataOf(t, x)["id"])
	}
	require.ElementsMatch(t, asJSON(t, []any{p1["id"], p2["id"]}), asJSON(t, ids))
}

// F.1 case 9: destroy (and any action other than create and update) never
// triggers, bound or global.
func TestTrigger_F1_09_DestroyNeverTriggers(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started())
	save(t, eng, asyncWF("w", "posts"))
	save(t, eng, globalWF("g", "posts", true, []string{"create", "update"}))
	for _, name := range []string{"destroy", "list", "updateOrCreate"} {
		res, err := eng.AfterAction(ctx, actiontrigger.Action{Collection: "posts", Name: name, TriggerWorkflows: "w,nope"}, 1, memberA)
		require.NoError(t, err, name)
		require.NotNil(t, res)
		require.Empty(t, res.Executions, name)
	}
	waitIdle(t, eng)
	require.Empty(t, allExecs(t, eng))
}

// F.1 case 10: "key!category" runs a categories workflow on the category of the
// created post.
func TestTrigger_F1_10_ContextPathLevel1(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	save(t, eng, asyncWF("w", "categories"))
	p := record(t, eng, "posts", flow.Record{"title": "t1", "category": map[string]any{"title": "c1"}})
	after(t, eng, createAction("posts", "w!category"), p, memberA)
	waitIdle(t, eng)
	xs := execsOf(t, eng, "w")
	require.Len(t, xs, 1)
	require.Equal(t, flow.ExecutionResolved, xs[0].Status)
	d := dataOf(t, xs[0])
	require.Equal(t, "c1", d["title"])
	require.EqualValues(t, p["categoryId"], d["id"])
}

// F.1 case 11: a two-level path, comment -> post -> category.
func TestTrigger_F1_11_ContextPathLevel2(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	save(t, eng, asyncWF("w", "categories"))
	c := record(t, eng, "comments", flow.Record{"content": "comment1", "post": map[string]any{"category": map[string]any{"title": "c1"}}})
	after(t, eng, createAction("comments", "w!post.category"), c, memberA)
	waitIdle(t, eng)
	xs := execsOf(t, eng, "w")
	require.Len(t, xs, 1)
	require.Equal(t, flow.ExecutionResolved, xs[0].Status)
	require.Equal(t, "c1", dataOf(t, xs[0])["title"])
}

// SPEC 1.7: an association the record already holds is used as is; an empty
// association gives data null and the event still runs.
func TestTrigger_Rule_PathUsesHeldAssociationAndNullWhenEmpty(t *testing.T) {
	t.Parallel()
	eng := newEngine(t)
	save(t, eng, syncWF("w", "categories", n("e", "echoVariable", map[string]any{"variable": "{{$context.data.title}}"})))
	cat := record(t, eng, "categories", flow.Record{"title": "stored"})

	held := record(t, eng, "posts", flow.Record{"title": "t1", "categoryId": cat["id"]})
	held["category"] = map[string]any{"id": cat["id"], "title": "held"}
	res := after(t, eng, createAction("posts", "w!category"), held, memberA)
	require.Len(t, res.Executions, 1)
	require.Equal(t, "held", dataOf(t, res.Executions[0])["title"])

	loaded := record(t, eng, "posts", flow.Record{"title": "t2", "categoryId": cat["id"]})
	res = after(t, eng, createAction("posts", "w!category"), loaded, memberA)
	require.Len(t, res.Executions, 1)
	require.Equal(t, "stored", dataOf(t, res.Executions[0])["title"])

	orphan := record(t, eng, "posts", flow.Record{"title": "t3"})
	res = after(t, eng, createAction("posts", "w!category"), orphan, memberA)
	require.Len(t, res.Executions, 1, "an empty association still emits an event")
	require.Equal(t, flow.ExecutionResolved, res.Executions[0].Status)
	require.Nil(t, dataOf(t, res.Executions[0]), "data is null")
}

// F.1 case 12: creating through an association resource (categories.posts)
// triggers workflows of the target collection.
func TestTrigger_F1_12_AssociationResource(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	save(t, eng, asyncWF("w", "posts"))
	c1 := record(t, eng, "categories", flow.Record{"title": "c1"})
	p1 := record(t, eng, "posts", flow.Record{"title": "p1", "categoryId": c1["id"]})
	after(t, eng, createAction("posts", "w"), p1, memberA)
	waitIdle(t, eng)
	xs := execsOf(t, eng, "w")
	require.Len(t, xs, 1)
	require.Equal(t, flow.ExecutionResolved, xs[0].Status)
	require.Equal(t, "p1", dataOf(t, xs[0])["title"])
	require.EqualValues(t, c1["id"], dataOf(t, xs[0])["categoryId"])

	p2 := record(t, eng, "posts", flow.Record{"title": "p2", "categoryId": c1["id"]})
	after(t, eng, createAction("posts", "w"), p2, memberA)
	waitIdle(t, eng)
	require.Len(t, execsOf(t, eng, "w"), 2)
}

// F.1 case 13: manual execution of a disabled workflow, with appends and the
// given user.
func TestTrigger_F1_13_ManuallyExecute(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t)
	u := seedUsers(t, eng)
	w := asyncWF("w", "posts")
	w.Enabled = false
	w.Config.Appends = []string{"category"}
	save(t, eng, w)
	c1 := record(t, eng, "categories", flow.Record{"title": "c1"})
	p1 := record(t, eng, "posts", flow.Record{"title": "p1", "categoryId": c1["id"]})

	x, err := eng.Execute(ctx, "w", p1, u.b)
	require.NoError(t, err)
	require.Equal(t, flow.ExecutionResolved, x.Status)
	require.True(t, x.Manually)
	xs := execsOf(t, eng, "w")
	require.Len(t, xs, 1)
	require.Equal(t, x.ID, xs[0].ID)
	d := dataOf(t, xs[0])
	require.EqualValues(t, p1["id"], d["id"])
	require.EqualValues(t, c1["id"], d["categoryId"])
	require.Equal(t, "c1", d["category"].(map[string]any)["title"])
	user := userOf(t, xs[0])
	require.EqualValues(t, 3, user["id"])
	require.Equal(t, "b", user["nickname"])
	require.NotContains(t, user, "password")
	require.NotContains(t, user, "token")

	// A bare primary key loads the record.
	x2, err := eng.Execute(ctx, "w", p1["id"], u.b)
	require.NoError(t, err)
	require.Equal(t, flow.ExecutionResolved, x2.Status)
	require.Equal(t, "c1", dataOf(t, execution(t, eng, x2.ID))["category"].(map[string]any)["title"])
}

// F.1 case 14: bindings name the key, so after a revision is enabled the same
// key runs the new version.
func TestTrigger_F1_14_WorkflowKeyRevision(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started())
	w1 := save(t, eng, asyncWF("w", "posts"))
	after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t1"}), memberA)
	waitIdle(t, eng)
	require.Len(t, execsOfVersion(t, eng, w1.ID), 1)
	require.Equal(t, flow.ExecutionResolved, execsOfVersion(t, eng, w1.ID)[0].Status)

	w2, err := eng.Revise(ctx, "w")
	require.NoError(t, err)
	require.NoError(t, eng.EnableVersion(ctx, w2.ID))

	after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t2"}), memberA)
	waitIdle(t, eng)
	require.Len(t, execsOfVersion(t, eng, w1.ID), 1)
	x2 := execsOfVersion(t, eng, w2.ID)
	require.Len(t, x2, 1)
	require.Equal(t, flow.ExecutionResolved, x2[0].Status)
	require.Equal(t, "t2", dataOf(t, x2[0])["title"])
	require.Equal(t, "w", x2[0].Key)
}

// F.1 case 15: a sync workflow has its RESOLVED execution before AfterAction
// returns (no workers involved).
func TestTrigger_F1_15_SyncFormTrigger(t *testing.T) {
	t.Parallel()
	eng := newEngine(t)
	save(t, eng, syncWF("w", "posts"))
	res := after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t1"}), memberA)
	require.Len(t, res.Executions, 1)
	require.Equal(t, flow.ExecutionResolved, res.Executions[0].Status)
	require.True(t, res.Executions[0].Sync)
	xs := execsOf(t, eng, "w")
	require.Len(t, xs, 1)
	require.Equal(t, flow.ExecutionResolved, xs[0].Status)
	require.Equal(t, "t1", dataOf(t, xs[0])["title"])
}

// F.1 case 16: sync and async in one action. The async one is queued (not run)
// when AfterAction returns, and runs on the workers.
func TestTrigger_F1_16_SyncAndAsyncInOneAction(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t) // started below, after the action
	save(t, eng, asyncWF("w1", "posts"))
	save(t, eng, syncWF("w2", "posts"))
	res := after(t, eng, createAction("posts", "w1,w2"), record(t, eng, "posts", flow.Record{"title": "t1"}), memberA)
	require.Len(t, res.Executions, 2)

	x1 := execsOf(t, eng, "w1")
	require.Len(t, x1, 1)
	require.Equal(t, flow.ExecutionQueueing, x1[0].Status, "async: queued, not run")
	x2 := execsOf(t, eng, "w2")
	require.Len(t, x2, 1)
	require.Equal(t, flow.ExecutionResolved, x2[0].Status)

	require.NoError(t, eng.Start(ctx))
	t.Cleanup(func() { _ = eng.Stop(context.Background()) })
	waitIdle(t, eng)
	x1 = execsOf(t, eng, "w1")
	require.Len(t, x1, 1)
	require.Equal(t, flow.ExecutionResolved, x1[0].Status)
	require.Equal(t, "t1", dataOf(t, x1[0])["title"])
}

// F.1 case 17: a node error in a sync workflow fails the action (HTTP 500);
// the host's record stays written.
func TestTrigger_F1_17_SyncNodeErrorFails(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t)
	save(t, eng, syncWF("w", "posts", n("err", "error", nil)))
	p := record(t, eng, "posts", flow.Record{"title": "t1"})
	_, err := eng.AfterAction(ctx, createAction("posts", "w"), p, memberA)
	var se *actiontrigger.SyncError
	require.ErrorAs(t, err, &se)
	require.ErrorIs(t, err, actiontrigger.ErrSync)
	require.Equal(t, actiontrigger.SyncFailed, se.Kind)
	require.Equal(t, "w", se.Workflow)
	require.NotNil(t, se.Execution)
	require.Equal(t, flow.ExecutionError, se.Execution.Status)
	_, err = eng.Records().GetRecord(ctx, "posts", flow.Record{"id": p["id"]}, nil)
	require.NoError(t, err, "the record stays written")
	xs := execsOf(t, eng, "w")
	require.Len(t, xs, 1)
	require.Equal(t, flow.ExecutionError, xs[0].Status)
}

// F.1 case 18: an end node with the default status passes the action.
func TestTrigger_F1_18_SyncEndNodeSuccess(t *testing.T) {
	t.Parallel()
	eng := newEngine(t)
	save(t, eng, syncWF("w", "posts", n("end", "end", nil)))
	res := after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t1"}), memberA)
	require.Len(t, res.Executions, 1)
	require.Equal(t, flow.ExecutionResolved, res.Executions[0].Status)
}

// F.1 case 19: an end node with endStatus -1 rejects the action (HTTP 400).
func TestTrigger_F1_19_SyncEndNodeFailureRejects(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t)
	save(t, eng, syncWF("w", "posts", n("end", "end", map[string]any{"endStatus": -1})))
	_, err := eng.AfterAction(ctx, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t1"}), memberA)
	var se *actiontrigger.SyncError
	require.ErrorAs(t, err, &se)
	require.Equal(t, actiontrigger.SyncRejected, se.Kind)
	require.Equal(t, flow.ExecutionFailed, se.Execution.Status)
	require.Empty(t, se.Messages)
}

// F.1 case 20: a global workflow without actions never runs, bound or not.
func TestTrigger_F1_20_GlobalWithoutActionsNeverRuns(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	save(t, eng, globalWF("g", "posts", false, nil))
	res := after(t, eng, createAction("posts", ""), record(t, eng, "posts", flow.Record{"title": "t1"}), memberA)
	require.Empty(t, res.Executions)
	res = after(t, eng, createAction("posts", "g"), record(t, eng, "posts", flow.Record{"title": "t2"}), memberA)
	require.Empty(t, res.Executions)
	waitIdle(t, eng)
	require.Empty(t, execsOf(t, eng, "g"))
}

// F.1 case 21: a global workflow runs on every listed action, unbound.
func TestTrigger_F1_21_GlobalCreateAndUpdate(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started())
	save(t, eng, globalWF("g", "posts", false, []string{"create", "update"}))
	p := record(t, eng, "posts", flow.Record{"title": "t1"})
	after(t, eng, createAction("posts", ""), p, memberA)
	waitIdle(t, eng)
	xs := execsOf(t, eng, "g")
	require.Len(t, xs, 1)
	require.Equal(t, flow.ExecutionResolved, xs[0].Status)
	require.Equal(t, "t1", dataOf(t, xs[0])["title"])

	updated, err := eng.Records().UpdateRecords(ctx, "posts", storage.Filter{"id": p["id"]}, flow.Record{"title": "t2"})
	require.NoError(t, err)
	after(t, eng, updateAction("posts", ""), updated, memberA)
	waitIdle(t, eng)
	xs = execsOf(t, eng, "g")
	require.Len(t, xs, 2)
	require.Equal(t, flow.ExecutionResolved, xs[1].Status)
	require.Equal(t, "t2", dataOf(t, xs[1])["title"])
}

// F.1 case 22: a global workflow that is also bound runs once.
func TestTrigger_F1_22_GlobalAlsoBoundRunsOnce(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	save(t, eng, globalWF("g", "posts", false, []string{"create", "update"}))
	res := after(t, eng, createAction("posts", "g,g"), record(t, eng, "posts", flow.Record{"title": "t1"}), memberA)
	require.Len(t, res.Executions, 1)
	waitIdle(t, eng)
	xs := execsOf(t, eng, "g")
	require.Len(t, xs, 1)
	require.Equal(t, flow.ExecutionResolved, xs[0].Status)
	require.Equal(t, "t1", dataOf(t, xs[0])["title"])
}

// F.1 case 23 (identical to 22 in the reference) and its corollary: a bound
// global workflow still runs only through the global rule, so binding it to an
// action it does not list does not run it.
func TestTrigger_F1_23_GlobalRunsOnlyThroughGlobalRule(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started())
	save(t, eng, globalWF("g", "posts", false, []string{"update"}))
	res := after(t, eng, createAction("posts", "g"), record(t, eng, "posts", flow.Record{"title": "t1"}), memberA)
	require.Empty(t, res.Executions)
	waitIdle(t, eng)
	require.Empty(t, execsOf(t, eng, "g"))

	res = after(t, eng, updateAction("posts", "g"), record(t, eng, "posts", flow.Record{"title": "t2"}), memberA)
	require.Len(t, res.Executions, 1)
	waitIdle(t, eng)
	require.Len(t, execsOf(t, eng, "g"), 1)
}

// F.1 case 24: a workflow of "another:posts" runs only for actions on that
// data source.
func TestTrigger_F1_24_OtherDataSource(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t, started())
	save(t, eng, asyncWF("w", "another:posts"))

	_, err := eng.AfterAction(ctx, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t1"}), memberA)
	var be *actiontrigger.BindingError
	require.ErrorAs(t, err, &be, "strict: the main posts collection does not match another:posts")
	require.Equal(t, "w", be.Problems[0].Key)
	waitIdle(t, eng)
	require.Empty(t, execsOf(t, eng, "w"))

	p2 := record(t, eng, "another:posts", flow.Record{"title": "t2"})
	after(t, eng, createAction("another:posts", "w"), p2, memberA)
	waitIdle(t, eng)
	xs := execsOf(t, eng, "w")
	require.Len(t, xs, 1)
	require.Equal(t, flow.ExecutionResolved, xs[0].Status)
	require.Equal(t, "t2", dataOf(t, xs[0])["title"])
}

// F.1 case 24 under Lenient: the mismatch is ignored, as in the reference.
func TestTrigger_F1_24_OtherDataSource_Lenient(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, started(), lenient())
	save(t, eng, asyncWF("w", "another:posts"))
	res := after(t, eng, createAction("posts", "w"), record(t, eng, "posts", flow.Record{"title": "t1"}), memberA)
	require.Empty(t, res.Executions)
	waitIdle(t, eng)
	require.Empty(t, execsOf(t, eng, "w"))
}

// ---- SPEC section 1 rules ----

// recorderWF is a sync workflow that leaves one job echoing its key, so the
// order of Result.Executions is the run order.
func recorderWF(key, collection string) flow.Workflow {
	return syncWF(key, collection, n("k", "echoVariable", map[string]any{"variable": key}))
}

// SPEC 1.2: duplicate keys run once, at their first position, with the path of
// their last occurrence.
func TestTrigger_Rule_DuplicateKeysRunOnceAtFirstPosition(t *testing.T) {
	t.Parallel()
	eng := newEngine(t)
	for _, k := range []string{"a", "b", "c"} {
		save(t, eng, recorderWF(k, "posts"))
	}
	res := after(t, eng, createAction("posts", "b,a,b,c,a"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	require.Equal(t, []string{"b", "a", "c"}, keysOf(res.Executions))

	bs, problems := actiontrigger.ParseTriggerWorkflows("b,a,b,c,a")
	require.Empty(t, problems)
	require.Equal(t, []actiontrigger.Binding{{Key: "b"}, {Key: "a"}, {Key: "c"}}, bs)

	// The last occurrence's path wins.
	save(t, eng, recorderWF("cat", "categories"))
	c := record(t, eng, "categories", flow.Record{"title": "c1"})
	p := record(t, eng, "posts", flow.Record{"title": "t", "categoryId": c["id"]})
	res = after(t, eng, createAction("posts", "cat,cat!category"), p, memberA)
	require.Len(t, res.Executions, 1)
	require.Equal(t, "c1", dataOf(t, res.Executions[0])["title"])
	bs, _ = actiontrigger.ParseTriggerWorkflows("cat,x,cat!category")
	require.Equal(t, []actiontrigger.Binding{{Key: "cat", Path: "category"}, {Key: "x"}}, bs)
	require.Equal(t, "cat!category,x", actiontrigger.FormatTriggerWorkflows(bs))
}

// SPEC 1.2: keys are not trimmed.
func TestTrigger_Rule_KeysNotTrimmed(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	t.Run("strict", func(t *testing.T) {
		t.Parallel()
		eng := newEngine(t)
		save(t, eng, recorderWF("a", "posts"))
		save(t, eng, recorderWF("b", "posts"))
		_, err := eng.AfterAction(ctx, createAction("posts", "a, b"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
		var be *actiontrigger.BindingError
		require.ErrorAs(t, err, &be)
		require.Len(t, be.Problems, 1)
		require.Equal(t, " b", be.Problems[0].Key)
		require.Empty(t, allExecs(t, eng), "nothing ran")
	})
	t.Run("lenient", func(t *testing.T) {
		t.Parallel()
		eng := newEngine(t, lenient())
		save(t, eng, recorderWF("a", "posts"))
		save(t, eng, recorderWF("b", "posts"))
		res := after(t, eng, createAction("posts", "a, b"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
		require.Equal(t, []string{"a"}, keysOf(res.Executions))
	})
}

// SPEC 1.4: named local workflows in request order, then global ones in the
// order they were enabled; a named global one runs once, at its global place.
func TestTrigger_Rule_LocalThenGlobalOrder(t *testing.T) {
	t.Parallel()
	eng := newEngine(t)
	save(t, eng, globalWF("g1", "posts", true, []string{"create"}, n("k", "echoVariable", map[string]any{"variable": "g1"})))
	save(t, eng, recorderWF("l1", "posts"))
	save(t, eng, globalWF("g2", "posts", true, []string{"create"}, n("k", "echoVariable", map[string]any{"variable": "g2"})))
	save(t, eng, recorderWF("l2", "posts"))
	save(t, eng, globalWF("gu", "posts", true, []string{"update"}))
	save(t, eng, recorderWF("other", "comments"))

	res := after(t, eng, createAction("posts", "g2,l2,l1"), record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	require.Equal(t, []string{"l2", "l1", "g1", "g2"}, keysOf(res.Executions))
	for _, x := range res.Executions {
		require.Equal(t, flow.ExecutionResolved, x.Status)
	}
}

// seedBindingFixtures saves, on posts: ok (sync) and okAsync (async), dis
// (disabled), com (on comments), glob (global on create).
func seedBindingFixtures(t *testing.T, eng *actiontrigger.Engine) {
	t.Helper()
	save(t, eng, recorderWF("ok", "posts"))
	save(t, eng, asyncWF("okAsync", "posts"))
	dis := recorderWF("dis", "posts")
	dis.Enabled = false
	save(t, eng, dis)
	save(t, eng, recorderWF("com", "comments"))
	save(t, eng, globalWF("glob", "posts", false, []string{"create"}))
}

// SPEC 1.5 strict: every bad key is listed, errors.Is ErrBinding, and nothing
// ran or was queued.
func TestTrigger_Rule_StrictListsEveryBadKeyAndRunsNothing(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t) // not started: a queued execution would stay in the store
	seedBindingFixtures(t, eng)
	action := createAction("posts", "ok,nope,okAsync,dis,com")
	p := record(t, eng, "posts", flow.Record{"title": "t"})

	res, err := eng.AfterAction(ctx, action, p, memberA)
	require.ErrorIs(t, err, actiontrigger.ErrBinding)
	var be *actiontrigger.BindingError
	require.ErrorAs(t, err, &be)
	require.Equal(t, "posts", be.Collection)
	keys := []string{}
	for _, pr := range be.Problems {
		keys = append(keys, pr.Key)
		require.NotEmpty(t, pr.Reason, "problem %q has a reason", pr.Key)
	}
	require.ElementsMatch(t, []string{"nope", "dis", "com"}, keys)
	for _, k := range []string{"nope", "dis", "com"} {
		require.Contains(t, err.Error(), `"`+k+`"`)
	}
	if res != nil {
		require.Empty(t, res.Executions)
	}
	require.Empty(t, allExecs(t, eng), "no sync ran, no async queued, no global ran")

	// CheckBinding gives the same verdict before the host writes anything.
	err = eng.CheckBinding(action)
	require.ErrorAs(t, err, &be)
	require.Len(t, be.Problems, 3)
	require.NoError(t, eng.CheckBinding(createAction("posts", "ok,okAsync,glob")))
}

// SPEC 1.5 lenient: bad keys are ignored, the others run.
func TestTrigger_Rule_LenientIgnoresBadKeys(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, lenient())
	seedBindingFixtures(t, eng)
	action := createAction("posts", "ok,nope,okAsync,dis,com")
	require.NoError(t, eng.CheckBinding(action))
	res := after(t, eng, action, record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
	require.Equal(t, []string{"ok", "okAsync", "glob"}, keysOf(res.Executions))
	require.Equal(t, []flow.ExecutionStatus{flow.ExecutionResolved, flow.ExecutionQueueing, flow.ExecutionQueueing}, statusesOf(res.Executions))
}

// SPEC 1.5: a button binding is an allow-list for the workflows a request names.
func TestTrigger_Rule_ButtonAllowList(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	buttons := withConfig(func(c *actiontrigger.Config) {
		c.Buttons = map[string][]actiontrigger.Binding{"save": {{Key: "a"}, {Key: "cat", Path: "category"}}}
	})
	setup := func(eng *actiontrigger.Engine) {
		save(t, eng, recorderWF("a", "posts"))
		save(t, eng, recorderWF("b", "posts"))
		save(t, eng, recorderWF("cat", "categories"))
	}
	t.Run("strict", func(t *testing.T) {
		t.Parallel()
		eng := newEngine(t, buttons)
		setup(eng)
		act := createAction("posts", "a")
		act.Button = "save"
		res := after(t, eng, act, record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
		require.Equal(t, []string{"a"}, keysOf(res.Executions))

		act.TriggerWorkflows = "a,b"
		_, err := eng.AfterAction(ctx, act, record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
		var be *actiontrigger.BindingError
		require.ErrorAs(t, err, &be)
		require.Len(t, be.Problems, 1)
		require.Equal(t, "b", be.Problems[0].Key)
		require.Contains(t, be.Problems[0].Reason, "save")

		// The path must match too: "cat" without its path is not the bound entry.
		act.TriggerWorkflows = "cat"
		_, err = eng.AfterAction(ctx, act, record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
		require.ErrorIs(t, err, actiontrigger.ErrBinding)
		require.Len(t, execsOf(t, eng, "b"), 0)
		require.Len(t, execsOf(t, eng, "a"), 1)
	})
	t.Run("lenient", func(t *testing.T) {
		t.Parallel()
		eng := newEngine(t, buttons, lenient())
		setup(eng)
		act := createAction("posts", "b,a")
		act.Button = "save"
		res := after(t, eng, act, record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
		require.Equal(t, []string{"a"}, keysOf(res.Executions), "b is not bound to the button: dropped")
	})
	t.Run("unknown button fails under both policies", func(t *testing.T) {
		t.Parallel()
		for _, opts := range [][]engineOpt{{buttons}, {buttons, lenient()}} {
			eng := newEngine(t, opts...)
			setup(eng)
			act := createAction("posts", "a")
			act.Button = "nope"
			_, err := eng.AfterAction(ctx, act, record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
			var be *actiontrigger.BindingError
			require.ErrorAs(t, err, &be)
			require.Equal(t, "nope", be.Problems[0].Key)
			require.Empty(t, allExecs(t, eng))
		}
	})
}

// SPEC 1.5: a button named without triggerWorkflows runs all its bindings, in
// order, with their paths.
func TestTrigger_Rule_ButtonDefaultList(t *testing.T) {
	t.Parallel()
	eng := newEngine(t, withConfig(func(c *actiontrigger.Config) {
		c.Buttons = map[string][]actiontrigger.Binding{"save": {{Key: "cat", Path: "category"}, {Key: "a"}}}
	}))
	save(t, eng, recorderWF("a", "posts"))
	save(t, eng, recorderWF("b", "posts"))
	save(t, eng, recorderWF("cat", "categories"))
	c := record(t, eng, "categories", flow.Record{"title": "c1"})
	act := createAction("posts", "")
	act.Button = "save"
	res := after(t, eng, act, record(t, eng, "posts", flow.Record{"title": "t", "categoryId": c["id"]}), memberA)
	require.Equal(t, []string{"cat", "a"}, keysOf(res.Executions))
	require.Equal(t, "c1", dataOf(t, res.Executions[0])["title"])
	require.Equal(t, "t", dataOf(t, res.Executions[1])["title"])
}

// SPEC 1.7: to-many association paths are rejected under both policies.
func TestTrigger_Rule_ToManyPathRejected(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	for _, policy := range []string{"strict", "lenient"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			opts := []engineOpt{}
			if policy == "lenient" {
				opts = append(opts, lenient())
			}
			eng := newEngine(t, opts...)
			save(t, eng, recorderWF("com", "comments"))
			save(t, eng, recorderWF("tag", "tags"))
			for _, tw := range []string{"com!comments", "tag!tags"} {
				action := createAction("posts", tw)
				_, err := eng.AfterAction(ctx, action, record(t, eng, "posts", flow.Record{"title": "t"}), memberA)
				require.ErrorIs(t, err, actiontrigger.ErrBinding, tw)
				var be *actiontrigger.BindingError
				require.ErrorAs(t, err, &be)
				require.Contains(t, be.Problems[0].Reason, "to-many", tw)
				require.ErrorIs(t, eng.CheckBinding(action), actiontrigger.ErrBinding)
			}
			require.Empty(t, allExecs(t, eng))
		})
	}
}

// SPEC 1.7/1.8: hidden fields are removed from the event data and from the user.
func TestTrigger_Rule_HiddenFieldsRemoved(t *testing.T) {
	t.Parallel()
	eng := newEngine(t)
	u := seedUsers(t, eng)
	save(t, eng, syncWF("w", "users"))
	nu := record(t, eng, "users", flow.Record{"nickname": "c", "password": "pw", "token": "tk"})
	res := after(t, eng, createAction("users", "w"), nu, u.root)
	require.Len(t, res.Executions, 1)
	d := dataOf(t, res.Executions[0])
	require.Equal(t, "c", d["nickname"])
	require.NotContains(t, d, "password")
	require.NotContains(t, d, "token")
	user := userOf(t, res.Executions[0])
	require.EqualValues(t, 1, user["id"])
	require.NotContains(t, user, "password")
	require.NotContains(t, user, "token")
	require.Equal(t, "root", res.Executions[0].Context["roleName"])
	// The host's record is not modified.
	require.Equal(t, "pw", nu["password"])

	// A user given only by id still has $context.user.id.
	res = after(t, eng, createAction("users", "w"), nu, actiontrigger.User{ID: 9})
	require.Equal(t, map[string]any{"id": 9}, userOf(t, res.Executions[0]))
}

// SPEC 1.6: one event per record per workflow; slices of maps, of structs and
// arrays all work.
func TestTrigger_Rule_OneEventPerRecord(t *testing.T) {
	t.Parallel()
	eng := newEngine(t)
	save(t, eng, recorderWF("a", "posts"))
	save(t, eng, recorderWF("b", "posts"))
	recs := []map[string]any{{"id": 1, "title": "x"}, {"id": 2, "title": "y"}, {"id": 3, "title": "z"}}
	res := after(t, eng, createAction("posts", "a,b"), recs, memberA)
	require.Equal(t, []string{"a", "a", "a", "b", "b", "b"}, keysOf(res.Executions), "each workflow runs for every record before the next workflow")
	titles := []any{}
	for _, x := range res.Executions[:3] {
		titles = append(titles, dataOf(t, x)["title"])
	}
	require.Equal(t, []any{"x", "y", "z"}, titles)

	type post struct {
		ID    int    `json:"id"`
		Title string `json:"title"`
	}
	res = after(t, eng, createAction("posts", "a"), []post{{1, "s1"}, {2, "s2"}}, memberA)
	require.Len(t, res.Executions, 2)
	require.Equal(t, "s2", dataOf(t, res.Executions[1])["title"])
	res = after(t, eng, createAction("posts", "a"), [2]any{map[string]any{"id": 1}, &post{ID: 5, Title: "p"}}, memberA)
	require.Len(t, res.Executions, 2)
	require.Equal(t, "p", dataOf(t, res.Executions[1])["title"])
	res = after(t, eng, createAction("posts", "a"), post{ID: 7, Title: "one"}, memberA)
	require.Len(t, res.Executions, 1)
	require.Equal(t, "one", dataOf(t, res.Executions[0])["title"])
}

// SPEC 1.6: an empty result (bulk update matching nothing) gives no event.
func TestTrigger_Rule_EmptySliceNoEvent(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	eng := newEngine(t)
	save(t, eng, recorderWF("a", "posts"))
	save(t, eng, asyncWF("b", "posts"))
	save(t, eng, globalWF("g", "posts", false, []string{"update"}))
	none, err := eng.Records().UpdateRecords(ctx, "posts", storage.Filter{"id": 404}, flow.Record{"title": "x"})
	require.NoError(t, err)
	require.Empty(t, none)
	for _, data := range []any{none, []map[string]any{}, []any{}} {
		res := after(t, eng, updateAction("posts", "a,b"), data, memberA)
		require.Empty(t, res.Executions)
	}
	require.Empty(t, allExecs(t, eng))
}

// reenterNode calls AfterAction again from inside its run, with the context it
// got, naming its own workflow. It resolves with what the inner call returned.
type reenterNode struct {
	eng    *atomic.Pointer[actiontrigger.Engine]
	action actiontrigger.Action
}

func (reenterNode) Compile(*nodes.CompileContext, *flow.Node) (any, error) { return nil, nil }

func (r reenterNode) Run(ctx context.Context, _ *nodes.RunContext, _ *flow.Job) (nodes.Result, error) {
	res, err := r.eng.Load().AfterAction(ctx, r.action, map[string]any{"id": 99, "title": "inner"}, actiontrigger.User{ID: 1})
	if err != nil {
		return nodes.Result{}, err
	}
	skipped := []any{}
	for _, s := range res.Skipped {
		skipped = append(skipped, map[string]any{"workflow": s.Workflow, "reason": s.Reason})
	}
	return nodes.Result{Status: flow.JobResolved, Result: map[string]any{"executions": len(res.Executions), "skipped": skipped, "stack": len(flow.StackFrom(ctx))}}, nil
}

// SPEC 1 loop protection: a node that triggers its own workflow again is
// skipped by stackLimit 1, reported in Result.Skipped, and does not deadlock.
func TestTrigger_Rule_StackLimitSkipsReentry(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"sync", "async"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			var holder atomic.Pointer[actiontrigger.Engine]
			inner := createAction("posts", "loop")
			eng := newEngine(t, started(), withNodes(func(r *nodes.Registry) {
				r.MustRegister("reenter", reenterNode{eng: &holder, action: inner})
			}))
			holder.Store(eng)
			w := asyncWF("loop", "posts", n("again", "reenter", nil))
			w.Sync = mode == "sync"
			save(t, eng, w)

			type outcome struct {
				res *actiontrigger.Result
				err error
			}
			done := make(chan outcome, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			go func() {
				res, err := eng.AfterAction(ctx, createAction("posts", "loop"), map[string]any{"id": 1, "title": "outer"}, memberA)
				if err == nil {
					err = eng.WaitIdle(ctx)
				}
				done <- outcome{res, err}
			}()
			var out outcome
			select {
			case out = <-done:
			case <-time.After(6 * time.Second):
				require.FailNow(t, "AfterAction from inside a node deadlocked")
			}
			require.NoError(t, out.err)
			require.Len(t, out.res.Executions, 1)
			require.Empty(t, out.res.Skipped, "the outer call runs the workflow")

			xs := execsOf(t, eng, "loop")
			require.Len(t, xs, 1, "the inner call started nothing")
			require.Equal(t, flow.ExecutionResolved, xs[0].Status)
			js := jobsOf(t, eng, xs[0].ID)
			require.Len(t, js, 1)
			got := js[0].Result.(map[string]any)
			require.EqualValues(t, 0, got["executions"])
			require.EqualValues(t, 1, got["stack"], "the node's ctx carries the running execution")
			require.Equal(t, []any{map[string]any{"workflow": "loop", "reason": actiontrigger.ErrStackLimit.Error()}}, got["skipped"])
		})
	}
}
