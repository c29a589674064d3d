package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/diagram"
	"github.com/actiontrigger/actiontrigger/flow"
)

// runDiagram runs `actiontrigger diagram args...` and returns its exit code,
// stdout and stderr.
func runDiagram(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(t.Context(), append([]string{"diagram"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeJSON(t *testing.T, path string, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o600))
	return path
}

func TestDiagramFile(t *testing.T) {
	dir := t.TempDir()
	wf := demoWorkflows()[0]
	wf.Nodes[1].Title = `Say "ok" <b>#1</b>`
	path := writeJSON(t, filepath.Join(dir, "check.json"), wf)

	code, out, errOut := runDiagram(t, path)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, diagram.Mermaid(&wf), out)
	assert.Contains(t, out, `["Say #quot;ok#quot; #lt;b#gt;#35;1#lt;/b#gt;<br/>response-message"]`)

	// Flags may come after the file.
	code, svg, errOut := runDiagram(t, path, "--format", "svg")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, string(diagram.SVG(&wf)), svg)
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, "the SVG parses")
	}

	// A list, as serve's workflows.json holds them: name the key.
	list := writeJSON(t, filepath.Join(dir, "workflows.json"), demoWorkflows())
	code, out, errOut = runDiagram(t, list, "expense-review")
	require.Equal(t, 0, code, errOut)
	review := demoWorkflows()[1]
	assert.Equal(t, diagram.Mermaid(&review), out)
	code, _, errOut = runDiagram(t, list)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "holds 3 workflows (expense-check, expense-review, expense-audit): name the key")
	code, _, errOut = runDiagram(t, list, "nope")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, `has no workflow "nope"`)
}

func TestDiagramErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"key": "x", "nodez": []}`), 0o600))
	good := writeJSON(t, filepath.Join(dir, "good.json"), demoWorkflows()[2])
	missingDB := filepath.Join(dir, "missing.db")

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no argument", nil, "want a workflow file, or a key"},
		{"unknown file", []string{filepath.Join(dir, "nope.json")}, "nope.json: no such file or directory"},
		{"unknown field", []string{bad}, `unknown field "nodez"`},
		{"bad format", []string{"--format", "png", good}, `--format "png": want mermaid or svg`},
		{"key without a store", []string{"--db", missingDB, "some-key"}, `no file "some-key"; as a workflow key: --db ` + missingDB},
		{"unknown key", []string{"--db", "memory", "some-key"}, `no workflow "some-key" in in-memory store`},
		{"unknown execution", []string{"--db", "memory", "--execution", "x1", good}, `no execution "x1" in in-memory store`},
		{"key in the wrong file", []string{good, "other"}, `holds workflow "expense-audit", not "other"`},
		{"too many arguments", []string{good, "a", "b"}, "want a workflow file, or a key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runDiagram(t, c.args...)
			assert.Equal(t, 1, code)
			assert.Empty(t, out)
			assert.Contains(t, errOut, c.want)
		})
	}
	_, err := os.Stat(missingDB)
	assert.ErrorIs(t, err, os.ErrNotExist, "drawing never creates a database")
}

// seedExecutions runs serve's start-up on the built-in example in the store
// db names (collections, users, the four workflows), then files two claims as
// mina: a refused one (expense-check's false branch, FAILED at its end node)
// and a big one (expense-review paused at the approval). It returns the
// executions by "key STATUS".
func seedExecutions(t *testing.T, db string) map[string]*flow.Execution {
	t.Helper()
	ctx := t.Context()
	store, _, err := openStore(ctx, db)
	require.NoError(t, err)
	defer func() { _ = store.(io.Closer).Close() }()
	cfg := exampleConfig()
	eng, _, err := startUp(ctx, cfg, actiontrigger.Config{Store: store, Env: cfg.Env})
	require.NoError(t, err)
	require.NoError(t, eng.Start(ctx))
	defer func() { _ = eng.Stop(context.WithoutCancel(ctx)) }()
	mina := actiontrigger.User{ID: cfg.Users[0].Record["id"], Role: "member"}
	for _, claim := range []flow.Record{
		{"title": "", "amount": -5.0, "applicantId": mina.ID},
		{"title": "Trip", "amount": 1850.0, "applicantId": mina.ID},
	} {
		rec, err := eng.Records().CreateRecord(ctx, "expenses", claim)
		require.NoError(t, err)
		_, _ = eng.AfterAction(ctx, actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: "expense-check,expense-review"}, rec, mina)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, eng.WaitIdle(wctx))
	list, err := eng.Executions(ctx, actiontrigger.ExecutionFilter{})
	require.NoError(t, err)
	byName := map[string]*flow.Execution{}
	for _, x := range list {
		byName[x.Key+" "+x.Status.String()] = x
	}
	require.Contains(t, byName, "expense-check FAILED")
	require.Contains(t, byName, "expense-review STARTED")
	return byName
}

// A key draws the stored current version; --execution marks that
// execution's path, on SQLite and PostgreSQL.
func TestDiagramStore(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "diagram.db")
			if kind == "postgres" {
				db = freshPostgres(t)
			}
			xs := seedExecutions(t, db)

			code, out, errOut := runDiagram(t, "--db", db, "expense-check")
			require.Equal(t, 0, code, errOut)
			check := demoWorkflows()[0]
			assert.Equal(t, diagram.Mermaid(&check), out)

			refused := xs["expense-check FAILED"]
			code, out, errOut = runDiagram(t, "--db", db, "expense-check", "--execution", refused.ID)
			require.Equal(t, 0, code, errOut)
			for _, want := range []string{
				"    start ==> n1\n", "    n1 ==>|false| n2\n", "    n2 ==> n3\n",
				"    n1 -->|true| n4\n", "    n4 --> stop\n",
				"    class n1,n2 resolved\n", "    class n3 failed\n",
				`n3(["reject<br/>end · FAILED"])`,
			} {
				assert.Contains(t, out, want)
			}

			paused := xs["expense-review STARTED"]
			code, out, errOut = runDiagram(t, "--db", db, "--format", "svg", "--execution", paused.ID, "expense-review")
			require.Equal(t, 0, code, errOut)
			assert.Contains(t, out, `<g class="node pending" data-key="approve" data-type="manual" data-status="PENDING">`)
			assert.Contains(t, out, `<g class="node" data-key="record" data-type="create">`)

			// The same execution over the workflow read from a file.
			review := demoWorkflows()[1]
			file := writeJSON(t, filepath.Join(t.TempDir(), "review.json"), review)
			code, out, errOut = runDiagram(t, "--db", db, "--execution", paused.ID, file)
			require.Equal(t, 0, code, errOut)
			assert.Contains(t, out, "    class n3 pending\n")

			code, _, errOut = runDiagram(t, "--db", db, "--execution", refused.ID, "expense-review")
			assert.Equal(t, 1, code)
			assert.Contains(t, errOut, `ran workflow "expense-check", not "expense-review"`)
			code, _, errOut = runDiagram(t, "--db", db, "--execution", refused.ID, file)
			assert.Equal(t, 1, code)
			assert.Contains(t, errOut, `ran workflow "expense-check", not "expense-review"`)
			code, _, errOut = runDiagram(t, "--db", db, "no-such-key")
			assert.Equal(t, 1, code)
			assert.Contains(t, errOut, `no workflow "no-such-key" in `)
		})
	}
}

var updateDocs = flag.Bool("update", false, "rewrite the generated diagrams of docs/diagrams.md")

// docsMarker is a generated diagram of docs/diagrams.md: the command's
// arguments (after "actiontrigger diagram"), then either the Mermaid block the
// command prints or, after "; saved as", the file (relative to docs/) that
// holds its output.
var docsMarker = regexp.MustCompile("<!-- generated: actiontrigger diagram ([^;]*?)(?:; saved as (\\S+))? -->\n(?:```mermaid\n(?s:(.*?))```\n)?")

// The diagrams in docs/diagrams.md are the command's output for the built-in
// example, as `serve` saves it, and two executions of it.
func TestDiagramDocs(t *testing.T) {
	db := filepath.Join(t.TempDir(), "docs.db")
	xs := seedExecutions(t, db)
	const path = "../../docs/diagrams.md"
	doc, err := os.ReadFile(path)
	require.NoError(t, err)
	placeholder := regexp.MustCompile(`\{([^}]+)\}`)

	seen := 0
	var failed bool
	updated := docsMarker.ReplaceAllStringFunc(string(doc), func(block string) string {
		m := docsMarker.FindStringSubmatch(block)
		seen++
		args := placeholder.ReplaceAllStringFunc(m[1], func(p string) string {
			x, ok := xs[p[1:len(p)-1]]
			require.True(t, ok, "no execution %s", p)
			return x.ID
		})
		code, out, errOut := runDiagram(t, append([]string{"--db", db}, strings.Fields(args)...)...)
		require.Equal(t, 0, code, "actiontrigger diagram %s: %s", args, errOut)
		if file := m[2]; file != "" {
			file = filepath.Join("../../docs", file)
			if *updateDocs {
				require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o755))
				require.NoError(t, os.WriteFile(file, []byte(out), 0o644))
				return block
			}
			got, err := os.ReadFile(file)
			require.NoError(t, err, "run with -update to generate it")
			if !assert.Equal(t, out, string(got), "%s is not the output of `actiontrigger diagram %s`", file, m[1]) {
				failed = true
			}
			return block
		}
		if !*updateDocs && !assert.Equal(t, out, m[3], "the block after `actiontrigger diagram %s` is not its output", m[1]) {
			failed = true
		}
		return "<!-- generated: actiontrigger diagram " + m[1] + " -->\n```mermaid\n" + out + "```\n"
	})
	assert.Equal(t, 7, seen, "generated diagrams in %s", path)
	if *updateDocs {
		require.NoError(t, os.WriteFile(path, []byte(updated), 0o644))
	} else if failed {
		t.Log("run go test ./cmd/actiontrigger -run TestDiagramDocs -update to regenerate them")
	}
}
