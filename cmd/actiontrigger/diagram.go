package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/actiontrigger/actiontrigger/diagram"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore"
)

const diagramUsage = `usage: actiontrigger diagram [flags] <workflow.json [key] | key>

Draws a workflow version as a Mermaid flowchart (default) or an SVG image.

  workflow.json   a workflow document, or a list of them (serve's workflows.json:
                  name the key when it holds more than one); an argument that
                  names a file, ends in .json or holds a path separator is a file
  key             the current version of that workflow in the store --db names
                  (with --execution: the version that execution ran)

flags:
`

// drawDiagram is the diagram command: it prints a workflow, read from a file
// or from the store, as Mermaid or SVG, with one execution's path marked
// when --execution names it. The store is opened without migrating it.
func drawDiagram(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("diagram", flag.ContinueOnError)
	fs.SetOutput(errOut)
	db := fs.String("db", "actiontrigger.db", "store for a key or --execution: a SQLite file, a postgres:// DSN, or \"memory\"")
	execution := fs.String("execution", "", "id of an execution whose path to mark")
	format := fs.String("format", "mermaid", "output: mermaid or svg")
	fs.Usage = func() {
		fmt.Fprint(errOut, diagramUsage)
		fs.PrintDefaults()
	}
	// Flags may follow the arguments: actiontrigger diagram wf.json --format svg.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if *format != "mermaid" && *format != "svg" {
		return fmt.Errorf("--format %q: want mermaid or svg", *format)
	}
	if len(pos) == 0 || len(pos) > 2 {
		fs.Usage()
		return errors.New("want a workflow file, or a key")
	}

	var (
		wf   *flow.Workflow
		jobs []*flow.Job
		err  error
	)
	if isFile(pos[0]) {
		key := ""
		if len(pos) == 2 {
			key = pos[1]
		}
		if wf, err = readWorkflowFile(pos[0], key); err != nil {
			return err
		}
		if *execution != "" {
			var x *flow.Execution
			if x, jobs, err = executionJobs(ctx, *db, *execution); err != nil {
				return err
			}
			if wf.Key != "" && x.Key != wf.Key {
				return fmt.Errorf("execution %s ran workflow %q, not %q", x.ID, x.Key, wf.Key)
			}
		}
	} else {
		if len(pos) == 2 {
			return fmt.Errorf("%q is not a file: give a workflow file and a key in it, or a key alone", pos[0])
		}
		if wf, jobs, err = storedWorkflow(ctx, *db, pos[0], *execution); err != nil {
			return err
		}
	}

	var opts []diagram.Option
	if *execution != "" {
		opts = append(opts, diagram.WithJobs(jobs))
	}
	if *format == "svg" {
		_, err = out.Write(diagram.SVG(wf, opts...))
		return err
	}
	_, err = io.WriteString(out, diagram.Mermaid(wf, opts...))
	return err
}

// isFile tells a workflow file from a key: an existing file, a name ending in
// .json, or one holding a path separator.
func isFile(arg string) bool {
	if st, err := os.Stat(arg); err == nil && !st.IsDir() {
		return true
	}
	return strings.HasSuffix(arg, ".json") || strings.ContainsRune(arg, '/') || strings.ContainsRune(arg, filepath.Separator)
}

// readWorkflowFile decodes a workflow document, or a list of them from which
// it picks key (or the only one), as serve's --config folder holds them.
func readWorkflowFile(path, key string) (*flow.Workflow, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	decode := func(v any) error {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '[' {
		var wf flow.Workflow
		if err := decode(&wf); err != nil {
			return nil, err
		}
		if key != "" && wf.Key != key {
			return nil, fmt.Errorf("%s holds workflow %q, not %q: %w", path, wf.Key, key, flow.ErrNotFound)
		}
		return &wf, nil
	}
	var list []flow.Workflow
	if err := decode(&list); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(list))
	for i := range list {
		if key != "" && list[i].Key == key {
			return &list[i], nil
		}
		keys = append(keys, list[i].Key)
	}
	switch {
	case key != "":
		return nil, fmt.Errorf("%s has no workflow %q (it has %s): %w", path, key, strings.Join(keys, ", "), flow.ErrNotFound)
	case len(list) == 1:
		return &list[0], nil
	case len(list) == 0:
		return nil, fmt.Errorf("%s holds no workflow", path)
	}
	return nil, fmt.Errorf("%s holds %d workflows (%s): name the key to draw", path, len(list), strings.Join(keys, ", "))
}

// openExisting opens the store db names, without migrating it, and refuses a
// SQLite file that does not exist rather than creating one.
func openExisting(ctx context.Context, db string) (recordsStore, string, func(), error) {
	sqliteFile := db != "" && db != "memory" && !strings.HasPrefix(db, "postgres://") && !strings.HasPrefix(db, "postgresql://")
	if sqliteFile {
		if _, err := os.Stat(db); err != nil {
			return nil, "", nil, fmt.Errorf("--db %s: %w", db, err)
		}
	}
	st, name, err := openStore(ctx, db, sqlstore.WithoutMigrate())
	if err != nil {
		return nil, "", nil, err
	}
	closer := func() {}
	if c, ok := st.(io.Closer); ok {
		closer = func() { _ = c.Close() }
	}
	return st, name, closer, nil
}

// storedWorkflow reads key's current version, or with an execution id the
// version that execution ran and its jobs.
func storedWorkflow(ctx context.Context, db, key, executionID string) (*flow.Workflow, []*flow.Job, error) {
	st, name, closeStore, err := openExisting(ctx, db)
	if err != nil {
		return nil, nil, fmt.Errorf("no file %q; as a workflow key: %w", key, err)
	}
	defer closeStore()
	if executionID != "" {
		x, jobs, err := listJobs(ctx, st, name, executionID)
		if err != nil {
			return nil, nil, err
		}
		if x.Key != key {
			return nil, nil, fmt.Errorf("execution %s ran workflow %q, not %q", x.ID, x.Key, key)
		}
		wf, err := st.GetWorkflow(ctx, x.WorkflowID)
		if err != nil {
			return nil, nil, fmt.Errorf("the version execution %s ran (%s): %w", x.ID, x.WorkflowID, err)
		}
		return wf, jobs, nil
	}
	current := true
	list, err := st.ListWorkflows(ctx, storage.WorkflowFilter{Key: key, Current: &current})
	if err != nil {
		return nil, nil, err
	}
	if len(list) == 0 {
		return nil, nil, fmt.Errorf("no workflow %q in %s (and no file of that name): %w", key, name, flow.ErrNotFound)
	}
	return list[0], nil, nil
}

// executionJobs reads an execution and its jobs from the store db names.
func executionJobs(ctx context.Context, db, id string) (*flow.Execution, []*flow.Job, error) {
	st, name, closeStore, err := openExisting(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	defer closeStore()
	return listJobs(ctx, st, name, id)
}

func listJobs(ctx context.Context, st storage.Store, name, id string) (*flow.Execution, []*flow.Job, error) {
	x, err := st.GetExecution(ctx, id)
	if errors.Is(err, flow.ErrNotFound) {
		return nil, nil, fmt.Errorf("no execution %q in %s: %w", id, name, err)
	}
	if err != nil {
		return nil, nil, err
	}
	jobs, err := st.ListJobs(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	return x, jobs, nil
}
