package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// demoCollections is the expense-claim schema of the product document.
func demoCollections() []flow.Collection {
	return []flow.Collection{
		{Name: "users", Fields: []flow.Field{
			{Name: "id", Type: flow.FieldInteger},
			{Name: "nickname", Type: flow.FieldString},
			{Name: "email", Type: flow.FieldString},
			{Name: "password", Type: flow.FieldString, Hidden: true},
		}},
		{Name: "expenses", Fields: []flow.Field{
			{Name: "id", Type: flow.FieldInteger},
			{Name: "title", Type: flow.FieldString},
			{Name: "applicant", Type: flow.FieldBelongsTo, Target: "users", ForeignKey: "applicantId"},
			{Name: "applicantId", Type: flow.FieldInteger},
			{Name: "amount", Type: flow.FieldNumber},
			{Name: "status", Type: flow.FieldString},
		}},
		{Name: "reviews", Fields: []flow.Field{
			{Name: "id", Type: flow.FieldInteger},
			{Name: "expenseId", Type: flow.FieldInteger},
			{Name: "title", Type: flow.FieldString},
			{Name: "amount", Type: flow.FieldNumber},
			{Name: "reason", Type: flow.FieldString},
		}},
		{Name: "ledger", Fields: []flow.Field{
			{Name: "id", Type: flow.FieldInteger},
			{Name: "expenseId", Type: flow.FieldInteger},
			{Name: "title", Type: flow.FieldString},
			{Name: "amount", Type: flow.FieldNumber},
			{Name: "status", Type: flow.FieldString},
			{Name: "applicant", Type: flow.FieldString},
		}},
		{Name: "audit", Fields: []flow.Field{
			{Name: "id", Type: flow.FieldInteger},
			{Name: "expenseId", Type: flow.FieldInteger},
			{Name: "event", Type: flow.FieldString},
			{Name: "by", Type: flow.FieldString},
		}},
	}
}

// demoWorkflows: one sync and one async local workflow, and one global workflow.
func demoWorkflows() []flow.Workflow {
	return []flow.Workflow{
		{
			Key: "expense-check", Title: "Check the claim before it is accepted", Sync: true, Enabled: true,
			Config: flow.TriggerConfig{Collection: "expenses"},
			Nodes: []flow.Node{
				{Key: "positive", Type: "condition", Config: map[string]any{
					"engine": "expr", "expression": "$context.data.amount > 0 && $context.data.title != ''"},
					Branches: map[int][]flow.Node{
						0: {
							{Key: "why", Type: "response-message", Config: map[string]any{"message": "A claim needs a title and a positive amount (got {{$context.data.amount}})."}},
							{Key: "reject", Type: "end", Config: map[string]any{"endStatus": -1}},
						},
					}},
				{Key: "ok", Type: "response-message", Config: map[string]any{"message": "Claim {{$context.data.title}} accepted for review."}},
			},
		},
		{
			Key: "expense-review", Title: "Claims over 500 wait for a manager", Enabled: true,
			Config: flow.TriggerConfig{Collection: "expenses", Appends: []string{"applicant"}},
			Nodes: []flow.Node{
				{Key: "big", Type: "condition", Config: map[string]any{
					"engine": "basic",
					"calculation": map[string]any{"group": map[string]any{"type": "and", "calculations": []any{
						map[string]any{"calculator": "gt", "operands": []any{"{{$context.data.amount}}", 500}},
					}}}},
					Branches: map[int][]flow.Node{
						1: {
							{Key: "review", Type: "create", Config: map[string]any{"collection": "reviews", "params": map[string]any{"values": map[string]any{
								"expenseId": "{{$context.data.id}}", "title": "{{$context.data.title}}", "amount": "{{$context.data.amount}}",
								"reason": "over the 500 limit: a manager must approve",
							}}}},
							{Key: "approve", Type: "manual", Title: "Approve {{$context.data.title}}", Config: map[string]any{
								"assignees": []any{"{{$env.manager}}"},
								"title":     "Approve {{$context.data.title}} ({{$context.data.amount}})",
								"forms": map[string]any{"decision": map[string]any{"type": "custom", "actions": []any{
									map[string]any{"key": "approve", "status": 1},
									map[string]any{"key": "reject", "status": -5},
								}}},
							}},
						},
					}},
				{Key: "record", Type: "create", Config: map[string]any{"collection": "ledger", "params": map[string]any{"values": map[string]any{
					"expenseId": "{{$context.data.id}}", "title": "{{$context.data.title}}", "amount": "{{$context.data.amount}}",
					"status": "approved", "applicant": "{{$context.data.applicant.nickname}}",
				}}}},
			},
		},
		{
			Key: "expense-audit", Title: "Audit every change of a claim", Enabled: true,
			Config: flow.TriggerConfig{Collection: "expenses", Global: true, Actions: []string{"create", "update"}},
			Nodes: []flow.Node{
				{Key: "log", Type: "create", Config: map[string]any{"collection": "audit", "params": map[string]any{"values": map[string]any{
					"expenseId": "{{$context.data.id}}", "event": "{{$context.data.title}} is {{$context.data.status}}", "by": "{{$context.user.nickname}} as {{$context.roleName}}",
				}}}},
			},
		},
	}
}

func demo(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(out)
	verbose := fs.Bool("v", false, "log the engine's debug output")
	db := fs.String("db", "", "store: a SQLite file, a postgres:// DSN, or \"memory\" (default: a new SQLite file in the temp folder, removed afterwards)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *db == "" {
		dir, err := os.MkdirTemp("", "actiontrigger-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		*db = filepath.Join(dir, "demo.db")
	}
	store, storeName, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	if c, ok := store.(io.Closer); ok {
		defer c.Close()
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level}))

	// The host's users exist before the engine starts; the manager approves.
	if err := store.DeclareCollections(ctx, demoCollections()); err != nil {
		return err
	}
	users := []flow.Record{
		{"nickname": "mina", "email": "mina@example.com", "password": "secret"},
		{"nickname": "joon", "email": "joon@example.com", "password": "secret"},
	}
	var ids []any
	for _, u := range users {
		rec, err := store.CreateRecord(ctx, "users", u)
		if err != nil {
			return err
		}
		ids = append(ids, rec["id"])
	}
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{
		Store: store, Collections: demoCollections(), Logger: logger,
		Env: map[string]any{"manager": ids[1]},
	})
	if err != nil {
		return err
	}
	if err := eng.Start(ctx); err != nil {
		return err
	}
	defer eng.Stop(context.WithoutCancel(ctx))
	st := eng.Records()
	fmt.Fprintf(out, "actiontrigger demo: expense claims (%s)\n", storeName)
	fmt.Fprintln(out, "Claims are written first, then AfterAction runs the bound workflows, as a host handler would.")
	fmt.Fprintln(out)
	for _, wf := range demoWorkflows() {
		saved, err := eng.SaveWorkflow(ctx, wf)
		if err != nil {
			return err
		}
		mode := "local"
		if saved.Config.Global {
			mode = "global on " + strings.Join(saved.Config.Actions, "/")
		}
		sync := "async"
		if saved.Sync {
			sync = "sync"
		}
		fmt.Fprintf(out, "workflow %-15s %-5s %-22s %s\n", saved.Key, sync, mode, saved.Title)
	}
	mina := actiontrigger.User{ID: ids[0], Role: "member", Fields: map[string]any{"id": ids[0], "nickname": "mina", "password": "secret"}}
	manager := actiontrigger.User{ID: ids[1], Role: "manager", Fields: map[string]any{"id": ids[1], "nickname": "joon"}}

	claims := []flow.Record{
		{"title": "Team lunch", "applicantId": ids[0], "amount": 120.0, "status": "submitted"},
		{"title": "Conference trip", "applicantId": ids[0], "amount": 1850.0, "status": "submitted"},
		{"title": "", "applicantId": ids[0], "amount": -5.0, "status": "submitted"},
	}
	const bound = "expense-check,expense-review"
	var trip any
	for _, values := range claims {
		rec, err := st.CreateRecord(ctx, "expenses", values)
		if err != nil {
			return err
		}
		if values["title"] == "Conference trip" {
			trip = rec["id"]
		}
		fmt.Fprintf(out, "\n> create expense #%v %q amount %v with triggerWorkflows=%s\n", rec["id"], rec["title"], rec["amount"], bound)
		res, err := eng.AfterAction(ctx, actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: bound}, rec, mina)
		report(out, res, err)
	}

	// An update by the manager: only the global audit workflow listens to it.
	updated, err := st.UpdateRecords(ctx, "expenses", storage.Filter{"id": trip}, flow.Record{"status": "processed"})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n> update expense #%v status=processed (no triggerWorkflows)\n", trip)
	res, err := eng.AfterAction(ctx, actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionUpdate}, updated, manager)
	report(out, res, err)

	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := eng.WaitIdle(wctx); err != nil {
		return fmt.Errorf("waiting for async workflows: %w", err)
	}

	tasks, err := eng.Tasks(ctx, manager, actiontrigger.TaskFilter{Statuses: []flow.TaskStatus{flow.TaskPending}})
	if err != nil {
		return err
	}
	waiting, err := eng.Executions(ctx, storage.ExecutionFilter{Statuses: []flow.ExecutionStatus{flow.ExecutionStarted}})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "\n> async workflows drained")
	for _, x := range waiting {
		data, _ := x.Context["data"].(map[string]any)
		fmt.Fprintf(out, "  %s for expense #%v is %s: waiting for an approval\n", x.Key, data["id"], x.Status)
	}
	fmt.Fprintf(out, "\n> manager joon has %d pending task(s)\n", len(tasks))
	for _, t := range tasks {
		fmt.Fprintf(out, "  task %s: %s\n", short(t.ID), t.Title)
		if _, err := eng.SubmitTask(ctx, t.ID, manager, map[string]any{"decision": map[string]any{"comment": "ok"}, "_": "approve"}); err != nil {
			return err
		}
		fmt.Fprintln(out, "  approved: the execution resumes")
	}
	if err := eng.WaitIdle(wctx); err != nil {
		return fmt.Errorf("waiting for async workflows: %w", err)
	}

	fmt.Fprintln(out, "\n== executions")
	list, err := eng.Executions(ctx, actiontrigger.ExecutionFilter{})
	if err != nil {
		return err
	}
	for _, x := range list {
		jobs, err := eng.Jobs(ctx, x.ID)
		if err != nil {
			return err
		}
		mode := "async"
		if x.Sync {
			mode = "sync"
		}
		data, _ := x.Context["data"].(map[string]any)
		fmt.Fprintf(out, "%-15s %-5s expense #%-3v %-9s path:", x.Key, mode, data["id"], x.Status)
		if len(jobs) == 0 {
			fmt.Fprint(out, " (no nodes)")
		}
		for i, j := range jobs {
			sep := " "
			if i > 0 {
				sep = " -> "
			}
			fmt.Fprintf(out, "%s%s[%s]=%s", sep, j.NodeKey, j.NodeType, j.Status)
			if j.NodeType == "condition" {
				fmt.Fprintf(out, "(%v)", j.Result)
			}
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintln(out, "\n== records created by workflows")
	for _, c := range []string{"reviews", "ledger", "audit"} {
		recs, err := st.ListRecords(ctx, c, nil, nil)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s (%d)\n", c, len(recs))
		for _, r := range recs {
			fmt.Fprintf(out, "  %s\n", formatRecord(r))
		}
	}
	return nil
}

func report(out io.Writer, res *actiontrigger.Result, err error) {
	var se *actiontrigger.SyncError
	switch {
	case errors.As(err, &se):
		fmt.Fprintf(out, "  refused (%s by %s, HTTP %d)\n", se.Kind, se.Workflow, httpStatus(se))
		for _, m := range se.Messages {
			fmt.Fprintf(out, "  message: %s\n", m.Message)
		}
		return
	case err != nil:
		fmt.Fprintf(out, "  error: %v\n", err)
		return
	}
	fmt.Fprintln(out, "  accepted (HTTP 200)")
	for _, m := range res.Messages {
		fmt.Fprintf(out, "  message: %s\n", m.Message)
	}
	for _, x := range res.Executions {
		fmt.Fprintf(out, "  execution %s of %s: %s\n", short(x.ID), x.Key, x.Status)
	}
}

func httpStatus(se *actiontrigger.SyncError) int {
	if se.Kind == actiontrigger.SyncRejected {
		return 400
	}
	return 500
}

func short(id string) string {
	if len(id) > 8 {
		return id[len(id)-8:]
	}
	return id
}

func formatRecord(r flow.Record) string {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%v", k, r[k]))
	}
	return strings.Join(parts, " ")
}
