package storage_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

func TestCompareValues(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		a, b any
		want int
	}{
		{nil, nil, 0},
		{nil, int64(-5), -1},
		{"", nil, 1},
		{int64(9007199254740993), int64(9007199254740992), 1}, // exact, not through float64
		{int64(2), 2.5, -1},
		{json.Number("3"), 3, 0},
		{"B", "a", -1}, // bytewise
		{"10", "9", -1},
		{false, true, -1},
		{t0, t0.Add(time.Second), -1},
		{t0.In(time.FixedZone("x", 3600)), t0, 0},
	} {
		require.Equal(t, tc.want, storage.CompareValues(tc.a, tc.b), "%v vs %v", tc.a, tc.b)
		require.Equal(t, -tc.want, storage.CompareValues(tc.b, tc.a), "%v vs %v", tc.b, tc.a)
	}
}

func TestPageInGo(t *testing.T) {
	list := []flow.Record{
		{"id": int64(1), "n": int64(2)}, {"id": int64(2), "n": nil}, {"id": int64(3), "n": int64(2)}, {"id": int64(4), "n": int64(1)},
	}
	ids := func(rs []flow.Record) []any {
		out := []any{}
		for _, r := range rs {
			out = append(out, r["id"])
		}
		return out
	}
	require.Equal(t, []any{int64(2), int64(4), int64(1), int64(3)}, ids(storage.PageInGo(list, storage.ListQuery{Sort: []string{"n"}}, []string{"id"})))
	require.Equal(t, []any{int64(1), int64(3)}, ids(storage.PageInGo(list, storage.ListQuery{Sort: []string{"-n"}, Limit: 2}, []string{"id"})))
	require.Equal(t, []any{int64(3), int64(4)}, ids(storage.PageInGo(list, storage.ListQuery{Offset: 2}, []string{"id"})))
	require.Equal(t, []any{}, ids(storage.PageInGo(list, storage.ListQuery{Offset: 9, Limit: 1}, []string{"id"})))
	require.Equal(t, int64(1), list[0]["id"], "the list is not reordered")

	field, desc := storage.SortField("-createdAt")
	require.Equal(t, "createdAt", field)
	require.True(t, desc)
	field, desc = storage.SortField("title")
	require.Equal(t, "title", field)
	require.False(t, desc)
}
