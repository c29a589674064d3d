package storagetest

import (
	"github.com/actiontrigger/actiontrigger/flow"
)

// Collections returns the schema the reference system's tests use (data source
// "main"): users, categories, posts, comments, replies, tags and the join
// collection postsTags. Foreign keys of associations are not declared as fields:
// a store infers them from the associations, as the reference system does.
//
//   - users: nickname, username, hidden password and token, createdAt, updatedAt.
//   - categories: title; posts hasMany posts (posts.categoryId).
//   - posts: title, content, published, read, score, createdAt, updatedAt;
//     category belongsTo categories (categoryId); comments hasMany comments
//     (comments.postId); tags belongsToMany tags through postsTags (postId, tagId);
//     createdBy and updatedBy belongsTo users (createdById, updatedById).
//   - comments: content, status; post belongsTo posts (postId); replies hasMany
//     replies (replies.commentId); createdBy belongsTo users (createdById).
//   - replies: content; comment belongsTo comments (commentId).
//   - tags: name; posts belongsToMany posts through postsTags (tagId, postId).
//   - postsTags: composite primary key [postId, tagId], no auto id.
//
// Each call returns a fresh slice the caller may modify.
func Collections() []flow.Collection {
	return CollectionsOf("main")
}

// CollectionsOf returns the schema of Collections for the given data source
// ("main" or empty for the main one, "another" for the reference system's second
// data source). Association targets name collections of the same data source.
func CollectionsOf(dataSource string) []flow.Collection {
	if dataSource == "main" {
		dataSource = ""
	}
	noAutoID := false
	cs := []flow.Collection{
		{
			Name: "users",
			Fields: []flow.Field{
				{Name: "nickname", Type: flow.FieldString},
				{Name: "username", Type: flow.FieldString},
				{Name: "password", Type: flow.FieldString, Hidden: true},
				{Name: "token", Type: flow.FieldString, Hidden: true},
				{Name: "createdAt", Type: flow.FieldDate},
				{Name: "updatedAt", Type: flow.FieldDate},
			},
		},
		{
			Name: "categories",
			Fields: []flow.Field{
				{Name: "title", Type: flow.FieldString},
				{Name: "posts", Type: flow.FieldHasMany, Target: "posts", ForeignKey: "categoryId"},
			},
		},
		{
			Name: "posts",
			Fields: []flow.Field{
				{Name: "title", Type: flow.FieldString},
				{Name: "content", Type: flow.FieldText},
				{Name: "published", Type: flow.FieldBoolean},
				{Name: "read", Type: flow.FieldInteger},
				{Name: "score", Type: flow.FieldNumber},
				{Name: "category", Type: flow.FieldBelongsTo, Target: "categories"},
				{Name: "comments", Type: flow.FieldHasMany, Target: "comments", ForeignKey: "postId"},
				{Name: "tags", Type: flow.FieldBelongsToMany, Target: "tags", Through: "postsTags", ForeignKey: "postId", OtherKey: "tagId"},
				{Name: "createdBy", Type: flow.FieldBelongsTo, Target: "users"},
				{Name: "updatedBy", Type: flow.FieldBelongsTo, Target: "users"},
				{Name: "createdAt", Type: flow.FieldDate},
				{Name: "updatedAt", Type: flow.FieldDate},
			},
		},
		{
			Name: "comments",
			Fields: []flow.Field{
				{Name: "content", Type: flow.FieldText},
				{Name: "status", Type: flow.FieldInteger},
				{Name: "post", Type: flow.FieldBelongsTo, Target: "posts"},
				{Name: "replies", Type: flow.FieldHasMany, Target: "replies", ForeignKey: "commentId"},
				{Name: "createdBy", Type: flow.FieldBelongsTo, Target: "users"},
			},
		},
		{
			Name: "replies",
			Fields: []flow.Field{
				{Name: "content", Type: flow.FieldText},
				{Name: "comment", Type: flow.FieldBelongsTo, Target: "comments"},
			},
		},
		{
			Name: "tags",
			Fields: []flow.Field{
				{Name: "name", Type: flow.FieldString},
				{Name: "posts", Type: flow.FieldBelongsToMany, Target: "posts", Through: "postsTags", ForeignKey: "tagId", OtherKey: "postId"},
			},
		},
		{
			Name:       "postsTags",
			PrimaryKey: []string{"postId", "tagId"},
			AutoID:     &noAutoID,
			Fields: []flow.Field{
				{Name: "postId", Type: flow.FieldInteger},
				{Name: "tagId", Type: flow.FieldInteger},
			},
		},
	}
	for i := range cs {
		cs[i].DataSource = dataSource
	}
	return cs
}
