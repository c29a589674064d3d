package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/storage/sqlstore"
)

// The product document's "external call" section, driven over real HTTP: the
// serve binary on a SQLite file and a --config folder, called with curl exactly
// as the document writes it (create with triggerWorkflows=key and with
// key!category), then the executions read back through the API.
func TestServeProductDocumentCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("curl is not installed; the serve test drives the server with it")
		}
		t.Skip("curl is not installed")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "actiontrigger")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run(), "go build")

	cfg := filepath.Join(dir, "config")
	require.NoError(t, os.MkdirAll(filepath.Join(cfg, "workflows"), 0o755))
	write := func(name, body string) {
		require.NoError(t, os.WriteFile(filepath.Join(cfg, name), []byte(body), 0o644))
	}
	write("collections.json", `[
	  {"name": "users", "fields": [{"name": "id", "type": "integer"}, {"name": "nickname", "type": "string"},
	    {"name": "password", "type": "string", "hidden": true}]},
	  {"name": "categories", "fields": [{"name": "id", "type": "integer"}, {"name": "title", "type": "string"}]},
	  {"name": "posts", "fields": [{"name": "id", "type": "integer"}, {"name": "title", "type": "string"},
	    {"name": "content", "type": "text"},
	    {"name": "category", "type": "belongsTo", "target": "categories", "foreignKey": "categoryId"},
	    {"name": "categoryId", "type": "integer"}]}
	]`)
	write("users.json", `[
	  {"roles": ["author"], "record": {"id": 2, "nickname": "ana", "password": "secret"}},
	  {"token": "root-token", "roles": ["root"], "record": {"id": 1, "nickname": "root"}}
	]`)
	write("grants.json", `[
	  {"role": "author", "collection": "posts", "actions": ["create", "view"]},
	  {"role": "author", "collection": "categories", "actions": ["create"]}
	]`)
	write("workflows/post.json", `{"key": "post-published", "title": "A post was published", "enabled": true,
	  "config": {"collection": "posts"}}`)
	write("workflows.json", `[{"key": "category-check", "title": "Check the post's category", "sync": true, "enabled": true,
	  "config": {"collection": "categories"},
	  "nodes": [{"key": "named", "type": "condition",
	    "config": {"engine": "expr", "expression": "$context.data.title != '' && $context.user.nickname == 'ana'", "rejectOnFalse": true}}]}]`)

	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--db", filepath.Join(dir, "serve.db"), "--config", cfg, "--log-level", "warn")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	exited := false
	t.Cleanup(func() {
		if !exited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var base, token string
	workflows := map[string]bool{}
	deadline := time.After(60 * time.Second)
	for token == "" || base == "" || len(workflows) < 2 {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "serve exited before it was ready")
			switch {
			case strings.HasPrefix(l, "listening on "):
				base = strings.Fields(l)[2]
			case strings.HasPrefix(l, "token: "):
				token = strings.TrimPrefix(l, "token: ")
			case strings.HasPrefix(l, "workflow "):
				workflows[strings.Fields(l)[1]] = true
			}
		case <-deadline:
			t.Fatal("serve did not print its address, token and workflows within 60s")
		}
	}
	require.True(t, workflows["post-published"] && workflows["category-check"], "workflow lines: %v", workflows)
	require.Len(t, token, 32, "a generated token")

	// curl -X POST -H 'Authorization: Bearer <your token>' -H 'X-Role: <roleName>' -d '{...}' "http://localhost:3000/api/posts:create?triggerWorkflows=workflowKey"
	run := func(args ...string) (int, map[string]any) {
		t.Helper()
		out, err := exec.Command(curl, append([]string{"-s", "-w", "\n%{http_code}"}, args...)...).Output()
		require.NoError(t, err, "curl %v", args)
		text := strings.TrimSpace(string(out))
		i := strings.LastIndexByte(text, '\n')
		body, code := strings.TrimSpace(text[:max(i, 0)]), text[i+1:]
		if body == "" {
			body = "{}"
		}
		status, err := strconv.Atoi(code)
		require.NoError(t, err, "curl output %q", out)
		var doc map[string]any
		require.NoError(t, json.Unmarshal([]byte(body), &doc), "body %q", body)
		return status, doc
	}
	status, doc := run("-X", "POST", "-H", "Authorization: Bearer "+token, "-H", "X-Role: author", "-d",
		`{
    "title": "Hello, world!",
    "content": "This is a test post."
  }`,
		base+"/api/posts:create?triggerWorkflows=post-published")
	require.Equal(t, 200, status, "%v", doc)
	post := doc["data"].(map[string]any)
	require.Equal(t, "Hello, world!", post["title"])

	status, doc = run("-X", "POST", "-H", "Authorization: Bearer "+token, "-H", "X-Role: author", "-d",
		`{
    "title": "Hello, world!",
    "content": "This is a test post.",
    "category": {
      "title": "Test category"
    }
  }`,
		base+"/api/posts:create?triggerWorkflows=category-check!category")
	require.Equal(t, 200, status, "%v", doc)
	require.NotNil(t, doc["data"].(map[string]any)["categoryId"], "the category was created with the post")

	// A role the user does not have is refused, and so is an unknown workflow.
	status, _ = run("-X", "POST", "-H", "Authorization: Bearer "+token, "-H", "X-Role: root", "-d", `{"title": "x"}`,
		base+"/api/posts:create?triggerWorkflows=post-published")
	require.Equal(t, 403, status)
	status, doc = run("-X", "POST", "-H", "Authorization: Bearer "+token, "-d", `{"title": "x"}`,
		base+"/api/posts:create?triggerWorkflows=no-such-workflow")
	require.Equal(t, 400, status)
	require.Contains(t, fmt.Sprint(doc["errors"]), "no-such-workflow")

	// The executions, read back through the API as root.
	list := func(key string) []any {
		t.Helper()
		filter := url.QueryEscape(fmt.Sprintf(`{"key": %q}`, key))
		status, doc := run("-H", "Authorization: Bearer root-token", base+"/api/executions:list?filter="+filter)
		require.Equal(t, 200, status, "%v", doc)
		return doc["data"].([]any)
	}
	sync := list("category-check")
	require.Len(t, sync, 1)
	x := sync[0].(map[string]any)
	require.EqualValues(t, 1, x["status"], "the sync execution resolved")
	require.Equal(t, "Test category", x["context"].(map[string]any)["data"].(map[string]any)["title"])
	require.Equal(t, "author", x["context"].(map[string]any)["roleName"])

	var async []any
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if async = list("post-published"); len(async) == 1 && async[0].(map[string]any)["status"] == float64(1) {
			break
		}
	}
	require.Len(t, async, 1)
	a := async[0].(map[string]any)
	require.EqualValues(t, 1, a["status"], "the async execution resolved: %v", a)
	require.Equal(t, post["id"], a["context"].(map[string]any)["data"].(map[string]any)["id"])
	_, hidden := a["context"].(map[string]any)["user"].(map[string]any)["password"]
	require.False(t, hidden, "the user's hidden password is not in the context")

	status, doc = run("-H", "Authorization: Bearer root-token", base+"/api/executions:get?appends=jobs&filterByTk="+a["id"].(string))
	require.Equal(t, 200, status, "%v", doc)
	require.Equal(t, a["id"], doc["data"].(map[string]any)["id"])

	// SIGTERM: a graceful stop.
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	var rest []string
	for l := range lines {
		rest = append(rest, l)
	}
	require.NoError(t, cmd.Wait(), "serve exits 0 after SIGTERM")
	exited = true
	require.Contains(t, rest, "stopped")
}

// syncBuffer is an io.Writer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Restarting serve on the same store with the same workflows changes nothing:
// no new versions, executions kept; the built-in example starts with no flags
// but --addr and --db.
func TestServeRestartKeepsWorkflowVersions(t *testing.T) {
	db := filepath.Join(t.TempDir(), "serve.db")
	start := func() (base, adminToken string, stop func()) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		out := &syncBuffer{}
		done := make(chan error, 1)
		go func() {
			done <- serve(ctx, []string{"--addr", "127.0.0.1:0", "--db", db, "--log-level", "error"}, out, io.Discard)
		}()
		for end := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "try:"); time.Sleep(10 * time.Millisecond) {
			select {
			case err := <-done:
				t.Fatalf("serve ended: %v\n%s", err, out.String())
			default:
			}
			require.True(t, time.Now().Before(end), "serve not ready:\n%s", out.String())
		}
		for _, l := range strings.Split(out.String(), "\n") {
			f := strings.Fields(l)
			switch {
			case strings.HasPrefix(l, "listening on "):
				base = f[2]
			case strings.HasPrefix(l, "user ") && strings.Contains(l, "admin"):
				adminToken = f[len(f)-1]
			}
		}
		for _, k := range []string{"expense-check", "expense-review", "expense-audit", "category-audit"} {
			require.Contains(t, out.String(), "workflow "+k+" ")
		}
		return base, adminToken, func() {
			cancel()
			require.NoError(t, <-done)
			require.Contains(t, out.String(), "stopped")
		}
	}
	versions := func(base, tok string) map[string]int {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/workflows:list", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("X-Role", "admin")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		var doc struct {
			Data []struct {
				Key string `json:"key"`
			} `json:"data"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
		n := map[string]int{}
		for _, w := range doc.Data {
			n[w.Key]++
		}
		return n
	}
	base, tok, stop := start()
	// Run the check workflow once, so its version is frozen.
	req, _ := http.NewRequest(http.MethodPost, base+"/api/expenses:create?triggerWorkflows=expense-check",
		strings.NewReader(`{"title": "Lunch", "amount": 12}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	first := versions(base, tok)
	stop()

	base, tok, stop = start()
	defer stop()
	require.Equal(t, first, versions(base, tok), "a restart with the same workflows adds no versions")
	require.Equal(t, map[string]int{"expense-check": 1, "expense-review": 1, "expense-audit": 1, "category-audit": 1}, first)
}

// The load command against its in-process server: every request ran its sync
// workflow once (the command checks the records and executions itself).
func TestLoadSmall(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"load", "--n", "200", "--c", "4"}, &out, &errOut); code != 0 {
		t.Fatalf("load exited %d: %s\n%s", code, errOut.String(), out.String())
	}
	require.Contains(t, out.String(), "total 200 requests in ")
	require.Contains(t, out.String(), ", 0 failed")
	require.Contains(t, out.String(), "checked: 200 expenses, 200 ledger records, 200 resolved sync executions")
}

// The paired load: the same creates without the workflow, then with it, on one
// server; each run is checked (none, then every request ran the workflow) and
// the ratio line is printed.
func TestLoadPaired(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"load", "--paired", "--n", "150", "--c", "3", "--db", "memory"}, &out, &errOut); code != 0 {
		t.Fatalf("load --paired exited %d: %s\n%s", code, errOut.String(), out.String())
	}
	got := out.String()
	require.Contains(t, got, "bare create: total 150 requests in ")
	require.Contains(t, got, "create + sync workflow: total 150 requests in ")
	require.Equal(t, 2, strings.Count(got, ", 0 failed"), got)
	require.Contains(t, got, "checked: 150 expenses, 0 ledger records, 0 resolved sync executions")
	require.Contains(t, got, "checked: 150 expenses, 150 ledger records, 150 resolved sync executions")
	require.Less(t, strings.Index(got, "bare create: total"), strings.Index(got, "create + sync workflow: total"), "the bare run comes first")
	require.Regexp(t, `paired: workflow/bare rate \d+\.\d\dx \(\d+ / \d+ requests/s\), p50 \d+\.\d\d -> \d+\.\d\d ms \([+-]\d+\.\d\d ms\), p99 `, got)
}

// A bad config folder is refused before anything starts, naming the file.
func TestServeConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no collections", map[string]string{"users.json": `[]`}, "collections.json"},
		{"malformed users", map[string]string{"collections.json": `[]`, "users.json": `[{`}, "users.json"},
		{"unknown member", map[string]string{"collections.json": `[]`, "users.json": `[{"tokn": "x"}]`}, `unknown field "tokn"`},
		{"no users", map[string]string{"collections.json": `[]`, "users.json": `[]`}, "no users"},
		{"user without id", map[string]string{"collections.json": `[]`, "users.json": `[{"roles": ["a"], "record": {}}]`}, "no record.id"},
		{"user without roles", map[string]string{"collections.json": `[]`, "users.json": `[{"record": {"id": 1}}]`}, "no roles"},
		{"invalid workflow", map[string]string{
			"collections.json": `[{"name": "posts", "fields": [{"name": "title", "type": "string"}]}]`,
			"users.json":       `[{"roles": ["a"], "record": {"id": 1}}]`,
			"workflows.json":   `[{"key": "w", "config": {"collection": "nope"}}]`,
		}, `workflow "w"`},
		{"unknown grant collection", map[string]string{
			"collections.json": `[{"name": "posts", "fields": [{"name": "title", "type": "string"}]}]`,
			"users.json":       `[{"roles": ["a"], "record": {"id": 1}}]`,
			"grants.json":      `[{"role": "a", "collection": "nope", "actions": ["view"]}]`,
		}, "grants.json"},
		{"own without createdById", map[string]string{
			"collections.json": `[{"name": "posts", "fields": [{"name": "title", "type": "string"}]}]`,
			"users.json":       `[{"roles": ["a"], "record": {"id": 1}}]`,
			"grants.json":      `[{"role": "a", "collection": "posts", "actions": ["view"], "scope": "own"}]`,
		}, "createdById"},
		{"unknown grant member", map[string]string{
			"collections.json": `[]`, "users.json": `[{"roles": ["a"], "record": {"id": 1}}]`,
			"grants.json": `[{"role": "a", "colection": "posts"}]`,
		}, `unknown field "colection"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tc.files {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
			}
			err := serve(context.Background(), []string{"--addr", "127.0.0.1:0", "--db", "memory", "--config", dir}, io.Discard, io.Discard)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
	err := serve(context.Background(), []string{"--log-level", "loud"}, io.Discard, io.Discard)
	require.ErrorContains(t, err, "--log-level")
}

// serve --migrate=false refuses a database that `migrate` has not brought up
// to date, and starts on one it has.
func TestServeWithoutMigrate(t *testing.T) {
	db := filepath.Join(t.TempDir(), "serve.db")
	err := serve(context.Background(), []string{"--addr", "127.0.0.1:0", "--db", db, "--migrate=false", "--log-level", "error"}, io.Discard, io.Discard)
	require.ErrorIs(t, err, sqlstore.ErrSchemaOutdated)

	var out bytes.Buffer
	require.NoError(t, migrate(context.Background(), []string{"--db", db}, &out))
	require.Contains(t, out.String(), "schema version")

	ctx, cancel := context.WithCancel(context.Background())
	buf := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, []string{"--addr", "127.0.0.1:0", "--db", db, "--migrate=false", "--log-level", "error"}, buf, io.Discard)
	}()
	for end := time.Now().Add(30 * time.Second); !strings.Contains(buf.String(), "listening on"); time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("serve ended: %v\n%s", err, buf.String())
		default:
		}
		require.True(t, time.Now().Before(end), "serve not ready:\n%s", buf.String())
	}
	cancel()
	require.NoError(t, <-done)
}
