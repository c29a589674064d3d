package memory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/memory"
	"github.com/actiontrigger/actiontrigger/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return memory.New() })
	storagetest.RunRecords(t, func(t *testing.T) storagetest.RecordsStore { return memory.New() })
}

// The engine-state suite needs no records: it passes on a store whose records
// are hidden.
func TestConformanceStateOnly(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return storagetest.StateOnly(memory.New()) })
}

func BenchmarkStore(b *testing.B) {
	storagetest.Benchmark(b, func(b *testing.B) storage.Store { return memory.New() })
}

func TestNotDurable(t *testing.T) {
	require.False(t, memory.New().Durable())
}

// TestBadInput checks that nil and empty arguments give errors, not panics.
func TestBadInput(t *testing.T) {
	s, ctx := memory.New(), t.Context()
	require.Error(t, s.InsertWorkflow(ctx, nil))
	require.Error(t, s.InsertWorkflow(ctx, &flow.Workflow{}))
	require.Error(t, s.UpdateWorkflow(ctx, nil))
	require.Error(t, s.InsertExecution(ctx, nil))
	require.Error(t, s.InsertExecution(ctx, &flow.Execution{}))
	require.Error(t, s.UpdateExecution(ctx, nil, storage.ExecutionExpect{}))
	require.Error(t, s.InsertJobs(ctx, nil))
	require.Error(t, s.InsertJobs(ctx, &flow.Job{}))
	require.Error(t, s.UpdateJob(ctx, nil, flow.JobPending))
	require.Error(t, s.InsertTask(ctx, nil))
	require.Error(t, s.UpdateTask(ctx, &flow.Task{}, flow.TaskPending))
	require.Error(t, s.InTx(ctx, nil))
	_, err := s.ClaimExecutions(ctx, storage.ClaimParams{Limit: 1})
	require.Error(t, err, "a claim without owner")
	lost, err := s.ExtendLeases(ctx, "", []string{"x"}, time.Now())
	require.NoError(t, err)
	require.Equal(t, []string{"x"}, lost)

	require.NoError(t, s.DeclareCollections(ctx, storagetest.Collections()))
	_, err = s.CreateRecord(ctx, "posts", flow.Record{"read": "many"})
	require.ErrorIs(t, err, flow.ErrInvalidRecord)
	_, err = s.CreateRecord(ctx, "posts", flow.Record{"read": 1.5})
	require.ErrorIs(t, err, flow.ErrInvalidRecord)
	_, err = s.GetRecord(ctx, "posts", flow.Record{"id": map[string]any{}}, nil)
	require.ErrorIs(t, err, flow.ErrInvalidRecord)
	_, err = s.GetRecord(ctx, "posts", flow.Record{"id": 1, "title": "x"}, nil)
	require.ErrorIs(t, err, flow.ErrInvalidRecord, "a non-key field in the key")
	_, err = s.UpdateRecords(ctx, "posts", nil, flow.Record{"comments": []any{1}})
	require.ErrorIs(t, err, flow.ErrInvalidRecord, "hasMany in an update")
	// Self-referencing values do not recurse forever.
	loop := map[string]any{"title": "loop"}
	loop["category"] = map[string]any{"posts": []any{loop}}
	_, err = s.CreateRecord(ctx, "posts", loop)
	require.ErrorIs(t, err, flow.ErrInvalidRecord)

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.GetExecution(canceled, "x")
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, s.InTx(canceled, func(context.Context, storage.Store) error { return nil }), context.Canceled)
}

// TestTxViewAfterEnd checks that a transaction view kept after InTx returned
// fails with flow.ErrStorage instead of writing outside any transaction.
func TestTxViewAfterEnd(t *testing.T) {
	s, ctx := memory.New(), t.Context()
	var kept storage.Store
	require.NoError(t, s.InTx(ctx, func(_ context.Context, tx storage.Store) error {
		kept = tx
		return nil
	}))
	require.ErrorIs(t, kept.InsertWorkflow(ctx, &flow.Workflow{ID: "w"}), flow.ErrStorage)
	_, err := kept.GetWorkflow(ctx, "w")
	require.ErrorIs(t, err, flow.ErrStorage)
	// The store itself is fine.
	require.NoError(t, s.InsertWorkflow(ctx, &flow.Workflow{ID: "w"}))
}

func TestDeclareCollectionsErrors(t *testing.T) {
	s, ctx := memory.New(), t.Context()
	for name, cs := range map[string][]flow.Collection{
		"no name":            {{}},
		"twice":              {{Name: "a"}, {Name: "a"}},
		"field without name": {{Name: "a", Fields: []flow.Field{{Type: flow.FieldString}}}},
		"field twice":        {{Name: "a", Fields: []flow.Field{{Name: "x", Type: flow.FieldString}, {Name: "x", Type: flow.FieldText}}}},
		"no target":          {{Name: "a", Fields: []flow.Field{{Name: "b", Type: flow.FieldBelongsTo}}}},
		"hasMany without fk": {{Name: "a", Fields: []flow.Field{{Name: "b", Type: flow.FieldHasMany, Target: "b"}}}},
		"m2m without through": {{Name: "a", Fields: []flow.Field{
			{Name: "b", Type: flow.FieldBelongsToMany, Target: "b", ForeignKey: "aId", OtherKey: "bId"}}}},
		"association key": {{Name: "a", PrimaryKey: []string{"b"}, Fields: []flow.Field{{Name: "b", Type: flow.FieldBelongsTo, Target: "b"}}}},
	} {
		require.Error(t, s.DeclareCollections(ctx, cs), name)
	}
	// A failed declaration declares nothing.
	_, err := s.ListRecords(ctx, "a", nil, nil)
	require.ErrorIs(t, err, flow.ErrUnknownCollection)
}

// TestKeyOrder checks primary key order for string, number and composite keys.
func TestKeyOrder(t *testing.T) {
	s, ctx := memory.New(), t.Context()
	require.NoError(t, s.DeclareCollections(ctx, []flow.Collection{
		{Name: "codes", PrimaryKey: []string{"code"}, Fields: []flow.Field{{Name: "code", Type: flow.FieldString}, {Name: "n", Type: flow.FieldInteger}}},
		{Name: "scores", PrimaryKey: []string{"value"}, Fields: []flow.Field{{Name: "value", Type: flow.FieldNumber}}},
		{Name: "ints", Fields: []flow.Field{{Name: "v", Type: flow.FieldInteger}}},
	}))
	for _, code := range []string{"b", "a\x00x", "", "a", "ab"} {
		_, err := s.CreateRecord(ctx, "codes", flow.Record{"code": code})
		require.NoError(t, err)
	}
	_, err := s.CreateRecord(ctx, "codes", flow.Record{"code": "ab"})
	require.ErrorIs(t, err, flow.ErrDuplicate)
	rs, err := s.ListRecords(ctx, "codes", nil, nil)
	require.NoError(t, err)
	var codes []string
	for _, r := range rs {
		codes = append(codes, r["code"].(string))
	}
	require.Equal(t, []string{"", "a", "a\x00x", "ab", "b"}, codes)
	_, hasID := rs[0]["id"]
	require.False(t, hasID, "a collection keyed by another field gets no auto id")

	for _, v := range []any{3, -2.25, 1.5, int64(-7), 0.0} {
		_, err := s.CreateRecord(ctx, "scores", flow.Record{"value": v})
		require.NoError(t, err)
	}
	_, err = s.CreateRecord(ctx, "scores", flow.Record{"value": 3.0})
	require.ErrorIs(t, err, flow.ErrDuplicate, "3 and 3.0 are one key")
	rs, err = s.ListRecords(ctx, "scores", nil, nil)
	require.NoError(t, err)
	var values []float64
	for _, r := range rs {
		f, ok := r["value"].(float64)
		if !ok {
			f = float64(toInt(r["value"]))
		}
		values = append(values, f)
	}
	require.Equal(t, []float64{-7, -2.25, 0, 1.5, 3}, values)

	for _, id := range []int64{-5, 300, 2} {
		_, err := s.CreateRecord(ctx, "ints", flow.Record{"id": id})
		require.NoError(t, err)
	}
	r, err := s.CreateRecord(ctx, "ints", flow.Record{"v": 1})
	require.NoError(t, err)
	require.Equal(t, int64(301), r["id"], "auto ids continue above explicit ones")
	rs, err = s.ListRecords(ctx, "ints", nil, nil)
	require.NoError(t, err)
	var ids []int64
	for _, r := range rs {
		ids = append(ids, r["id"].(int64))
	}
	require.Equal(t, []int64{-5, 2, 300, 301}, ids)
}

func toInt(v any) int64 {
	switch n := v.(type) {
	case int:
		return int64(n)
	case int64:
		return n
	}
	panic(v)
}

// TestAssociationValues covers the association shapes the suite does not: hasOne,
// maps naming existing targets, lists of other slice types and single values.
func TestAssociationValues(t *testing.T) {
	s, ctx := memory.New(), t.Context()
	cs := append(storagetest.Collections(),
		flow.Collection{Name: "profiles", Fields: []flow.Field{{Name: "bio", Type: flow.FieldText}}},
	)
	for i := range cs {
		if cs[i].Name == "users" {
			cs[i].Fields = append(cs[i].Fields, flow.Field{Name: "profile", Type: flow.FieldHasOne, Target: "profiles", ForeignKey: "userId"})
		}
	}
	require.NoError(t, s.DeclareCollections(ctx, cs))

	u, err := s.CreateRecord(ctx, "users", flow.Record{"nickname": "a", "profile": flow.Record{"bio": "hi"}})
	require.NoError(t, err)
	got, err := s.GetRecord(ctx, "users", flow.Record{"id": u["id"]}, []string{"profile"})
	require.NoError(t, err)
	require.Equal(t, "hi", got["profile"].(flow.Record)["bio"])
	require.Equal(t, u["id"], got["profile"].(flow.Record)["userId"])
	u2, err := s.CreateRecord(ctx, "users", flow.Record{"nickname": "b"})
	require.NoError(t, err)
	got, err = s.GetRecord(ctx, "users", flow.Record{"id": u2["id"]}, []string{"profile"})
	require.NoError(t, err)
	require.Nil(t, got["profile"])

	cat, err := s.CreateRecord(ctx, "categories", flow.Record{"title": "c"})
	require.NoError(t, err)
	// A map holding the key of an existing target links it.
	p, err := s.CreateRecord(ctx, "posts", flow.Record{"title": "p", "category": flow.Record{"id": cat["id"], "title": "ignored"}})
	require.NoError(t, err)
	require.Equal(t, cat["id"], p["categoryId"])
	cats, err := s.ListRecords(ctx, "categories", nil, nil)
	require.NoError(t, err)
	require.Len(t, cats, 1)
	// hasMany given one key, and maps naming existing targets.
	c2, err := s.CreateRecord(ctx, "categories", flow.Record{"title": "c2", "posts": p["id"]})
	require.NoError(t, err)
	got, err = s.GetRecord(ctx, "posts", flow.Record{"id": p["id"]}, nil)
	require.NoError(t, err)
	require.Equal(t, c2["id"], got["categoryId"])
	c3, err := s.CreateRecord(ctx, "categories", flow.Record{"title": "c3", "posts": []flow.Record{{"id": p["id"]}, {"title": "new"}}})
	require.NoError(t, err)
	posts, err := s.ListRecords(ctx, "posts", storage.Filter{"categoryId": c3["id"]}, nil)
	require.NoError(t, err)
	require.Len(t, posts, 2)
	// belongsToMany given a typed slice; a tag created on the way.
	t1, err := s.CreateRecord(ctx, "tags", flow.Record{"name": "t1"})
	require.NoError(t, err)
	p2, err := s.CreateRecord(ctx, "posts", flow.Record{"title": "p2", "tags": []any{t1["id"], flow.Record{"name": "t2"}}})
	require.NoError(t, err)
	got, err = s.GetRecord(ctx, "posts", flow.Record{"id": p2["id"]}, []string{"tags"})
	require.NoError(t, err)
	require.Len(t, got["tags"], 2)
	p3, err := s.CreateRecord(ctx, "posts", flow.Record{"title": "p3", "tags": []int64{t1["id"].(int64)}})
	require.NoError(t, err)
	got, err = s.GetRecord(ctx, "posts", flow.Record{"id": p3["id"]}, []string{"tags.posts"})
	require.NoError(t, err)
	require.Len(t, got["tags"].([]any)[0].(flow.Record)["posts"], 2)
	// Filters accept typed slices too.
	rs, err := s.ListRecords(ctx, "posts", storage.Filter{"id": []int64{p2["id"].(int64), p3["id"].(int64)}}, nil)
	require.NoError(t, err)
	require.Len(t, rs, 2)
}

// TestUpdateRecordsKeys covers updates that change primary keys.
func TestUpdateRecordsKeys(t *testing.T) {
	s, ctx := memory.New(), t.Context()
	require.NoError(t, s.DeclareCollections(ctx, storagetest.Collections()))
	for _, k := range [][2]int{{1, 1}, {1, 2}, {2, 1}} {
		_, err := s.CreateRecord(ctx, "postsTags", flow.Record{"postId": k[0], "tagId": k[1]})
		require.NoError(t, err)
	}
	// Two records would get the same key.
	_, err := s.UpdateRecords(ctx, "postsTags", storage.Filter{"postId": 1}, flow.Record{"tagId": 9})
	require.ErrorIs(t, err, flow.ErrDuplicate)
	// The key of a record that is not updated.
	_, err = s.UpdateRecords(ctx, "postsTags", storage.Filter{"postId": 2}, flow.Record{"postId": 1})
	require.ErrorIs(t, err, flow.ErrDuplicate)
	rs, err := s.ListRecords(ctx, "postsTags", nil, nil)
	require.NoError(t, err)
	require.Len(t, rs, 3, "a failed update changed nothing")

	rs, err = s.UpdateRecords(ctx, "postsTags", storage.Filter{"postId": 2}, flow.Record{"postId": 3, "tagId": 3})
	require.NoError(t, err)
	require.Len(t, rs, 1)
	_, err = s.GetRecord(ctx, "postsTags", flow.Record{"postId": 2, "tagId": 1}, nil)
	require.ErrorIs(t, err, flow.ErrNotFound)
	_, err = s.GetRecord(ctx, "postsTags", flow.Record{"postId": 3, "tagId": 3}, nil)
	require.NoError(t, err)

	p, err := s.CreateRecord(ctx, "posts", flow.Record{"title": "p"})
	require.NoError(t, err)
	_, err = s.UpdateRecords(ctx, "posts", storage.Filter{"id": p["id"]}, flow.Record{"id": 50})
	require.NoError(t, err)
	next, err := s.CreateRecord(ctx, "posts", flow.Record{"title": "next"})
	require.NoError(t, err)
	require.Equal(t, int64(51), next["id"], "auto ids continue above an id set by an update")
	// A belongsTo map in an update creates the target once for all matches.
	rs, err = s.UpdateRecords(ctx, "posts", nil, flow.Record{"category": flow.Record{"title": "shared"}})
	require.NoError(t, err)
	require.Len(t, rs, 2)
	require.Equal(t, rs[0]["categoryId"], rs[1]["categoryId"])
	cats, err := s.ListRecords(ctx, "categories", nil, nil)
	require.NoError(t, err)
	require.Len(t, cats, 1)
}

// TestMoves covers updates that move a job to another execution and an
// execution to another event key.
func TestMoves(t *testing.T) {
	s, ctx := memory.New(), t.Context()
	require.NoError(t, s.InsertWorkflow(ctx, &flow.Workflow{ID: "w", Key: "k"}))
	e1 := &flow.Execution{ID: "e1", WorkflowID: "w", EventKey: "ev1"}
	e2 := &flow.Execution{ID: "e2", WorkflowID: "w", EventKey: "ev2"}
	require.NoError(t, s.InsertExecution(ctx, e1))
	require.NoError(t, s.InsertExecution(ctx, e2))
	j := &flow.Job{ID: "j", ExecutionID: "e1", Seq: 1}
	require.NoError(t, s.InsertJobs(ctx, j))
	moved := *j
	moved.ExecutionID = "e2"
	require.NoError(t, s.UpdateJob(ctx, &moved, flow.JobPending))
	got, err := s.GetJob(ctx, "j")
	require.NoError(t, err)
	require.Equal(t, "e2", got.ExecutionID)
	js, err := s.ListJobs(ctx, "e1")
	require.NoError(t, err)
	require.Empty(t, js)
	js, err = s.ListJobs(ctx, "e2")
	require.NoError(t, err)
	require.Len(t, js, 1)
	lost := moved
	lost.ExecutionID = "nope"
	require.ErrorIs(t, s.UpdateJob(ctx, &lost, flow.JobPending), flow.ErrNotFound)

	// Taking another execution's event key is a duplicate; a free one is fine
	// and frees the old one.
	u := *e1
	u.EventKey = "ev2"
	require.ErrorIs(t, s.UpdateExecution(ctx, &u, storage.ExecutionExpect{}), flow.ErrDuplicate)
	u.EventKey = "ev3"
	require.NoError(t, s.UpdateExecution(ctx, &u, storage.ExecutionExpect{}))
	require.NoError(t, s.InsertExecution(ctx, &flow.Execution{ID: "e3", WorkflowID: "w", EventKey: "ev1"}))
	err = s.InsertExecution(ctx, &flow.Execution{ID: "e4", WorkflowID: "w", EventKey: "ev3"})
	require.True(t, errors.Is(err, flow.ErrDuplicate), err)
}
