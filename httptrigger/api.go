package httptrigger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/actiontrigger/actiontrigger"
)

// APIOptions configures an API.
type APIOptions struct {
	// Authenticator identifies users (required): every route needs one.
	Authenticator Authenticator
	// Users finds the user workflows:execute acts for (its userId). Default:
	// the Authenticator, if it is also a UserDirectory (Tokens is).
	Users UserDirectory
	// AdminRoles may use the workflows:* and executions:* routes, and do
	// everything on records without grants. Default: "root" and "admin".
	AdminRoles []string
	// Grants allow the other roles actions on records (see Grant). Without a
	// grant a non-admin role gets 403 on every record route: an API with no
	// Grants serves records to admin roles only. Invalid grants make NewAPI
	// fail with ErrInvalidGrant.
	Grants []Grant
	// Prefix the routes live under. Default "/api/".
	Prefix string
	// MaxBodyBytes limits request bodies (413 beyond). Default 1 MiB.
	MaxBodyBytes int64
	// Logger receives server errors. Default: slog.Default().
	Logger *slog.Logger
}

// API serves the reference system's HTTP routes for the collections kept in
// the engine's store (see the package documentation and docs/http.md). Create
// it with NewAPI; it is an http.Handler, safe for concurrent use.
//
// Records are written and the action's workflows run in one unit of work of
// the store: a create or update that fails writes nothing, and the sync
// workflows' executions commit with the record. As in the reference system, a
// record stays written when a sync workflow then refuses the action (the
// response is the refusal).
type API struct {
	eng    *actiontrigger.Engine
	opts   APIOptions
	log    *slog.Logger
	grants grants
}

// NewAPI returns the API for eng. It needs an Authenticator; invalid
// APIOptions.Grants are ErrInvalidGrant.
func NewAPI(eng *actiontrigger.Engine, opts APIOptions) (*API, error) {
	if eng == nil {
		return nil, errors.New("httptrigger: NewAPI: nil engine")
	}
	if opts.Authenticator == nil {
		return nil, errors.New("httptrigger: NewAPI: an Authenticator is required")
	}
	if opts.Users == nil {
		opts.Users, _ = opts.Authenticator.(UserDirectory)
	}
	if opts.AdminRoles == nil {
		opts.AdminRoles = []string{"root", "admin"}
	}
	if opts.Prefix == "" {
		opts.Prefix = "/api/"
	}
	if !strings.HasSuffix(opts.Prefix, "/") {
		opts.Prefix += "/"
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	gs, err := compileGrants(eng, opts.Grants)
	if err != nil {
		return nil, err
	}
	return &API{eng: eng, opts: opts, log: log, grants: gs}, nil
}

// route is a parsed "/api/..." path.
type route struct {
	resource string // "posts", "categories.posts", "workflows"
	source   string // the association's source key ("1" of categories/1/posts)
	tk       string // a key given in the path (posts/1:get)
	action   string
}

// parseRoute reads "<resource>:<action>", "<resource>/<tk>:<action>" and
// "<source>/<id>/<target>:<action>".
func parseRoute(p string) (route, bool) {
	segs := strings.Split(p, "/")
	last := segs[len(segs)-1]
	name, action, ok := strings.Cut(last, ":")
	if !ok || action == "" || name == "" {
		return route{}, false
	}
	switch len(segs) {
	case 1:
		return route{resource: name, action: action}, true
	case 2: // posts/1:get
		if segs[0] == "" || name == "" {
			return route{}, false
		}
		return route{resource: segs[0], tk: name, action: action}, true
	case 3: // categories/1/posts:create
		if segs[0] == "" || segs[1] == "" || strings.Contains(segs[0], ".") {
			return route{}, false
		}
		return route{resource: segs[0] + "." + name, source: segs[1], action: action}, true
	}
	return route{}, false
}

// ServeHTTP authenticates the request and dispatches it to its route.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := strings.CutPrefix(r.URL.Path, a.opts.Prefix)
	if !ok {
		a.fail(w, r, fmt.Errorf("%s: %w", r.URL.Path, ErrNoRoute))
		return
	}
	rt, ok := parseRoute(p)
	if !ok {
		a.fail(w, r, fmt.Errorf("%s: not a <resource>:<action> route: %w", r.URL.Path, ErrNoRoute))
		return
	}
	u, err := identify(a.opts.Authenticator, r, true)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	switch rt.resource {
	case "workflows":
		err = a.workflows(w, r, u, rt)
	case "executions":
		err = a.executions(w, r, u, rt)
	case "workflowManualTasks":
		err = a.tasks(w, r, u, rt)
	default:
		err = a.records(w, r, u, rt)
	}
	if err != nil {
		a.fail(w, r, err)
	}
}

// fail answers err. A request refused before its body was read (a bad
// token, a bad binding, no grant) has the rest of its body drained, up to
// MaxBodyBytes, so that the client reads the error rather than a connection
// reset and the connection stays usable; a longer body closes the connection
// after the response (Connection: close).
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var tooBig *http.MaxBytesError
	if r.Body != nil && r.Body != http.NoBody && !errors.As(err, &tooBig) {
		n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, a.opts.MaxBodyBytes+1))
		if n > a.opts.MaxBodyBytes {
			w.Header().Set("Connection", "close")
		}
	}
	writeError(w, r, a.log, err)
}

// methods checks r's method against the action: reads take GET or POST,
// writes POST (update also PUT and PATCH).
func methods(r *http.Request, action string) error {
	ok := false
	switch action {
	case "list", "get", "listMine":
		ok = r.Method == http.MethodGet || r.Method == http.MethodPost
	case "update":
		ok = r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch
	default:
		ok = r.Method == http.MethodPost
	}
	if !ok {
		return fmt.Errorf("%s on %s: %w", r.Method, action, ErrMethodNotAllowed)
	}
	return nil
}

// readJSON decodes the request body into v. It accepts application/json
// (and +json types), no content type, and application/x-www-form-urlencoded
// when the body is a JSON document, which is what `curl -d '{...}'` sends.
// It reports whether there was a body.
func (a *API) readJSON(w http.ResponseWriter, r *http.Request, v any) (bool, error) {
	return a.decodeBody(w, r, v, false)
}

// readValues reads a record's values: a JSON object whose numbers are
// decoded exactly (exactValues), with no NUL character in its text.
func (a *API) readValues(w http.ResponseWriter, r *http.Request) (map[string]any, bool, error) {
	var values map[string]any
	ok, err := a.decodeBody(w, r, &values, true)
	if err != nil || !ok || values == nil {
		return nil, ok, err
	}
	if err := exactValues(values, ""); err != nil {
		return nil, false, err
	}
	return values, true, nil
}

func (a *API) decodeBody(w http.ResponseWriter, r *http.Request, v any, useNumber bool) (bool, error) {
	form := false
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		switch {
		case err != nil:
			return false, fmt.Errorf("content type %q: %w", ct, ErrUnsupportedMediaType)
		case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		case mt == "application/x-www-form-urlencoded":
			form = true
		default:
			return false, fmt.Errorf("content type %q: %w", mt, ErrUnsupportedMediaType)
		}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return false, fmt.Errorf("request body over %d bytes: %w", tooBig.Limit, err)
		}
		return false, fmt.Errorf("reading the body: %w", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if useNumber {
		dec.UseNumber()
	}
	if err := dec.Decode(v); err != nil {
		if form {
			return false, fmt.Errorf("a form body that is not JSON: %w", ErrUnsupportedMediaType)
		}
		return false, fmt.Errorf("malformed JSON body: %v: %w", err, ErrBadRequest)
	}
	if dec.More() {
		return false, fmt.Errorf("malformed JSON body: data after the document: %w", ErrBadRequest)
	}
	return true, nil
}

// requireAdmin checks that u acts under an admin role.
func (a *API) requireAdmin(u *actiontrigger.User, rt route) error {
	if slices.Contains(a.opts.AdminRoles, u.Role) {
		return nil
	}
	return fmt.Errorf("%s:%s needs one of the roles %v (acting as %q): %w", rt.resource, rt.action, a.opts.AdminRoles, u.Role, ErrRoleNotAllowed)
}

// maxOffset bounds the records a page may skip, (page-1)*pageSize, so that
// it cannot overflow.
const maxOffset = 1 << 31

// page reads page (from 1) and pageSize (default 20, at most 1000).
func page(r *http.Request) (pg, size int, err error) {
	q := r.URL.Query()
	pg, size = 1, 20
	if s := q.Get("page"); s != "" {
		if pg, err = strconv.Atoi(s); err != nil || pg < 1 {
			return 0, 0, fmt.Errorf("page %q: want a number from 1: %w", s, ErrBadRequest)
		}
	}
	if s := q.Get("pageSize"); s != "" {
		if size, err = strconv.Atoi(s); err != nil || size < 1 || size > 1000 {
			return 0, 0, fmt.Errorf("pageSize %q: want 1 to 1000: %w", s, ErrBadRequest)
		}
	}
	if pg-1 > maxOffset/size {
		return 0, 0, fmt.Errorf("page %d: beyond the last possible page: %w", pg, ErrBadRequest)
	}
	return pg, size, nil
}

// filterParam decodes the "filter" query parameter (a JSON object); nil if absent.
func filterParam(r *http.Request) (map[string]any, error) {
	s := r.URL.Query().Get("filter")
	if s == "" {
		return nil, nil
	}
	var f map[string]any
	if err := json.Unmarshal([]byte(s), &f); err != nil || f == nil {
		return nil, fmt.Errorf("filter %q: want a JSON object: %w", s, ErrBadRequest)
	}
	return f, nil
}

// tkParam returns filterByTk from the path or the query; "" if absent.
func tkParam(r *http.Request, rt route) string {
	if rt.tk != "" {
		return rt.tk
	}
	return r.URL.Query().Get("filterByTk")
}

// listParam reads a list parameter given as "a,b", repeated, or "name[]".
func listParam(r *http.Request, name string) []string {
	q := r.URL.Query()
	var out []string
	for _, v := range append(q[name], q[name+"[]"]...) {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

type dataBody struct {
	Data     any `json:"data"`
	Meta     any `json:"meta,omitempty"`
	Messages any `json:"messages,omitempty"`
}

type pageMeta struct {
	Count     int `json:"count"`
	Page      int `json:"page"`
	PageSize  int `json:"pageSize"`
	TotalPage int `json:"totalPage"`
}

func pageOf[T any](items []T, pg, size int) ([]T, pageMeta) {
	meta := pageMeta{Count: len(items), Page: pg, PageSize: size, TotalPage: (len(items) + size - 1) / size}
	from := min((pg-1)*size, len(items))
	to := min(from+size, len(items))
	out := items[from:to]
	if out == nil {
		out = []T{}
	}
	return out, meta
}

// MaxFilterValues caps the values a record filter may list in all (in
// field: [values] and $in): a longer list is a 400 stating the limit, rather
// than a query over the database's parameter limit.
const MaxFilterValues = 1000

// exactValues rewrites, in place, the json.Numbers of a decoded document
// (UseNumber) into int64 for integers (exact up to the int64 limits, where
// float64 would round 9007199254740993) and float64 for the others, and
// refuses text holding a NUL character, which PostgreSQL cannot store and
// SQLite would: the same 400, naming the field, on every store. path names
// the member for the error.
func exactValues(v any, path string) error {
	name := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if strings.ContainsRune(k, 0) {
				return fmt.Errorf("field %q: a NUL character in a name: %w", name(k), ErrBadRequest)
			}
			n, err := exactValue(e, name(k))
			if err != nil {
				return err
			}
			x[k] = n
		}
	case []any:
		for i, e := range x {
			n, err := exactValue(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return err
			}
			x[i] = n
		}
	}
	return nil
}

func exactValue(v any, path string) (any, error) {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i, nil
		}
		if !strings.ContainsAny(string(x), ".eE") {
			return nil, fmt.Errorf("field %q: the integer %s is beyond the 64-bit range: %w", path, x, ErrBadRequest)
		}
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, fmt.Errorf("field %q: the number %s is out of range: %w", path, x, ErrBadRequest)
		}
		return f, nil
	case string:
		if strings.ContainsRune(x, 0) {
			return nil, fmt.Errorf("field %q: text with a NUL character (\\u0000) cannot be stored: %w", path, ErrBadRequest)
		}
	case map[string]any, []any:
		return v, exactValues(v, path)
	}
	return v, nil
}
