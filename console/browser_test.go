package console_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
)

// go test ./console -run TestBrowser -screenshots ../docs/console
var screenshots = flag.String("screenshots", "", "write PNG screenshots of the console's main pages to this folder")

// chromium returns the browser the tests drive: $CHROMIUM if set, else
// Debian's /usr/bin/chromium. Without one the test skips, except in CI (CI=true),
// where it fails: CI must run the browser tests.
func chromium(t *testing.T) string {
	t.Helper()
	p := "/usr/bin/chromium"
	if env := os.Getenv("CHROMIUM"); env != "" {
		p = env
	}
	if st, err := os.Stat(p); err == nil && !st.IsDir() {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("chromium is missing (%s): CI runs the console's browser tests; install it with apt-get install -y chromium", p)
	}
	t.Skipf("skipping the browser tests: no chromium at %s (apt-get install -y chromium, or set $CHROMIUM)", p)
	return ""
}

// browser starts a headless Chromium with a fresh profile and returns a tab
// whose viewport is width x height.
func browser(t *testing.T, width, height int) context.Context {
	t.Helper()
	exe := chromium(t)
	profile, err := os.MkdirTemp("", "console-chromium-")
	require.NoError(t, err)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.WindowSize(width, height),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
		_ = os.RemoveAll(profile)
	})
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))))
	return ctx
}

// shot writes a full-page PNG of the current page as name.png when
// -screenshots names a folder.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if *screenshots == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(*screenshots, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(*screenshots, name+".png"), png, 0o644))
}

// signinIn signs in through the sign-in form, starting from path (the
// console redirects there and back).
func signinIn(t *testing.T, ctx context.Context, e *env, path, token, role string) {
	t.Helper()
	actions := []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(e.url + path),
		chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="token"]`), token),
	}
	if role != "" {
		actions = append(actions, chromedp.SendKeys(chromedp.CSS(`input[name="role"]`), role))
	}
	actions = append(actions, chromedp.Click(chromedp.CSS(`form button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS(`.who`)))
	require.NoError(t, chromedp.Do(ctx, actions...))
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	require.NoError(t, err)
	return strings.TrimSpace(s)
}

func TestBrowserApproveAndInspect(t *testing.T) {
	ctx := browser(t, 1100, 640)
	e := newEnv(t, envOptions{})
	_, x := e.pendingTask("Conference trip")
	e.pendingTask("Team dinner")
	failed := e.failedExecution()

	// Sign in from the inbox's address: the sign-in page brings us back.
	signinIn(t, ctx, e, "tasks", "tok-ana", "")
	loc, err := chromedp.Run(ctx, chromedp.Location())
	require.NoError(t, err)
	require.Equal(t, e.url+"tasks", loc)
	require.Contains(t, text(t, ctx, "#tasks"), "Approve Conference trip")
	require.Contains(t, text(t, ctx, "#tasks"), "Approve Team dinner")
	// The style sheet loaded under the Content-Security-Policy.
	bg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("header.top")).backgroundColor`))
	require.NoError(t, err)
	require.Equal(t, "rgb(30, 58, 95)", bg)
	shot(t, ctx, "inbox")

	// Open the task, approve it with a comment.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.Search(`//a[contains(., "Approve Conference trip")]`)),
		chromedp.WaitVisible(chromedp.CSS(`#task-title`)),
	))
	require.Equal(t, "Approve Conference trip", text(t, ctx, "#task-title"))
	require.Contains(t, text(t, ctx, "#record"), "1850.5")
	require.Equal(t, "PENDING", text(t, ctx, "#task-status"))
	require.NoError(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`textarea[name="f0.comment"]`), "Within the travel budget.")))
	shot(t, ctx, "task")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[value="0:approve"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash`)),
	))
	require.Equal(t, "RESOLVED", text(t, ctx, "#task-status"))

	// The execution resumes on the engine's workers: reload until RESOLVED.
	deadline := time.Now().Add(20 * time.Second)
	for text(t, ctx, "#execution-status") != flow.ExecutionResolved.String() {
		require.True(t, time.Now().Before(deadline), "the execution did not resume to RESOLVED")
		time.Sleep(100 * time.Millisecond)
		require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#execution-status`))))
	}
	require.Contains(t, text(t, ctx, "#decision"), "Within the travel budget.")
	e.waitStatus(x.ID, flow.ExecutionResolved)

	// Sign out; sign in as an admin and open the failed execution.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`.who button`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`)),
	))
	signinIn(t, ctx, e, "executions", "tok-root", "")
	require.Contains(t, text(t, ctx, "#executions"), "ERROR")
	require.Contains(t, text(t, ctx, "#executions"), "RESOLVED")
	shot(t, ctx, "executions")

	// The approved execution's page: RESOLVED, its path marked green.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(e.url+execPath(x)),
		chromedp.WaitVisible(chromedp.CSS(`#jobs`)),
	))
	require.Equal(t, "RESOLVED", text(t, ctx, "#execution-status"))
	resolvedNodes, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".diagram g.node.resolved").length`))
	require.NoError(t, err)
	require.Equal(t, 3, resolvedNodes, "condition, approval and booking ran")
	shot(t, ctx, "execution")
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(e.url+"executions"), chromedp.WaitVisible(chromedp.CSS(`#executions`))))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.Search(`//a[contains(., "`+shortID(failed.ID)+`")]`)),
		chromedp.WaitVisible(chromedp.CSS(`#failure`)),
	))
	require.Contains(t, text(t, ctx, "#failure"), failMessage)
	require.Equal(t, "ERROR", text(t, ctx, "#execution-status"))
	require.Contains(t, text(t, ctx, "#jobs"), failMessage)
	failedNodes, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".diagram g.node.failed").length`))
	require.NoError(t, err)
	require.Equal(t, 1, failedNodes, "the failed node is marked on the diagram")
	shot(t, ctx, "execution-failed")

	// Retry it from the page: it runs again and fails again, with two attempts.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#retry button`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash`)),
	))
	e.idle()
	e.waitStatus(failed.ID, flow.ExecutionError)

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(e.url+"workflows/review"),
		chromedp.WaitVisible(chromedp.CSS(`.diagram svg`)),
	))
	shot(t, ctx, "workflow")
}

func TestBrowserPhoneWidth(t *testing.T) {
	const width = 390
	ctx := browser(t, width, 844)
	e := newEnv(t, envOptions{})
	task, _ := e.pendingTask("Conference trip to the annual engineering summit in Lisbon, with a very long title that has to wrap")
	signinIn(t, ctx, e, "tasks", "tok-ana", "")

	scrollWidth := func(what string) {
		t.Helper()
		sw, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
		require.NoError(t, err)
		iw, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.innerWidth`))
		require.NoError(t, err)
		require.Equal(t, width, iw, "the viewport is %d px wide", width)
		require.LessOrEqual(t, sw, width, "%s scrolls horizontally at %d px", what, width)
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#tasks`))))
	scrollWidth("the inbox")
	shot(t, ctx, "inbox-phone")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(e.url+taskPath(task)),
		chromedp.WaitVisible(chromedp.CSS(`#task-title`)),
	))
	scrollWidth("the task page")
	shot(t, ctx, "task-phone")

	// The task is decided elsewhere meanwhile: the stale form's submission
	// is refused inline, and the page still fits.
	_, err := e.eng.SubmitTask(context.Background(), task.ID, actiontrigger.User{ID: int64(2)}, map[string]any{"decision": map[string]any{}, "_": "approve"})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`textarea[name="f0.comment"]`), strings.Repeat("unbroken", 40)),
		chromedp.Click(chromedp.CSS(`button[value="0:reject"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#error`)),
	))
	require.Contains(t, text(t, ctx, "#error"), "no longer waiting")
	scrollWidth("the task page with an error")
}
