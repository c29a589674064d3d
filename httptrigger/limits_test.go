package httptrigger_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/httptrigger"
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
