package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// create creates a record and returns it.
func create(t testing.TB, s storage.RecordStore, collection string, values flow.Record) flow.Record {
	t.Helper()
	r, err := s.CreateRecord(context.Background(), collection, values)
	require.NoError(t, err, "create %s %v", collection, values)
	return r
}

// get reads a record by its "id".
func get(t testing.TB, s storage.RecordStore, collection string, id any, appends ...string) flow.Record {
	t.Helper()
	r, err := s.GetRecord(context.Background(), collection, flow.Record{"id": id}, appends)
	require.NoError(t, err, "get %s %v", collection, id)
	return r
}

// list lists the records of a collection that match f.
func list(t testing.TB, s storage.RecordStore, collection string, f storage.Filter, appends ...string) []flow.Record {
	t.Helper()
	rs, err := s.ListRecords(context.Background(), collection, f, appends)
	require.NoError(t, err, "list %s %v", collection, f)
	return rs
}

// blog is a small data set: two categories, three posts (p3 without category),
// two comments on p1, two tags (p1 has both, p2 has t2) and two users.
type blog struct {
	c1, c2             flow.Record
	p1, p2, p3         flow.Record
	cm1, cm2           flow.Record
	t1, t2             flow.Record
	root, userA        flow.Record
	c1ID, p1ID, p2ID   int64
	p3ID, t1ID, t2ID   int64
	cm1ID, rootID, aID int64
}

func seedBlog(t testing.TB, s storage.RecordStore) *blog {
	t.Helper()
	b := &blog{}
	b.root = create(t, s, "users", flow.Record{"nickname": "root", "username": "root", "password": "secret-root"})
	b.userA = create(t, s, "users", flow.Record{"nickname": "a", "username": "a", "password": "secret-a", "token": "tok"})
	b.rootID, b.aID = toInt64(t, b.root["id"]), toInt64(t, b.userA["id"])
	b.c1 = create(t, s, "categories", flow.Record{"title": "c1"})
	b.c2 = create(t, s, "categories", flow.Record{"title": "c2"})
	b.c1ID = toInt64(t, b.c1["id"])
	b.p1 = create(t, s, "posts", flow.Record{"title": "p1", "categoryId": b.c1ID, "createdById": b.aID, "read": 1})
	b.p2 = create(t, s, "posts", flow.Record{"title": "p2", "categoryId": b.c1ID, "read": 2})
	b.p3 = create(t, s, "posts", flow.Record{"title": "p3", "read": 3})
	b.p1ID, b.p2ID, b.p3ID = toInt64(t, b.p1["id"]), toInt64(t, b.p2["id"]), toInt64(t, b.p3["id"])
	b.cm1 = create(t, s, "comments", flow.Record{"content": "cm1", "postId": b.p1ID})
	b.cm2 = create(t, s, "comments", flow.Record{"content": "cm2", "postId": b.p1ID})
	b.cm1ID = toInt64(t, b.cm1["id"])
	b.t1 = create(t, s, "tags", flow.Record{"name": "t1"})
	b.t2 = create(t, s, "tags", flow.Record{"name": "t2"})
	b.t1ID, b.t2ID = toInt64(t, b.t1["id"]), toInt64(t, b.t2["id"])
	create(t, s, "postsTags", flow.Record{"postId": b.p1ID, "tagId": b.t1ID})
	create(t, s, "postsTags", flow.Record{"postId": b.p1ID, "tagId": b.t2ID})
	create(t, s, "postsTags", flow.Record{"postId": b.p2ID, "tagId": b.t2ID})
	return b
}

func testRecords(t *testing.T, newStore func(t *testing.T) RecordsStore) {
	declared := func(t *testing.T) RecordsStore {
		s := newStore(t)
		require.NoError(t, s.DeclareCollections(t.Context(), Collections()))
		return s
	}

	t.Run("DeclareIdempotent", func(t *testing.T) {
		t.Parallel()
		s, ctx := declared(t), t.Context()
		require.NoError(t, s.DeclareCollections(ctx, Collections()))
		p1 := create(t, s, "posts", flow.Record{"title": "p1"})
		require.NoError(t, s.DeclareCollections(ctx, Collections()))
		p2 := create(t, s, "posts", flow.Record{"title": "p2"})
		require.Equal(t, []int64{1, 2}, recordIDs(t, []flow.Record{p1, p2}))
		requireFields(t, flow.Record{"title": "p1"}, get(t, s, "posts", 1))

		// Another data source's collections are separate.
		require.NoError(t, s.DeclareCollections(ctx, CollectionsOf("another")))
		other := create(t, s, "another:posts", flow.Record{"title": "other"})
		require.EqualValues(t, 1, toInt64(t, other["id"]))
		require.Len(t, list(t, s, "posts", nil), 2)
		require.Len(t, list(t, s, "another:posts", nil), 1)
	})

	t.Run("AutoID", func(t *testing.T) {
		t.Parallel()
		s := declared(t)
		for i := 1; i <= 3; i++ {
			p := create(t, s, "posts", flow.Record{"title": "p"})
			require.IsType(t, int64(0), p["id"], "auto ids are int64")
			require.EqualValues(t, i, p["id"])
			requireFields(t, flow.Record{"title": "p"}, p)
		}
		c := create(t, s, "categories", flow.Record{"title": "c"})
		require.EqualValues(t, 1, c["id"], "ids count per collection")

		explicit := create(t, s, "posts", flow.Record{"id": 10, "title": "ten"})
		require.EqualValues(t, 10, toInt64(t, explicit["id"]))
		requireFields(t, flow.Record{"title": "ten"}, get(t, s, "posts", 10))
		_, err := s.CreateRecord(t.Context(), "posts", flow.Record{"id": 10, "title": "again"})
		requireErrorIs(t, err, flow.ErrDuplicate)
		requireFields(t, flow.Record{"title": "ten"}, get(t, s, "posts", 10))
	})

	t.Run("UnknownCollection", func(t *testing.T) {
		t.Parallel()
		s, ctx := declared(t), t.Context()
		_, err := s.CreateRecord(ctx, "nope", flow.Record{"title": "x"})
		requireErrorIs(t, err, flow.ErrUnknownCollection)
		_, err = s.GetRecord(ctx, "nope", flow.Record{"id": 1}, nil)
		requireErrorIs(t, err, flow.ErrUnknownCollection)
		_, err = s.ListRecords(ctx, "nope", nil, nil)
		requireErrorIs(t, err, flow.ErrUnknownCollection)
		_, err = s.UpdateRecords(ctx, "nope", storage.Filter{"id": 1}, flow.Record{"title": "x"})
		requireErrorIs(t, err, flow.ErrUnknownCollection)
		_, err = s.CreateRecord(ctx, "another:posts", flow.Record{"title": "x"})
		requireErrorIs(t, err, flow.ErrUnknownCollection, "undeclared data source")
		// Nothing is declared in a fresh store.
		_, err = newStore(t).CreateRecord(ctx, "posts", flow.Record{"title": "x"})
		requireErrorIs(t, err, flow.ErrUnknownCollection)
	})

	t.Run("UnknownField", func(t *testing.T) {
		t.Parallel()
		s, ctx := declared(t), t.Context()
		_, err := s.CreateRecord(ctx, "posts", flow.Record{"title": "x", "nope": 1})
		requireErrorIs(t, err, flow.ErrUnknownField)
		require.Empty(t, list(t, s, "posts", nil), "a rejected record was stored")

		p := create(t, s, "posts", flow.Record{"title": "x"})
		_, err = s.ListRecords(ctx, "posts", storage.Filter{"nope": 1}, nil)
		requireErrorIs(t, err, flow.ErrUnknownField)
		_, err = s.UpdateRecords(ctx, "posts", storage.Filter{"id": p["id"]}, flow.Record{"nope": 1})
		requireErrorIs(t, err, flow.ErrUnknownField)
		_, err = s.UpdateRecords(ctx, "posts", storage.Filter{"nope": 1}, flow.Record{"title": "y"})
		requireErrorIs(t, err, flow.ErrUnknownField)
		_, err = s.GetRecord(ctx, "posts", flow.Record{"id": p["id"]}, []string{"nope"})
		requireErrorIs(t, err, flow.ErrUnknownField)
		_, err = s.GetRecord(ctx, "posts", flow.Record{"id": p["id"]}, []string{"category.nope"})
		requireErrorIs(t, err, flow.ErrUnknownField)
		_, err = s.GetRecord(ctx, "posts", flow.Record{"id": p["id"]}, []string{"title"})
		requireErrorIs(t, err, flow.ErrUnknownField, "append of a field that is no association")
		_, err = s.ListRecords(ctx, "posts", nil, []string{"nope"})
		requireErrorIs(t, err, flow.ErrUnknownField)
		requireFields(t, flow.Record{"title": "x"}, get(t, s, "posts", p["id"]))
	})

	t.Run("CompositeKey", func(t *testing.T) {
		t.Parallel()
		s, ctx := declared(t), t.Context()
		for _, k := range [][2]int64{{2, 1}, {1, 2}, {1, 1}} {
			r := create(t, s, "postsTags", flow.Record{"postId": k[0], "tagId": k[1]})
			requireFields(t, flow.Record{"postId": k[0], "tagId": k[1]}, r)
			_, hasID := r["id"]
			require.False(t, hasID, "a collection without auto id got an id")
		}
		_, err := s.CreateRecord(ctx, "postsTags", flow.Record{"postId": 1, "tagId": 2})
		requireErrorIs(t, err, flow.ErrDuplicate)

		r, err := s.GetRecord(ctx, "postsTags", flow.Record{"postId": 1, "tagId": 2}, nil)
		require.NoError(t, err)
		requireFields(t, flow.Record{"postId": 1, "tagId": 2}, r)
		_, err = s.GetRecord(ctx, "postsTags", flow.Record{"postId": 3, "tagId": 3}, nil)
		requireErrorIs(t, err, flow.ErrNotFound)
		_, err = s.GetRecord(ctx, "postsTags", flow.Record{"postId": 1}, nil)
		require.Error(t, err, "a partial primary key")

		rs := list(t, s, "postsTags", nil)
		require.Len(t, rs, 3)
		for i, k := range [][2]int64{{1, 1}, {1, 2}, {2, 1}} {
			requireFields(t, flow.Record{"postId": k[0], "tagId": k[1]}, rs[i])
		}
		rs = list(t, s, "postsTags", storage.Filter{"postId": 1})
		require.Len(t, rs, 2)
	})

	t.Run("GetRecord", func(t *testing.T) {
		t.Parallel()
		s, ctx := declared(t), t.Context()
		b := seedBlog(t, s)
		requireFields(t, flow.Record{"id": b.p2ID, "title": "p2", "categoryId": b.c1ID, "read": 2}, get(t, s, "posts", b.p2ID))
		// Keys of any numeric type find the record.
		for _, id := range []any{int(b.p2ID), b.p2ID, float64(b.p2ID)} {
			requireFields(t, flow.Record{"title": "p2"}, get(t, s, "posts", id))
		}
		_, err := s.GetRecord(ctx, "posts", flow.Record{"id": 999}, nil)
		requireErrorIs(t, err, flow.ErrNotFound)
	})

	t.Run("HiddenFieldsAreStored", func(t *testing.T) {
		t.Parallel()
		s := declared(t)
		b := seedBlog(t, s)
		requireFields(t, flow.Record{"password": "secret-a", "token": "tok"}, b.userA)
		requireFields(t, flow.Record{"nickname": "a", "password": "secret-a", "token": "tok"}, get(t, s, "users", b.aID))
		p := get(t, s, "posts", b.p1ID, "createdBy")
		requireFields(t, flow.Record{"password": "secret-a"}, toOne(t, p["createdBy"]))
	})

	t.Run("Appends", func(t *testing.T) {
		t.Parallel()
		s := declared(t)
		b := seedBlog(t, s)

		// belongsTo
		p1 := get(t, s, "posts", b.p1ID, "category")
		requireFields(t, flow.Record{"title": "p1", "categoryId": b.c1ID}, p1)
		requireFields(t, flow.Record{"id": b.c1ID, "title": "c1"}, toOne(t, p1["category"]))
		p3 := get(t, s, "posts", b.p3ID, "category")
		v, ok := p3["category"]
		require.True(t, ok, "an empty to-one append is present")
		require.Nil(t, toOne(t, v))

		// hasMany
		p1 = get(t, s, "posts", b.p1ID, "comments")
		comments := toMany(t, p1["comments"])
		require.Len(t, comments, 2)
		requireFields(t, flow.Record{"content": "cm1", "postId": b.p1ID}, comments[0])
		requireFields(t, flow.Record{"content": "cm2", "postId": b.p1ID}, comments[1])
		p3 = get(t, s, "posts", b.p3ID, "comments")
		v, ok = p3["comments"]
		require.True(t, ok, "an empty to-many append is present")
		require.Empty(t, toMany(t, v))

		// nested: to-one then to-many, to-one then to-one
		p2 := get(t, s, "posts", b.p2ID, "category.posts")
		cat := toOne(t, p2["category"])
		requireFields(t, flow.Record{"title": "c1"}, cat)
		require.Equal(t, []int64{b.p1ID, b.p2ID}, recordIDs(t, toMany(t, cat["posts"])))
		cm := get(t, s, "comments", b.cm1ID, "post.category")
		post := toOne(t, cm["post"])
		requireFields(t, flow.Record{"id": b.p1ID, "title": "p1"}, post)
		requireFields(t, flow.Record{"title": "c1"}, toOne(t, post["category"]))
		// A path and its prefix together, and several paths.
		cm = get(t, s, "comments", b.cm1ID, "post", "post.category", "post.comments")
		post = toOne(t, cm["post"])
		requireFields(t, flow.Record{"title": "c1"}, toOne(t, post["category"]))
		require.Len(t, toMany(t, post["comments"]), 2)

		// belongsToMany through postsTags
		p1 = get(t, s, "posts", b.p1ID, "tags", "category", "createdBy")
		tags := toMany(t, p1["tags"])
		require.Len(t, tags, 2)
		requireFields(t, flow.Record{"id": b.t1ID, "name": "t1"}, tags[0])
		requireFields(t, flow.Record{"id": b.t2ID, "name": "t2"}, tags[1])
		requireFields(t, flow.Record{"title": "c1"}, toOne(t, p1["category"]))
		requireFields(t, flow.Record{"nickname": "a"}, toOne(t, p1["createdBy"]))
		t2 := get(t, s, "tags", b.t2ID, "posts")
		require.Equal(t, []int64{b.p1ID, b.p2ID}, recordIDs(t, toMany(t, t2["posts"])))
		p3 = get(t, s, "posts", b.p3ID, "tags")
		require.Empty(t, toMany(t, p3["tags"]))

		// List with appends.
		posts := list(t, s, "posts", nil, "category")
		require.Len(t, posts, 3)
		requireFields(t, flow.Record{"title": "c1"}, toOne(t, posts[0]["category"]))
		requireFields(t, flow.Record{"title": "c1"}, toOne(t, posts[1]["category"]))
		require.Nil(t, toOne(t, posts[2]["category"]))
	})

	t.Run("ListRecords", func(t *testing.T) {
		t.Parallel()
		s := declared(t)
		b := seedBlog(t, s)
		require.Equal(t, []int64{b.p1ID, b.p2ID, b.p3ID}, recordIDs(t, list(t, s, "posts", nil)))
		require.Equal(t, []int64{b.p1ID, b.p2ID, b.p3ID}, recordIDs(t, list(t, s, "posts", storage.Filter{})))
		for _, tc := range []struct {
			name string
			f    storage.Filter
			want []int64
		}{
			{"equal", storage.Filter{"title": "p2"}, []int64{b.p2ID}},
			{"foreign key", storage.Filter{"categoryId": b.c1ID}, []int64{b.p1ID, b.p2ID}},
			{"foreign key as float", storage.Filter{"categoryId": float64(b.c1ID)}, []int64{b.p1ID, b.p2ID}},
			{"membership", storage.Filter{"id": []any{b.p3ID, b.p1ID}}, []int64{b.p1ID, b.p3ID}},
			{"membership of mixed numbers", storage.Filter{"id": []any{float64(b.p3ID), int(b.p2ID)}}, []int64{b.p2ID, b.p3ID}},
			{"empty membership", storage.Filter{"id": []any{}}, []int64{}},
			{"two fields", storage.Filter{"categoryId": b.c1ID, "read": 2}, []int64{b.p2ID}},
			{"no match", storage.Filter{"title": "zzz"}, []int64{}},
		} {
			require.Equal(t, tc.want, recordIDs(t, list(t, s, "posts", tc.f)), tc.name)
		}
	})

	t.Run("UpdateRecords", func(t *testing.T) {
		t.Parallel()
		s, ctx := declared(t), t.Context()
		b := seedBlog(t, s)
		rs, err := s.UpdateRecords(ctx, "posts", storage.Filter{"categoryId": b.c1ID}, flow.Record{"published": true, "score": 1.5})
		require.NoError(t, err)
		require.Equal(t, []int64{b.p1ID, b.p2ID}, recordIDs(t, rs))
		for _, r := range rs {
			requireFields(t, flow.Record{"published": true, "score": 1.5, "categoryId": b.c1ID}, r)
		}
		requireFields(t, flow.Record{"title": "p1", "published": true, "score": 1.5}, get(t, s, "posts", b.p1ID))
		p3 := get(t, s, "posts", b.p3ID)
		require.NotEqual(t, true, p3["published"])

		rs, err = s.UpdateRecords(ctx, "posts", storage.Filter{"id": b.p3ID}, flow.Record{"title": "p3b", "categoryId": b.c1ID})
		require.NoError(t, err)
		require.Len(t, rs, 1)
		requireFields(t, flow.Record{"id": b.p3ID, "title": "p3b", "categoryId": b.c1ID}, rs[0])
		require.Len(t, list(t, s, "posts", storage.Filter{"categoryId": b.c1ID}), 3)

		rs, err = s.UpdateRecords(ctx, "posts", storage.Filter{"title": "zzz"}, flow.Record{"title": "x"})
		require.NoError(t, err)
		require.Empty(t, rs)
	})

	t.Run("CreateWithAssociations", func(t *testing.T) {
		t.Parallel()
		s, ctx := declared(t), t.Context()
		b := seedBlog(t, s)

		// belongsTo as a scalar sets the foreign key.
		p := create(t, s, "posts", flow.Record{"title": "scalar", "category": b.c1ID})
		requireFields(t, flow.Record{"categoryId": b.c1ID}, p)

		// belongsTo as a map creates the target first.
		p = create(t, s, "posts", flow.Record{"title": "map", "category": flow.Record{"title": "new cat"}})
		catID := p["categoryId"]
		require.NotNil(t, catID)
		requireFields(t, flow.Record{"title": "new cat"}, toOne(t, get(t, s, "posts", p["id"], "category")["category"]))
		requireFields(t, flow.Record{"title": "new cat"}, get(t, s, "categories", catID))

		// Two levels: comment -> new post -> new category.
		cm := create(t, s, "comments", flow.Record{"content": "deep", "post": map[string]any{"title": "pp", "category": map[string]any{"title": "cc"}}})
		cm = get(t, s, "comments", cm["id"], "post.category")
		post := toOne(t, cm["post"])
		requireFields(t, flow.Record{"title": "pp"}, post)
		requireFields(t, flow.Record{"title": "cc"}, toOne(t, post["category"]))

		// hasMany as a list of keys sets the targets' foreign key.
		c := create(t, s, "categories", flow.Record{"title": "c3", "posts": []any{b.p3ID, b.p2ID}})
		cID := toInt64(t, c["id"])
		requireFields(t, flow.Record{"categoryId": cID}, get(t, s, "posts", b.p3ID))
		requireFields(t, flow.Record{"categoryId": cID}, get(t, s, "posts", b.p2ID))
		require.Equal(t, []int64{b.p2ID, b.p3ID}, recordIDs(t, toMany(t, get(t, s, "categories", cID, "posts")["posts"])))

		// A record with nothing but association values (no column of its own),
		// keys given as JSON numbers (float64), as workflow configs carry them.
		only := create(t, s, "categories", flow.Record{"posts": []any{float64(b.p1ID)}})
		onlyID := toInt64(t, only["id"])
		requireFields(t, flow.Record{"categoryId": onlyID}, get(t, s, "posts", b.p1ID))

		// belongsToMany as a list of keys inserts join rows.
		p = create(t, s, "posts", flow.Record{"title": "tagged", "tags": []any{b.t1ID, b.t2ID}})
		pID := toInt64(t, p["id"])
		joins := list(t, s, "postsTags", storage.Filter{"postId": pID})
		require.Len(t, joins, 2)
		requireFields(t, flow.Record{"postId": pID, "tagId": b.t1ID}, joins[0])
		requireFields(t, flow.Record{"postId": pID, "tagId": b.t2ID}, joins[1])
		require.Equal(t, []int64{b.t1ID, b.t2ID}, recordIDs(t, toMany(t, get(t, s, "posts", pID, "tags")["tags"])))

		// A missing target fails the whole create.
		before := len(list(t, s, "posts", nil))
		_, err := s.CreateRecord(ctx, "posts", flow.Record{"title": "bad", "tags": []any{b.t1ID, 999}})
		requireErrorIs(t, err, flow.ErrNotFound)
		_, err = s.CreateRecord(ctx, "categories", flow.Record{"title": "bad", "posts": []any{999}})
		requireErrorIs(t, err, flow.ErrNotFound)
		require.Len(t, list(t, s, "posts", nil), before)
		require.Len(t, list(t, s, "categories", storage.Filter{"title": "bad"}), 0)
		require.Len(t, list(t, s, "postsTags", storage.Filter{"tagId": b.t1ID}), 2)
		_, err = s.CreateRecord(ctx, "posts", flow.Record{"title": "bad", "category": flow.Record{"nope": 1}})
		requireErrorIs(t, err, flow.ErrUnknownField)
		require.Len(t, list(t, s, "posts", nil), before)
	})

	t.Run("Timestamps", func(t *testing.T) {
		t.Parallel()
		s, ctx := declared(t), t.Context()
		before := time.Now().Add(-time.Second)
		p := create(t, s, "posts", flow.Record{"title": "p"})
		created, ok := p["createdAt"].(time.Time)
		require.Truef(t, ok, "createdAt is %T", p["createdAt"])
		require.True(t, created.After(before))
		_, ok = p["updatedAt"].(time.Time)
		require.True(t, ok)
		given := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		p = create(t, s, "posts", flow.Record{"title": "p", "createdAt": given})
		require.True(t, given.Equal(p["createdAt"].(time.Time)), "a given createdAt is kept")
		// Collections that declare no timestamps get none.
		c := create(t, s, "categories", flow.Record{"title": "c"})
		_, ok = c["createdAt"]
		require.False(t, ok)
		rs, err := s.UpdateRecords(ctx, "posts", storage.Filter{"id": p["id"]}, flow.Record{"title": "q"})
		require.NoError(t, err)
		require.True(t, rs[0]["updatedAt"].(time.Time).After(given))
		require.True(t, given.Equal(rs[0]["createdAt"].(time.Time)))
	})

	t.Run("Copies", func(t *testing.T) {
		t.Parallel()
		s := declared(t)
		in := flow.Record{"title": "orig", "read": 1}
		p := create(t, s, "posts", in)
		in["title"] = "changed"
		in["score"] = 3
		p["title"] = "changed"
		got := get(t, s, "posts", p["id"])
		requireFields(t, flow.Record{"title": "orig", "read": 1}, got)
		require.Nil(t, got["score"])
		got["title"] = "changed"
		ls := list(t, s, "posts", nil)
		ls[0]["title"] = "changed"
		requireFields(t, flow.Record{"title": "orig"}, get(t, s, "posts", p["id"]))

		// An append returns copies too.
		c := create(t, s, "categories", flow.Record{"title": "c"})
		create(t, s, "posts", flow.Record{"title": "p2", "categoryId": c["id"]})
		withCat := list(t, s, "posts", storage.Filter{"categoryId": c["id"]}, "category")
		toOne(t, withCat[0]["category"])["title"] = "changed"
		requireFields(t, flow.Record{"title": "c"}, get(t, s, "categories", c["id"]))
	})
}
