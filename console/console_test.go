package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/console"
	"github.com/actiontrigger/actiontrigger/flow"
)

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.signin("tok-root", "")
	x := e.failedExecution()
	for _, path := range []string{"signin", "tasks", "workflows", "workflows/review", "executions", execPath(x), "static/style.css", "static/icon.svg", "nope"} {
		r := c.get(path)
		require.Equal(t, console.ContentSecurityPolicy, r.header.Get("Content-Security-Policy"), path)
		require.Contains(t, r.header.Get("Content-Security-Policy"), "default-src 'none'", path)
		require.NotContains(t, r.header.Get("Content-Security-Policy"), "script-src", path)
		require.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"), path)
		require.Equal(t, "same-origin", r.header.Get("Referrer-Policy"), path)
		require.NotContains(t, r.body, "<script", path)
	}
	require.Equal(t, http.StatusNotFound, c.get("nope").code)
	css := c.get("static/style.css")
	require.Equal(t, http.StatusOK, css.code)
	require.Contains(t, css.header.Get("Content-Type"), "text/css")
}

func TestSigninSetsAStrictHttpOnlyCookie(t *testing.T) {
	for _, tls := range []bool{false, true} {
		e := newEnv(t, envOptions{tls: tls})
		c := e.anon()
		r := c.postSignin("tok-ana", "")
		mustStatus(t, r, http.StatusSeeOther, "sign in")
		var session *http.Cookie
		for _, ck := range r.cookie {
			if ck.Name == "at_session" {
				session = ck
			}
		}
		require.NotNil(t, session, "no session cookie in %v", r.cookie)
		require.True(t, session.HttpOnly)
		require.Equal(t, http.SameSiteStrictMode, session.SameSite)
		require.Equal(t, "/actiontrigger/", session.Path)
		require.Equal(t, tls, session.Secure, "Secure exactly when the request came over TLS")
		require.NotContains(t, session.Value, "tok-ana", "the token is encoded, not sent as typed")

		page := c.get("tasks")
		mustStatus(t, page, http.StatusOK, "inbox after sign in")
		require.Contains(t, page.body, "ana")
		require.Contains(t, page.body, "member")
	}
}

func TestSigninRefusals(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.anon()
	r := c.postSignin("tok-nobody", "")
	mustStatus(t, r, http.StatusUnauthorized, "unknown token")
	require.Contains(t, r.body, "This token does not sign in.")

	r = c.postSignin("tok-ana", "root")
	mustStatus(t, r, http.StatusForbidden, "a role the user does not have")
	require.Contains(t, r.body, "You do not have the role root.")

	// The sign-in form's token is bound to the nonce cookie the form's page set.
	r = c.post("signin", url.Values{"token": {"tok-ana"}, "csrf": {"forged"}})
	mustStatus(t, r, http.StatusForbidden, "sign in without the form's token")
	other := e.anon()
	page := other.get("signin")
	r = c.post("signin", url.Values{"token": {"tok-ana"}, "csrf": {csrfOf(t, page.body)}})
	mustStatus(t, r, http.StatusForbidden, "another browser's sign-in token")
	for _, ck := range r.cookie {
		require.NotEqual(t, "at_session", ck.Name, "no session on a refused sign in")
	}

	// next only ever leads inside the console.
	page = c.get("signin?next=" + url.QueryEscape("https://evil.example/x"))
	require.NotContains(t, page.body, "evil.example")
	page = c.get("signin?next=" + url.QueryEscape("//evil.example/x"))
	require.NotContains(t, page.body, "evil.example")
}

func TestAnonymousRequests(t *testing.T) {
	e := newEnv(t, envOptions{})
	task, x := e.pendingTask("Trip")
	c := e.anon()
	r := c.get(taskPath(task))
	mustStatus(t, r, http.StatusSeeOther, "a page without a session")
	loc, err := url.Parse(r.header.Get("Location"))
	require.NoError(t, err)
	require.Equal(t, "/actiontrigger/signin", loc.Path)
	require.Equal(t, "/actiontrigger/"+taskPath(task), loc.Query().Get("next"))

	// Signing in from there comes back to the page.
	page := c.get(strings.TrimPrefix(r.header.Get("Location"), "/actiontrigger/"))
	r = c.post("signin", url.Values{"csrf": {csrfOf(t, page.body)}, "token": {"tok-ana"}, "next": {loc.Query().Get("next")}})
	mustStatus(t, r, http.StatusSeeOther, "sign in")
	require.Equal(t, "/actiontrigger/"+taskPath(task), r.header.Get("Location"))

	// A bearer token or a token parameter does not sign the console in: only
	// its cookie does (its forms' CSRF tokens are bound to it).
	a := e.anon()
	req, _ := http.NewRequest("GET", e.url+"executions", nil)
	req.Header.Set("Authorization", "Bearer tok-root")
	mustStatus(t, a.do(req), http.StatusSeeOther, "bearer header")
	mustStatus(t, a.get("executions?token=tok-root"), http.StatusSeeOther, "token parameter")

	// A POST without a session is refused and changes nothing.
	r = a.post(execPath(x)+"/cancel", url.Values{"csrf": {"x"}})
	mustStatus(t, r, http.StatusUnauthorized, "cancel without a session")
	got, err := e.eng.Execution(context.Background(), x.ID)
	require.NoError(t, err)
	require.Equal(t, flow.ExecutionStarted, got.Status)

	// A session whose token no longer signs in is cleared.
	bad := e.anon()
	u, _ := url.Parse(e.url)
	bad.http.Jar.SetCookies(u, []*http.Cookie{{Name: "at_session", Value: "dG9rLWdvbmU", Path: "/actiontrigger/"}})
	r = bad.get("tasks")
	mustStatus(t, r, http.StatusSeeOther, "stale session")
	require.Contains(t, r.header.Get("Location"), "why=expired")
}

func TestCSRFRefusals(t *testing.T) {
	e := newEnv(t, envOptions{})
	task, _ := e.pendingTask("Trip")
	ana := e.signin("tok-ana", "")
	ben := e.signin("tok-ben", "")
	require.NotEqual(t, ana.csrf, ben.csrf, "tokens are per session")

	for name, form := range map[string]url.Values{
		"no token":              {"act": {"0:approve"}},
		"a wrong token":         {"act": {"0:approve"}, "csrf": {"AAAA"}},
		"another session's one": {"act": {"0:approve"}, "csrf": {ben.csrf}},
	} {
		r := ana.post(taskPath(task), form)
		mustStatus(t, r, http.StatusForbidden, name)
		require.Contains(t, r.body, "This form has expired")
	}
	// A browser's cross-site POST is refused even with the right token.
	req, _ := http.NewRequest("POST", e.url+taskPath(task), strings.NewReader(ana.form("act", "0:approve").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	mustStatus(t, ana.do(req), http.StatusForbidden, "cross-site")

	// Sign out needs the token too.
	mustStatus(t, ana.post("signout", url.Values{}), http.StatusForbidden, "sign out without a token")

	got, err := e.eng.Store().GetTask(context.Background(), task.ID)
	require.NoError(t, err)
	require.Equal(t, flow.TaskPending, got.Status, "no refused POST decided the task")

	// GET never changes state: a GET on an action path is not an action.
	r := ana.get(taskPath(task) + "?act=0:approve&csrf=" + url.QueryEscape(ana.csrf))
	mustStatus(t, r, http.StatusOK, "GET with action parameters")
	got, err = e.eng.Store().GetTask(context.Background(), task.ID)
	require.NoError(t, err)
	require.Equal(t, flow.TaskPending, got.Status)

	// With the token it goes through.
	r = ana.post(taskPath(task), ana.form("act", "0:approve"))
	mustStatus(t, r, http.StatusSeeOther, "approve")
}

func TestMembersGet403OnAdminPagesAndActions(t *testing.T) {
	e := newEnv(t, envOptions{})
	task, paused := e.pendingTask("Trip")
	failed := e.failedExecution()
	ana := e.signin("tok-ana", "")
	maxAsManager := e.signin("tok-max", "") // manager first: not an admin role

	for _, c := range []*client{ana, maxAsManager} {
		inbox := c.get("tasks")
		require.NotContains(t, inbox.body, `href="/actiontrigger/workflows"`, "no admin links for members")
		for _, path := range []string{"workflows", "workflows/review", "executions", execPath(failed), execPath(paused)} {
			r := c.get(path)
			mustStatus(t, r, http.StatusForbidden, path)
			require.Contains(t, r.body, "admin roles only")
			require.NotContains(t, r.body, failMessage, path)
		}
		for _, path := range []string{execPath(failed) + "/retry", execPath(paused) + "/cancel", "workflows/charge/retry"} {
			mustStatus(t, c.post(path, c.form()), http.StatusForbidden, path)
		}
	}
	got, err := e.eng.Execution(context.Background(), paused.ID)
	require.NoError(t, err)
	require.Equal(t, flow.ExecutionStarted, got.Status, "not canceled")
	got, err = e.eng.Execution(context.Background(), failed.ID)
	require.NoError(t, err)
	require.Equal(t, flow.ExecutionError, got.Status, "not retried")

	// Another member cannot open ana's task, and sees nothing of its record.
	ben := e.signin("tok-ben", "")
	r := ben.get(taskPath(task))
	mustStatus(t, r, http.StatusForbidden, "another user's task")
	require.NotContains(t, r.body, "Trip")
	mustStatus(t, ben.post(taskPath(task), ben.form("act", "0:approve")), http.StatusForbidden, "deciding another user's task")

	// The same user under an admin role may.
	maxAsAdmin := e.signin("tok-max", "admin")
	for _, path := range []string{"workflows", "workflows/review", "executions", execPath(failed)} {
		mustStatus(t, maxAsAdmin.get(path), http.StatusOK, path)
	}
	inbox := maxAsAdmin.get("tasks")
	require.Contains(t, inbox.body, `href="/actiontrigger/workflows"`)

	// An admin reads another user's task but is not offered its forms, and a
	// forged submission is the engine's ErrForbidden, shown inline.
	root := e.signin("tok-root", "")
	r = root.get(taskPath(task))
	mustStatus(t, r, http.StatusOK, "admin reads a task")
	require.Contains(t, r.body, "you may read it, not decide it")
	require.NotContains(t, r.body, `name="act"`)
	r = root.post(taskPath(task), root.form("act", "0:approve"))
	mustStatus(t, r, http.StatusForbidden, "admin decides another user's task")
	require.Contains(t, r.body, `id="error"`)
	require.Contains(t, r.body, "You are not an assignee of this task")
}

func TestHiddenFieldsNeverShown(t *testing.T) {
	e := newEnv(t, envOptions{})
	task, x := e.pendingTask("Trip")
	ana := e.signin("tok-ana", "")
	page := ana.get(taskPath(task))
	mustStatus(t, page, http.StatusOK, "task")
	require.Contains(t, page.body, "1850.5", "the record is shown")
	require.NotContains(t, page.body, "secret", "the hidden field's name is not shown either")
	requireNoLeak(t, page.body, "task page (member)")
	require.NotContains(t, page.body, "applicant</dt>", "members have no grant on users: the appended applicant goes, as in the API")
	require.NotContains(t, page.body, `name="f1.hush"`, "a create form asks for no hidden field")
	require.Contains(t, page.body, `name="f1.note"`)

	root := e.signin("tok-root", "")
	for _, path := range []string{taskPath(task), execPath(x)} {
		r := root.get(path)
		mustStatus(t, r, http.StatusOK, path)
		requireNoLeak(t, r.body, path+" (admin)")
		require.Contains(t, r.body, "applicant</dt>", "admin roles see the appended applicant, %s", path)
		require.Contains(t, r.body, "&#34;nickname&#34;: &#34;ana&#34;", path)
	}
}

func TestEverythingIsEscaped(t *testing.T) {
	e := newEnv(t, envOptions{title: "Review " + evil})
	task, x := e.pendingTask("Trip " + evil)
	root := e.signin("tok-root", "")
	ana := e.signin("tok-ana", "")
	pages := map[string]resp{
		"inbox":     ana.get("tasks"),
		"task":      ana.get(taskPath(task)),
		"workflows": root.get("workflows"),
		"workflow":  root.get("workflows/review"),
		"list":      root.get("executions?key=review"),
		"execution": root.get(execPath(x)),
	}
	for name, r := range pages {
		mustStatus(t, r, http.StatusOK, name)
		requireNoLeak(t, r.body, name)
	}
	require.Contains(t, pages["task"].body, "Approve Trip &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&#34;&#39;&amp;", "the task title")
	require.Contains(t, pages["inbox"].body, "Approve Trip &lt;script&gt;")
	require.Contains(t, pages["workflows"].body, "Review &lt;script&gt;")
	require.Contains(t, pages["execution"].body, "Trip &lt;script&gt;", "record values")
	require.Contains(t, pages["workflow"].body, "<svg", "the diagram is inline")

	// A submitted value comes back escaped in the decision and in the form.
	r := ana.post(taskPath(task), ana.form("act", "0:draft", "f0.comment", evil))
	mustStatus(t, r, http.StatusSeeOther, "save a draft")
	r = ana.get(taskPath(task))
	requireNoLeak(t, r.body, "draft")
	require.Contains(t, r.body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&#34;&#39;&amp;</textarea>")
}

func TestDecideATask(t *testing.T) {
	e := newEnv(t, envOptions{})
	task, x := e.pendingTask("Trip")
	ana := e.signin("tok-ana", "")

	inbox := ana.get("tasks")
	require.Contains(t, inbox.body, "Approve Trip")
	require.Contains(t, inbox.body, `href="/actiontrigger/`+taskPath(task)+`"`)

	page := ana.get(taskPath(task))
	for _, s := range []string{`value="0:approve"`, `value="0:reject"`, `value="0:draft"`, `value="1:file"`, "File a review", `name="f0.comment"`, `name="f1.score"`, `type="number" step="1"`} {
		require.Contains(t, page.body, s)
	}

	// Saving a draft keeps the task pending and fills the form again.
	r := ana.post(taskPath(task), ana.form("act", "0:draft", "f0.comment", "looks fine"))
	mustStatus(t, r, http.StatusSeeOther, "draft")
	page = ana.get(taskPath(task))
	require.Contains(t, page.body, "looks fine</textarea>")
	require.Contains(t, page.body, `id="task-status">PENDING`)

	// A value the field's type refuses is shown inline; nothing is decided.
	r = ana.post(taskPath(task), ana.form("act", "1:file", "f1.score", "many", "f1.note", "kept"))
	mustStatus(t, r, http.StatusBadRequest, "bad number")
	require.Contains(t, r.body, "score: not a whole number")
	require.Contains(t, r.body, "kept</textarea>", "the posted values are kept")
	// An action the form does not have is the engine's ErrInvalidSubmission.
	r = ana.post(taskPath(task), ana.form("act", "0:file"))
	mustStatus(t, r, http.StatusBadRequest, "unknown action")
	require.Contains(t, r.body, "The submission was refused")

	// Filing the review decides the task; the execution resumes to RESOLVED.
	r = ana.post(taskPath(task), ana.form("act", "1:file", "f1.score", "4", "f1.ok", "true", "f1.note", "good"))
	mustStatus(t, r, http.StatusSeeOther, "file")
	require.Equal(t, "/actiontrigger/"+taskPath(task)+"?submitted=1", r.header.Get("Location"))
	e.waitStatus(x.ID, flow.ExecutionResolved)
	page = ana.get(taskPath(task) + "?submitted=1")
	require.Contains(t, page.body, "Your decision was recorded.")
	require.Contains(t, page.body, `id="task-status">RESOLVED`)
	require.Contains(t, page.body, `id="execution-status">RESOLVED`)
	require.NotContains(t, page.body, `name="act"`, "a decided task has no forms")
	require.Contains(t, page.body, "<dt>action</dt><dd>file</dd>", "the decision shows its action")
	reviews, err := e.eng.Records().ListRecords(context.Background(), "reviews", nil, nil)
	require.NoError(t, err)
	require.Len(t, reviews, 1)
	require.EqualValues(t, 4, reviews[0]["score"])
	require.Equal(t, true, reviews[0]["ok"])

	// Deciding again is refused inline (ErrInvalidSubmission).
	r = ana.post(taskPath(task), ana.form("act", "0:approve"))
	mustStatus(t, r, http.StatusBadRequest, "decide twice")
	require.Contains(t, r.body, "The submission was refused")
	require.Contains(t, r.body, "no longer waiting")

	done := ana.get("tasks?show=done")
	require.Contains(t, done.body, "Approve Trip")
	require.NotContains(t, ana.get("tasks").body, "Approve Trip")
}

func TestAdminRetryAndCancel(t *testing.T) {
	e := newEnv(t, envOptions{})
	failed := e.failedExecution()
	_, paused := e.pendingTask("Trip")
	root := e.signin("tok-root", "")

	page := root.get(execPath(failed))
	mustStatus(t, page, http.StatusOK, "failed execution")
	require.Contains(t, page.body, `id="failure"`)
	require.Contains(t, page.body, failMessage)
	require.Contains(t, page.body, `class="node failed`, "the path is marked on the diagram")
	require.Contains(t, page.body, `action="/actiontrigger/`+execPath(failed)+`/retry"`)
	require.NotContains(t, page.body, `/cancel"`, "an ended execution cannot be canceled")

	r := root.post(execPath(failed)+"/retry", root.form())
	mustStatus(t, r, http.StatusSeeOther, "retry")
	require.Equal(t, "/actiontrigger/"+execPath(failed)+"?done=retried", r.header.Get("Location"))
	e.idle()
	e.waitStatus(failed.ID, flow.ExecutionError)
	jobs, err := e.eng.Jobs(context.Background(), failed.ID)
	require.NoError(t, err)
	require.Len(t, jobs[0].Attempts, 2, "it ran again")
	require.True(t, jobs[0].Attempts[0].Retried)
	page = root.get(execPath(failed) + "?done=retried")
	require.Contains(t, page.body, "queued to run again")
	require.Contains(t, page.body, "then retried", "the attempts are listed")

	// Retrying one that ended by a decision is refused inline.
	r = root.post(execPath(paused)+"/retry", root.form())
	mustStatus(t, r, http.StatusBadRequest, "retry a paused execution")
	require.Contains(t, r.body, "Retry refused")

	page = root.get(execPath(paused))
	require.Contains(t, page.body, `class="node pending`)
	r = root.post(execPath(paused)+"/cancel", root.form())
	mustStatus(t, r, http.StatusSeeOther, "cancel")
	got, err := e.eng.Execution(context.Background(), paused.ID)
	require.NoError(t, err)
	require.Equal(t, flow.ExecutionAborted, got.Status)
	require.Equal(t, flow.ReasonManualCancel, got.Reason)

	// Retry every failed execution of a workflow.
	e.failedExecution()
	r = root.post("workflows/charge/retry", root.form("status", "-2"))
	mustStatus(t, r, http.StatusSeeOther, "retry all")
	require.Equal(t, "/actiontrigger/workflows/charge?retried=2", r.header.Get("Location"))
	e.idle()
	page = root.get("workflows/charge?retried=2")
	require.Contains(t, page.body, "2 failed execution(s) queued")
}

func TestSnoozedJobShowsItsSnoozes(t *testing.T) {
	e := newEnv(t, envOptions{})
	x := e.claim("later", "Gateway")
	deadline := time.Now().Add(10 * time.Second)
	for {
		jobs, err := e.eng.Jobs(context.Background(), x.ID)
		require.NoError(t, err)
		if len(jobs) == 1 && jobs[0].Snoozes == 1 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the node did not snooze")
		time.Sleep(20 * time.Millisecond)
	}
	root := e.signin("tok-root", "")
	page := root.get(execPath(x))
	mustStatus(t, page, http.StatusOK, "snoozed execution")
	require.Contains(t, page.body, "snoozes 1")
	require.Contains(t, page.body, "RETRY_NEEDED")
	require.Contains(t, page.body, `id="cancel"`, "a waiting execution can be canceled")
	require.NotContains(t, page.body, `id="retry"`)
}

func TestWorkflowPages(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.failedExecution()
	ctx := context.Background()
	_, err := e.eng.Revise(ctx, "charge")
	require.NoError(t, err)
	root := e.signin("tok-root", "")
	list := root.get("workflows")
	mustStatus(t, list, http.StatusOK, "workflows")
	require.Contains(t, list.body, "Charge the card")
	require.Contains(t, list.body, "Review big claims")

	page := root.get("workflows/charge")
	mustStatus(t, page, http.StatusOK, "workflow")
	require.Equal(t, 2, strings.Count(page.body, "<svg"), "one diagram per version")
	require.Contains(t, page.body, "Version 2")
	require.Contains(t, page.body, "Version 1")
	require.Contains(t, page.body, "1 executions")
	require.Contains(t, page.body, `<span class="badge">disabled</span>`)
	mustStatus(t, root.get("workflows/nope"), http.StatusNotFound, "unknown workflow")
}

func TestExecutionListFiltersAndPages(t *testing.T) {
	e := newEnv(t, envOptions{pageSize: 2})
	var failed []*flow.Execution
	for range 3 {
		failed = append(failed, e.failedExecution())
	}
	_, paused := e.pendingTask("Trip")
	root := e.signin("tok-root", "")

	r := root.get("executions")
	mustStatus(t, r, http.StatusOK, "list")
	require.Contains(t, r.body, shortID(paused.ID), "newest first")
	require.Contains(t, r.body, shortID(failed[2].ID))
	require.NotContains(t, r.body, shortID(failed[0].ID))
	require.Contains(t, r.body, `href="/actiontrigger/executions?page=2"`)
	r = root.get("executions?page=2")
	require.Contains(t, r.body, shortID(failed[1].ID))
	require.Contains(t, r.body, shortID(failed[0].ID))
	require.NotContains(t, r.body, `rel="next"`)

	r = root.get("executions?key=review")
	require.Contains(t, r.body, shortID(paused.ID))
	require.NotContains(t, r.body, shortID(failed[2].ID))
	r = root.get("executions?status=-2&key=charge")
	require.Contains(t, r.body, `href="/actiontrigger/executions?key=charge&amp;page=2&amp;status=-2"`, "the pager keeps the filter")
	require.NotContains(t, r.body, shortID(paused.ID))

	future := time.Now().UTC().Add(time.Hour).Format("2006-01-02T15:04")
	past := time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04")
	r = root.get("executions?from=" + future)
	require.Contains(t, r.body, "No execution matches.")
	r = root.get("executions?from=" + past + "&to=" + future + "&key=review")
	require.Contains(t, r.body, shortID(paused.ID))
	r = root.get("executions?to=" + past)
	require.Contains(t, r.body, "No execution matches.")

	r = root.get("executions?from=yesterday")
	mustStatus(t, r, http.StatusBadRequest, "bad time")
	require.Contains(t, r.body, "want a date and time")
	mustStatus(t, root.get("executions?from="+future+"&to="+past), http.StatusBadRequest, "empty range")
	mustStatus(t, root.get("executions?page=0"), http.StatusBadRequest, "bad page")
}

func TestMountedUnderAnyPrefix(t *testing.T) {
	for _, o := range []envOptions{
		{prefix: "/"},
		{prefix: "/ops/console/"},
		{prefix: "/ops/console/", strip: true},
	} {
		e := newEnv(t, o)
		task, _ := e.pendingTask("Trip")
		ana := e.signin("tok-ana", "")
		r := ana.get(taskPath(task))
		mustStatus(t, r, http.StatusOK, o.prefix)
		require.Contains(t, r.body, `href="`+o.prefix+`static/style.css"`)
		require.Contains(t, r.body, `action="`+o.prefix+taskPath(task)+`"`)
		mustStatus(t, ana.post(taskPath(task), ana.form("act", "0:approve")), http.StatusSeeOther, o.prefix)
	}
}

func TestSignOut(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.signin("tok-ana", "")
	r := c.post("signout", c.form())
	mustStatus(t, r, http.StatusSeeOther, "sign out")
	require.Contains(t, r.header.Get("Location"), "signin?why=signedout")
	mustStatus(t, c.get("tasks"), http.StatusSeeOther, "signed out")
}

func TestNewNeedsEngineAndAPI(t *testing.T) {
	_, err := console.New(nil, nil, console.Options{})
	require.Error(t, err)
	e := newEnv(t, envOptions{})
	_, err = console.New(e.eng, nil, console.Options{})
	require.Error(t, err)
}

func shortID(id string) string { return id[len(id)-8:] }
