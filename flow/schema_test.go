package flow_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
)

func schemaCollections() []flow.Collection {
	return []flow.Collection{
		{Name: "posts", Fields: []flow.Field{
			{Name: "title", Type: flow.FieldString},
			{Name: "category", Type: flow.FieldBelongsTo, Target: "categories", TargetKey: "code"},
			{Name: "comments", Type: flow.FieldHasMany, Target: "comments", ForeignKey: "postId"},
			{Name: "tags", Type: flow.FieldBelongsToMany, Target: "tags", Through: "posts_tags", ForeignKey: "postId", OtherKey: "tagId"},
			{Name: "createdAt", Type: flow.FieldDate},
		}},
		{Name: "categories", PrimaryKey: []string{"code"}, Fields: []flow.Field{{Name: "code", Type: flow.FieldString}}},
		{Name: "comments", Fields: []flow.Field{{Name: "content", Type: flow.FieldString}}},
		{Name: "tags"},
		{Name: "posts_tags", PrimaryKey: []string{"postId", "tagId"}},
		{Name: "posts", DataSource: "another", Fields: []flow.Field{
			{Name: "category", Type: flow.FieldBelongsTo, Target: "main:categories", TargetKey: "code"}}},
	}
}

// The one schema compiler resolves association defaults and places every
// foreign key, typed like the key it points at.
func TestCompileSchema(t *testing.T) {
	sc, err := flow.CompileSchema(schemaCollections())
	require.NoError(t, err)
	require.Equal(t, []string{"another:posts", "categories", "comments", "posts", "posts_tags", "tags"}, sc.Names())

	posts, ok := sc.Collection("posts")
	require.True(t, ok)
	require.Equal(t, []string{"id"}, posts.Keys)
	require.True(t, posts.AutoID)
	require.True(t, posts.CreatedAt)
	require.False(t, posts.UpdatedAt)
	cat := posts.Assocs["category"]
	require.Equal(t, "categoryId", cat.ForeignKey)
	require.Equal(t, "code", cat.TargetKey)
	require.Equal(t, flow.FieldString, posts.ColumnType("categoryId"), "a foreign key has the type of the key it points at")
	require.Equal(t, []string{"categoryId"}, posts.Inferred)

	comments, _ := sc.Collection("comments")
	require.Equal(t, flow.FieldInteger, comments.ColumnType("postId"))
	require.Equal(t, []string{"postId"}, comments.Inferred)

	join, _ := sc.Collection("posts_tags")
	require.False(t, join.AutoID, "a composite key is not auto-id")
	require.Contains(t, join.Columns, "postId")
	require.Contains(t, join.Columns, "tagId")

	other, _ := sc.Collection("another:posts")
	require.Equal(t, "categories", other.Assocs["category"].Target, "a prefixed target is already a full name")
	require.Equal(t, flow.FieldString, other.ColumnType("categoryId"))

	key, ok := posts.Key(flow.Record{"id": int64(3), "title": "x"})
	require.True(t, ok)
	require.Equal(t, flow.Record{"id": int64(3)}, key)
	_, ok = posts.Key(flow.Record{"title": "x"})
	require.False(t, ok)

	// Collections gives the declarations back with keys and foreign keys as fields.
	for _, c := range sc.Collections() {
		if c.FullName() == "comments" {
			f, ok := c.Field("postId")
			require.True(t, ok)
			require.Equal(t, flow.FieldInteger, f.Type)
			_, ok = c.Field("id")
			require.True(t, ok)
		}
	}
}

func TestCompileSchemaErrors(t *testing.T) {
	cases := []struct {
		name string
		cs   []flow.Collection
		want error
	}{
		{"no name", []flow.Collection{{}}, flow.ErrInvalidCollection},
		{"twice", []flow.Collection{{Name: "a"}, {Name: "a"}}, flow.ErrDuplicate},
		{"field twice", []flow.Collection{{Name: "a", Fields: []flow.Field{{Name: "x"}, {Name: "x"}}}}, flow.ErrInvalidCollection},
		{"no target", []flow.Collection{{Name: "a", Fields: []flow.Field{{Name: "b", Type: flow.FieldBelongsTo}}}}, flow.ErrInvalidCollection},
		{"hasMany without foreign key", []flow.Collection{{Name: "a", Fields: []flow.Field{{Name: "b", Type: flow.FieldHasMany, Target: "a"}}}}, flow.ErrInvalidCollection},
		{"belongsToMany without through", []flow.Collection{{Name: "a", Fields: []flow.Field{{Name: "b", Type: flow.FieldBelongsToMany, Target: "a", ForeignKey: "x", OtherKey: "y"}}}}, flow.ErrInvalidCollection},
		{"key is an association", []flow.Collection{{Name: "a", PrimaryKey: []string{"b"}, Fields: []flow.Field{{Name: "b", Type: flow.FieldBelongsTo, Target: "a"}}}}, flow.ErrInvalidCollection},
		{"undeclared target", []flow.Collection{{Name: "a", Fields: []flow.Field{{Name: "b", Type: flow.FieldBelongsTo, Target: "b"}}}}, flow.ErrUnknownCollection},
		{"undeclared through", []flow.Collection{{Name: "a", Fields: []flow.Field{{Name: "b", Type: flow.FieldBelongsToMany, Target: "a", Through: "ab", ForeignKey: "x", OtherKey: "y"}}}}, flow.ErrUnknownCollection},
	}
	for _, tc := range cases {
		_, err := flow.CompileSchema(tc.cs)
		require.ErrorIs(t, err, tc.want, tc.name)
	}
}

func TestSchemaAppends(t *testing.T) {
	sc, err := flow.CompileSchema(schemaCollections())
	require.NoError(t, err)
	tree, err := sc.Appends("posts", []string{"category", "tags", "comments", "category"})
	require.NoError(t, err)
	require.Len(t, tree, 3, "one node per association")
	require.Equal(t, "categories", tree[0].Target.Name)
	require.Equal(t, "posts_tags", tree[1].Through.Name)

	_, err = sc.Appends("posts", []string{"title"})
	require.ErrorIs(t, err, flow.ErrUnknownField)
	require.ErrorContains(t, err, "not an association")
	_, err = sc.Appends("posts", []string{"category.nope"})
	require.ErrorIs(t, err, flow.ErrUnknownField)
	_, err = sc.Appends("nope", []string{"x"})
	require.ErrorIs(t, err, flow.ErrUnknownCollection)
}
