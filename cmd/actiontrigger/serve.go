package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/console"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/httptrigger"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore"
)

// serveConfig is what a --config folder holds (see docs/http.md):
//
//	collections.json  [flow.Collection, ...]                      required
//	users.json        [{"token", "roles", "record"}, ...]         required
//	workflows.json    [flow.Workflow, ...], and/or workflows/*.json (one each)
//	env.json          {"name": value, ...}, exposed as $env        optional
//	grants.json       [httptrigger.Grant, ...]                     optional
//
// Without grants.json only admin roles reach records.
type serveConfig struct {
	Collections []flow.Collection
	Users       []serveUser
	Workflows   []flow.Workflow
	Env         map[string]any
	Grants      []httptrigger.Grant
}

// serveUser is one entry of users.json.
type serveUser struct {
	// Token is the user's bearer token; generated at start when empty.
	Token string `json:"token"`
	// Roles the user may act under; the first is the default.
	Roles []string `json:"roles"`
	// Record is the user's record; "id" is required. It is created in the
	// users collection, when one is declared, if no record has its id.
	Record flow.Record `json:"record"`
}

func serve(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(errOut)
	addr := fs.String("addr", ":3000", "listen address (\"127.0.0.1:0\" picks a free port)")
	db := fs.String("db", "actiontrigger.db", "store: a SQLite file, a postgres:// DSN, or \"memory\"")
	dir := fs.String("config", "", "folder with collections.json, users.json, workflows.json or workflows/*.json, env.json (default: the built-in expense-claim example)")
	level := fs.String("log-level", "info", "request and engine log level: debug, info, warn, error")
	workers := fs.Int("workers", 0, "async workers (default: the engine's, actiontrigger.DefaultWorkers)")
	readTimeout := fs.Duration("read-timeout", 30*time.Second, "longest time to read a request, body included")
	writeTimeout := fs.Duration("write-timeout", 60*time.Second, "longest time from the end of the request headers to the end of the response")
	idleTimeout := fs.Duration("idle-timeout", 60*time.Second, "how long a connection may wait for its next request (or, new, its first one)")
	migrate := fs.Bool("migrate", true, "migrate the store's schema at start (under a lock, so processes starting together are safe); with --migrate=false, run `actiontrigger migrate` first: an outdated schema stops the start")
	maxConns := fs.Int("max-conns", 1000, "connections served at once; more wait in the listen backlog (keep under the file descriptor limit)")
	metrics := fs.Bool("metrics", false, "serve the engine's metrics (executions, nodes, claims, queue depth, pending tasks) in the Prometheus format at GET /metrics, without authentication")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", *level)
	}
	for name, d := range map[string]time.Duration{"--read-timeout": *readTimeout, "--write-timeout": *writeTimeout, "--idle-timeout": *idleTimeout} {
		if d <= 0 {
			return fmt.Errorf("%s %v: want a positive duration", name, d)
		}
	}
	if *maxConns < 1 {
		return fmt.Errorf("--max-conns %d: want at least 1", *maxConns)
	}
	logger := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: lv, ReplaceAttr: redactAttr}))

	var cfg *serveConfig
	var err error
	if *dir == "" {
		cfg = exampleConfig()
	} else if cfg, err = loadServeConfig(*dir); err != nil {
		return err
	}
	tokens, err := cfg.tokens()
	if err != nil {
		return err
	}

	var storeOpts []sqlstore.Option
	if !*migrate {
		storeOpts = append(storeOpts, sqlstore.WithoutMigrate())
	}
	store, storeName, err := openStore(ctx, *db, storeOpts...)
	if err != nil {
		return err
	}
	if c, ok := store.(io.Closer); ok {
		defer c.Close()
	}
	engCfg := actiontrigger.Config{Store: store, Env: cfg.Env, Logger: logger, Workers: *workers}
	var prom *promMetrics
	if *metrics {
		if prom, err = newPromMetrics(store); err != nil {
			return err
		}
		defer func() { _ = prom.close(context.WithoutCancel(ctx)) }()
		engCfg.Observer = prom.observer
	}
	eng, saved, err := startUp(ctx, cfg, engCfg)
	if err != nil {
		return err
	}
	if err := eng.Start(ctx); err != nil {
		return err
	}
	api, err := httptrigger.NewAPI(eng, httptrigger.APIOptions{Authenticator: tokens, Logger: logger, Grants: cfg.Grants})
	if errors.Is(err, httptrigger.ErrInvalidGrant) {
		_ = eng.Stop(context.WithoutCancel(ctx))
		return fmt.Errorf("grants.json: %w", err)
	}
	if err != nil {
		_ = eng.Stop(context.WithoutCancel(ctx))
		return err
	}
	if len(cfg.Grants) == 0 {
		logger.Warn("no grants: only admin roles may read or write records (add grants.json to the config folder)")
	}
	// The web console, behind the API's own authentication and roles.
	con, err := console.New(eng, api, console.Options{Prefix: "/ui/", Logger: logger})
	if err != nil {
		_ = eng.Stop(context.WithoutCancel(ctx))
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	mux.Handle("/ui/", con)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	if prom != nil {
		mux.Handle("GET /metrics", prom.handler)
	}
	srv := &http.Server{
		Handler: logRequests(logger, mux),
		// A new connection that sends nothing is closed after the read
		// header timeout, an idle keep-alive one after the idle timeout:
		// neither holds one of the max-conns slots for longer.
		ReadHeaderTimeout: min(10*time.Second, *readTimeout, *idleTimeout),
		ReadTimeout:       *readTimeout,
		WriteTimeout:      *writeTimeout,
		IdleTimeout:       *idleTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	tcp, err := net.Listen("tcp", *addr)
	if err != nil {
		_ = eng.Stop(context.WithoutCancel(ctx))
		return err
	}
	ln := limitListener(tcp, *maxConns)
	base := "http://" + displayAddr(ln.Addr())
	fmt.Fprintf(out, "listening on %s (%s)\n", base, storeName)
	if prom != nil {
		fmt.Fprintf(out, "metrics: %s/metrics\n", base)
	}
	for i, u := range cfg.Users {
		if i == 0 {
			fmt.Fprintf(out, "token: %s\n", u.Token)
		}
		fmt.Fprintf(out, "user %v %s roles %s token %s\n", u.Record["id"], userName(u.Record), strings.Join(u.Roles, ","), u.Token)
	}
	for _, wf := range saved {
		fmt.Fprintf(out, "workflow %s %s\n", wf.Key, wf.Title)
	}
	fmt.Fprintf(out, "console: %s/ui/ (sign in with a user's token; with an admin role, root or admin, to see workflows and executions)\n", base)
	fmt.Fprint(out, curlExamples(base, cfg, saved))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		_ = eng.Stop(context.WithoutCancel(ctx))
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing requests and running executions")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	serr := srv.Shutdown(sctx)
	if err := eng.Stop(sctx); err != nil && serr == nil {
		serr = err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) && serr == nil {
		serr = err
	}
	fmt.Fprintln(out, "stopped")
	return serr
}

// displayAddr turns a listener's address into one a client can dial
// ("[::]:3000" becomes "localhost:3000").
func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// logRequests logs every request with log/slog, its query's credentials
// redacted (redactQuery).
func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.String("query", redactQuery(r.URL.RawQuery)), slog.Int("status", sw.code),
			slog.Duration("took", time.Since(start)))
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// syncWorkflow saves a configured workflow so that restarting the server on
// the same store is a no-op (Engine.EnsureWorkflow).
func syncWorkflow(ctx context.Context, eng *actiontrigger.Engine, wf flow.Workflow) (*flow.Workflow, error) {
	if wf.Key == "" {
		return nil, fmt.Errorf("a configured workflow needs a key: %w", flow.ErrInvalidWorkflow)
	}
	return eng.EnsureWorkflow(ctx, wf)
}

func ptr[T any](v T) *T { return &v }

// sameWorkflow compares what a configuration sets, through JSON (so that
// numbers decoded from a file compare equal to stored ones).

// tokens builds the authenticator, generating missing tokens.
func (c *serveConfig) tokens() (httptrigger.Tokens, error) {
	t := httptrigger.Tokens{}
	for i := range c.Users {
		u := &c.Users[i]
		if u.Record["id"] == nil {
			return nil, fmt.Errorf("users.json: user %d has no record.id", i+1)
		}
		if len(u.Roles) == 0 {
			return nil, fmt.Errorf("users.json: user %v has no roles", u.Record["id"])
		}
		if u.Token == "" {
			b := make([]byte, 16)
			if _, err := rand.Read(b); err != nil {
				return nil, err
			}
			u.Token = hex.EncodeToString(b)
		}
		if _, dup := t[u.Token]; dup {
			return nil, fmt.Errorf("users.json: two users share the token %q", u.Token)
		}
		t[u.Token] = httptrigger.Principal{
			User:  actiontrigger.User{ID: u.Record["id"], Fields: u.Record},
			Roles: u.Roles,
		}
	}
	if len(t) == 0 {
		return nil, errors.New("users.json: no users: nobody could call the API")
	}
	return t, nil
}

// createUsers writes the configured users into the users collection, if
// one is declared and they are not there yet.
func (c *serveConfig) createUsers(ctx context.Context, st storage.RecordStore) error {
	declared := false
	for _, coll := range c.Collections {
		declared = declared || coll.FullName() == "users"
	}
	if !declared {
		return nil
	}
	for _, u := range c.Users {
		_, err := st.GetRecord(ctx, "users", flow.Record{"id": u.Record["id"]}, nil)
		if err == nil {
			continue
		}
		if !errors.Is(err, flow.ErrNotFound) {
			return err
		}
		if _, err := st.CreateRecord(ctx, "users", u.Record); err != nil {
			return fmt.Errorf("users.json: user %v: %w", u.Record["id"], err)
		}
	}
	return nil
}

func userName(r flow.Record) string {
	for _, k := range []string{"nickname", "username", "name", "email"} {
		if s, ok := r[k].(string); ok && s != "" {
			return s
		}
	}
	return "-"
}

// loadServeConfig reads a --config folder.
func loadServeConfig(dir string) (*serveConfig, error) {
	c := &serveConfig{}
	read := func(name string, v any, required bool) error {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) && !required {
			return nil
		}
		if err != nil {
			return fmt.Errorf("--config: %w", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return fmt.Errorf("--config: %s: %w", filepath.Join(dir, name), err)
		}
		return nil
	}
	if err := read("collections.json", &c.Collections, true); err != nil {
		return nil, err
	}
	if err := read("users.json", &c.Users, true); err != nil {
		return nil, err
	}
	if err := read("env.json", &c.Env, false); err != nil {
		return nil, err
	}
	if err := read("workflows.json", &c.Workflows, false); err != nil {
		return nil, err
	}
	if err := read("grants.json", &c.Grants, false); err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "workflows", "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, f := range files {
		var wf flow.Workflow
		if err := read(filepath.Join("workflows", filepath.Base(f)), &wf, true); err != nil {
			return nil, err
		}
		c.Workflows = append(c.Workflows, wf)
	}
	return c, nil
}

// exampleConfig is the built-in expense-claim example: the demo's schema and
// workflows, with claim categories for the "!category" binding, and two users.
func exampleConfig() *serveConfig {
	colls := demoCollections()
	for i := range colls {
		if colls[i].Name == "expenses" {
			colls[i].Fields = append(colls[i].Fields,
				flow.Field{Name: "category", Type: flow.FieldBelongsTo, Target: "categories", ForeignKey: "categoryId"},
				flow.Field{Name: "categoryId", Type: flow.FieldInteger},
			)
		}
	}
	colls = append(colls, flow.Collection{Name: "categories", Fields: []flow.Field{
		{Name: "id", Type: flow.FieldInteger},
		{Name: "title", Type: flow.FieldString},
		{Name: "expenses", Type: flow.FieldHasMany, Target: "expenses", ForeignKey: "categoryId"},
	}})
	wfs := demoWorkflows()
	wfs = append(wfs, flow.Workflow{
		Key: "category-audit", Title: "Audit the category a claim is filed under", Enabled: true,
		Config: flow.TriggerConfig{Collection: "categories"},
		Nodes: []flow.Node{
			{Key: "log", Type: "create", Config: map[string]any{"collection": "audit", "params": map[string]any{"values": map[string]any{
				"event": "a claim was filed under {{$context.data.title}}", "by": "{{$context.user.nickname}} as {{$context.roleName}}",
			}}}},
		},
	})
	return &serveConfig{
		Collections: colls,
		Users: []serveUser{
			{Roles: []string{"member"}, Record: flow.Record{"id": int64(1), "nickname": "mina", "email": "mina@example.com", "password": "secret"}},
			{Roles: []string{"manager", "admin"}, Record: flow.Record{"id": int64(2), "nickname": "joon", "email": "joon@example.com", "password": "secret"}},
		},
		Workflows: wfs,
		Env:       map[string]any{"manager": int64(2)},
		Grants:    exampleGrants(),
	}
}

// exampleGrants are what the example's printed curl calls need: members file
// claims (with a new category nested in the claim) and read them back;
// managers also update claims and read what the workflows wrote. admin, an
// admin role, needs no grant.
func exampleGrants() []httptrigger.Grant {
	const c, v, u = httptrigger.GrantCreate, httptrigger.GrantView, httptrigger.GrantUpdate
	acts := func(a ...httptrigger.GrantAction) []httptrigger.GrantAction { return a }
	return []httptrigger.Grant{
		{Role: "member", Collection: "expenses", Actions: acts(c, v)},
		{Role: "member", Collection: "categories", Actions: acts(c, v)},
		{Role: "manager", Collection: "expenses", Actions: acts(c, v, u)},
		{Role: "manager", Collection: "categories", Actions: acts(c, v)},
		{Role: "manager", Collection: httptrigger.AllCollections, Actions: acts(v)},
	}
}

// curlExamples prints ready-to-paste calls for the first user.
func curlExamples(base string, c *serveConfig, wfs []*flow.Workflow) string {
	var b strings.Builder
	tok := c.Users[0].Token
	role := c.Users[0].Roles[0]
	var local []*flow.Workflow
	for _, wf := range wfs {
		if wf.Enabled && !wf.Config.Global && wf.Type == "action" {
			local = append(local, wf)
		}
	}
	b.WriteString("\ntry:\n")
	if len(local) > 0 {
		wf := local[0]
		coll := wf.Config.Collection
		keys := []string{wf.Key}
		for _, o := range local[1:] {
			if o.Config.Collection == coll {
				keys = append(keys, o.Key)
			}
		}
		body := `{"title": "Conference trip", "amount": 1850, "applicantId": 1}`
		if coll != "expenses" {
			body = `{"title": "Hello, world!"}`
		}
		fmt.Fprintf(&b, "  curl -X POST -H 'Authorization: Bearer %s' -H 'X-Role: %s' -H 'Content-Type: application/json' -d '%s' '%s/api/%s:create?triggerWorkflows=%s'\n",
			tok, role, body, base, coll, strings.Join(keys, ","))
		for _, o := range local {
			if o.Config.Collection == "categories" && coll == "expenses" {
				fmt.Fprintf(&b, "  curl -X POST -H 'Authorization: Bearer %s' -H 'X-Role: %s' -H 'Content-Type: application/json' -d '%s' '%s/api/expenses:create?triggerWorkflows=%s,%s!category'\n",
					tok, role, `{"title": "Taxi", "amount": 30, "applicantId": 1, "status": "submitted", "category": {"title": "Travel"}}`, base, wf.Key, o.Key)
			}
		}
	}
	// The approver's task list and the executions, as the first admin.
	for _, u := range c.Users {
		for _, r := range u.Roles {
			if r == "admin" || r == "root" {
				fmt.Fprintf(&b, "  curl -H 'Authorization: Bearer %s' '%s/api/workflowManualTasks:listMine'\n", u.Token, base)
				fmt.Fprintf(&b, "  curl -H 'Authorization: Bearer %s' -H 'X-Role: %s' '%s/api/executions:list'\n", u.Token, r, base)
				return b.String()
			}
		}
	}
	fmt.Fprintf(&b, "  curl -H 'Authorization: Bearer %s' '%s/api/workflowManualTasks:listMine'\n", tok, base)
	return b.String()
}
