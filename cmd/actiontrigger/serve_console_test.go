package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/console"
)

// serve mounts the console at /ui/, behind the tokens and roles of its
// config: the manager signs in with the printed token, finds the claim the
// member filed through the API in the inbox and approves it there; admin
// pages need an admin role, as the API's routes do.
func TestServeMountsTheConsole(t *testing.T) {
	base, out := startServe(t, io.Discard, "--log-level", "error")
	require.Contains(t, out.String(), "console: "+base+"/ui/")
	toks := userTokens(out.String())

	// A claim over 500 by mina waits for joon (the example's manager).
	req, err := http.NewRequest(http.MethodPost, base+"/api/expenses:create?triggerWorkflows=expense-review",
		strings.NewReader(`{"title": "Conference trip", "amount": 1850, "applicantId": 1, "status": "submitted"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+toks["mina"])
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)

	type browser struct{ c *http.Client }
	newBrowser := func() *browser {
		jar, err := cookiejar.New(nil)
		require.NoError(t, err)
		return &browser{&http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	}
	do := func(b *browser, method, path string, form url.Values) (int, http.Header, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, base+path, body)
		require.NoError(t, err)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		res, err := b.c.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.StatusCode, res.Header, string(raw)
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	signin := func(name, role string) *browser {
		t.Helper()
		b := newBrowser()
		code, h, body := do(b, "GET", "/ui/signin", nil)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, console.ContentSecurityPolicy, h.Get("Content-Security-Policy"))
		code, h, body = do(b, "POST", "/ui/signin", url.Values{"csrf": {csrf.FindStringSubmatch(body)[1]}, "token": {toks[name]}, "role": {role}})
		require.Equal(t, http.StatusSeeOther, code, body)
		require.Equal(t, "/ui/tasks", h.Get("Location"))
		return b
	}

	anon := newBrowser()
	code, h, _ := do(anon, "GET", "/ui/", nil)
	require.Equal(t, http.StatusSeeOther, code)
	require.Equal(t, "/ui/signin", h.Get("Location"))
	code, _, _ = do(anon, "GET", "/ui/tasks", nil)
	require.Equal(t, http.StatusSeeOther, code, "no session")

	joon := signin("joon", "")
	var taskPath string
	for end := time.Now().Add(10 * time.Second); taskPath == ""; time.Sleep(50 * time.Millisecond) {
		require.True(t, time.Now().Before(end), "no task in joon's inbox")
		code, _, body := do(joon, "GET", "/ui/tasks", nil)
		require.Equal(t, http.StatusOK, code)
		if m := regexp.MustCompile(`href="(/ui/tasks/[^"]+)">Approve Conference trip`).FindStringSubmatch(body); m != nil {
			taskPath = m[1]
		}
	}
	code, _, body := do(joon, "GET", taskPath, nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "mina")
	require.NotContains(t, body, "secret", "the applicant's hidden password")
	code, _, body = do(joon, "POST", taskPath, url.Values{"csrf": {csrf.FindStringSubmatch(body)[1]}, "act": {"0:approve"}})
	require.Equal(t, http.StatusSeeOther, code, body)

	// joon acts as manager by default: no admin pages.
	code, _, _ = do(joon, "GET", "/ui/executions", nil)
	require.Equal(t, http.StatusForbidden, code)
	mina := signin("mina", "")
	code, _, _ = do(mina, "GET", "/ui/workflows", nil)
	require.Equal(t, http.StatusForbidden, code)

	admin := signin("joon", "admin")
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		code, _, body := do(admin, "GET", "/ui/executions?key=expense-review", nil)
		require.Equal(t, http.StatusOK, code)
		if strings.Contains(body, "RESOLVED") {
			break
		}
		require.True(t, time.Now().Before(end), "the approved execution did not resolve:\n%s", body)
	}
	code, _, body = do(admin, "GET", "/ui/workflows/expense-review", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "<svg")
}
