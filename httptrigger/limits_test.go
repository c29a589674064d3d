package httptrigger_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/httptrigger"
	"github.com/actiontrigger/actiontrigger/storage"
)

// A triggerWorkflows naming thousands of unknown keys gets a short error:
// the first MaxBindingErrors entries and a count of the rest.
func TestBindingErrorIsCapped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	keys := make([]string, 500)
	for i := range keys {
		keys[i] = fmt.Sprintf("no-such-%d", i)
	}
	r := e.post("/api/posts:create?triggerWorkflows="+strings.Join(keys, ","), "tok-a", map[string]any{"title": "x"})
	requireError(t, r, 400, "no-such-0", "480 more bad entries not listed (500 in all)")
	require.Len(t, r.errorMessages(), httptrigger.MaxBindingErrors+1)
	require.Less(t, len(r.raw), 5000, "a short answer")
	require.Empty(t, e.records("posts", nil))
}

// rawRequest writes a request with a body of n bytes on c (in the
// background: the server may answer before it read the body) and reads the
// response.
func rawRequest(t *testing.T, c net.Conn, br *bufio.Reader, method, path, token string, n int) *http.Response {
	t.Helper()
	go func() {
		head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: test\r\n", method, path)
		if method == http.MethodPost {
			head += fmt.Sprintf("Content-Type: application/json\r\nContent-Length: %d\r\n", n+2)
		}
		if token != "" {
			head += "Authorization: Bearer " + token + "\r\n"
		}
		_, _ = io.WriteString(c, head+"\r\n")
		if method == http.MethodPost {
			_, _ = io.WriteString(c, `"`+strings.Repeat("a", n)+`"`)
		}
	}()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	res, err := http.ReadResponse(br, nil)
	require.NoError(t, err, "the client reads the answer, not a reset")
	_, err = io.ReadAll(res.Body)
	require.NoError(t, err)
	require.NoError(t, res.Body.Close())
	return res
}

// An error answered before the body is read (a bad binding, no credentials,
// no grant) reaches the client, and the connection stays usable: the body
// is drained (up to MaxBodyBytes) rather than left for a reset.
func TestEarlyErrorDrainsTheBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	require.NoError(t, err)
	defer c.Close()
	br := bufio.NewReader(c)
	const big = 600 << 10 // over what net/http discards by itself (256 KiB)

	res := rawRequest(t, c, br, http.MethodPost, "/api/posts:create?triggerWorkflows=no-such-workflow", "tok-a", big)
	require.Equal(t, 400, res.StatusCode)
	res = rawRequest(t, c, br, http.MethodPost, "/api/posts:create", "", big)
	require.Equal(t, 401, res.StatusCode)
	res = rawRequest(t, c, br, http.MethodPost, "/api/workflows:create", "tok-a", big)
	require.Equal(t, 403, res.StatusCode)
	require.False(t, res.Close, "the connection is kept")
	res = rawRequest(t, c, br, http.MethodGet, "/api/posts:list", "tok-a", 0)
	require.Equal(t, 200, res.StatusCode, "the same connection serves the next request")

	// Over MaxBodyBytes: the answer still arrives, then the connection closes.
	c2, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	require.NoError(t, err)
	defer c2.Close()
	res = rawRequest(t, c2, bufio.NewReader(c2), http.MethodPost, "/api/posts:create?triggerWorkflows=no-such-workflow", "tok-a", 3<<20)
	require.Equal(t, 400, res.StatusCode)
	require.True(t, res.Close, "Connection: close after a body over the limit")
}

// A filter listing more than MaxFilterValues values is a 400 stating the
// limit, on every store (PostgreSQL would otherwise fail past its parameter
// limit with a 500).
func TestFilterValuesLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.record("posts", flow.Record{"title": "p"})
	ids := make([]string, httptrigger.MaxFilterValues+1)
	for i := range ids {
		ids[i] = fmt.Sprint(i + 1)
	}
	in := `{"id": {"$in": [` + strings.Join(ids, ",") + `]}}`
	requireError(t, e.do(http.MethodGet, "/api/posts:list?filter="+url.QueryEscape(in), "tok-a", nil), 400, fmt.Sprint(httptrigger.MaxFilterValues))
	list := `{"id": [` + strings.Join(ids, ",") + `]}`
	requireError(t, e.post("/api/posts:update?filter="+url.QueryEscape(list), "tok-a", map[string]any{"title": "x"}), 400, fmt.Sprint(httptrigger.MaxFilterValues))
	in = `{"id": {"$in": [` + strings.Join(ids[:httptrigger.MaxFilterValues], ",") + `]}}`
	r := e.do(http.MethodGet, "/api/posts:list?filter="+url.QueryEscape(in), "tok-a", nil)
	require.Equal(t, 200, r.code, r.raw)
	require.Len(t, r.body["data"], 1)
	require.Equal(t, "p", e.records("posts", nil)[0]["title"])
}

// Text with a NUL character is a 400 naming the field on every store (PostgreSQL
// cannot store it, SQLite and memory would), in a record, a nested record or
// a filter; nothing is written.
func TestNULCharacterRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	requireError(t, e.post("/api/posts:create", "tok-a", `{"title": "a\u0000b"}`), 400, `"title"`, "NUL")
	requireError(t, e.post("/api/posts:create", "tok-a", `{"title": "t", "category": {"title": "c\u0000"}}`), 400, `"category.title"`)
	p := e.record("posts", flow.Record{"title": "p"})
	requireError(t, e.post("/api/posts:update?filterByTk="+keyOf(p), "tok-a", `{"content": "\u0000"}`), 400, `"content"`)
	requireError(t, e.do(http.MethodGet, "/api/posts:list?filter="+url.QueryEscape(`{"title": "p\u0000"}`), "tok-a", nil), 400, `"title"`)
	require.Len(t, e.records("posts", nil), 1)
	require.Empty(t, e.records("categories", nil))
	require.Equal(t, "p", e.records("posts", nil)[0]["title"])
}

// Integers are decoded exactly: 2^53+1 and the largest int64 are stored and
// answered as sent, and found by a filter; beyond int64 is a 400 naming the
// field rather than a silently rounded value.
func TestIntegersDecodedExactly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, n := range []string{"9007199254740993", "9223372036854775807", "-9223372036854775808"} {
		r := e.post("/api/posts:create", "tok-a", `{"title": "`+n+`", "read": `+n+`}`)
		require.Equal(t, 200, r.code, r.raw)
		require.Contains(t, r.raw, `"read":`+n, "answered as sent")
		got := e.records("posts", storage.Filter{"title": n})
		require.Len(t, got, 1)
		require.Equal(t, n, fmt.Sprint(got[0]["read"]), "stored as sent")
		r = e.do(http.MethodGet, "/api/posts:list?filter="+url.QueryEscape(`{"read": `+n+`}`), "tok-a", nil)
		require.Equal(t, 200, r.code, r.raw)
		require.Len(t, r.body["data"], 1, "the filter finds %s exactly", n)
	}
	r := e.do(http.MethodGet, "/api/posts:list?filter="+url.QueryEscape(`{"read": 9007199254740992}`), "tok-a", nil)
	require.Equal(t, 200, r.code, r.raw)
	require.Empty(t, r.body["data"], "2^53 is not 2^53+1")
	requireError(t, e.post("/api/posts:create", "tok-a", `{"title": "x", "read": 9223372036854775808}`), 400, `"read"`, "64-bit")
	r = e.post("/api/posts:create", "tok-a", `{"title": "f", "score": 1.5}`)
	require.Equal(t, 200, r.code, r.raw)
	require.InDelta(t, 1.5, num(t, r.data()["score"]), 0)
}
