package console

import (
	"bytes"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/httptrigger"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Errors of the console's own checks. Both answer 403 and change nothing.
var (
	// ErrCSRF: a POST without the CSRF token of the signed-in session (a
	// form from another site, or from before the session changed).
	ErrCSRF = errors.New("console: missing or wrong CSRF token")
	// ErrCrossOrigin: a POST a browser marked as sent from another origin.
	ErrCrossOrigin = errors.New("console: cross-origin request")
)

// errBadInput is a form value the console cannot read (400).
var errBadInput = errors.New("bad input")

// ContentSecurityPolicy is the policy sent with every response: no script
// of any kind, styles and images from the console itself, forms posting
// only to it, and no framing.
const ContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Options configures a Console.
type Options struct {
	// Prefix is the path the console is mounted at, with or without a
	// trailing slash ("/actiontrigger/"); default "/". Links and the cookie
	// path are built from it. The handler accepts request paths with the
	// prefix (mux.Handle(prefix, c)) and without it (behind
	// http.StripPrefix): set it to the public prefix either way.
	Prefix string
	// Secret keys the CSRF tokens (HMAC-SHA256). Default: 32 random bytes
	// drawn by New, so forms rendered before a restart are refused after it,
	// and replicas behind one address need the same Secret.
	Secret []byte
	// SecureCookies marks the cookies Secure even on plain HTTP requests,
	// for a console behind a proxy that terminates TLS. Requests that came
	// over TLS always get Secure cookies.
	SecureCookies bool
	// Title names the console in its header and page titles. Default
	// "actiontrigger".
	Title string
	// PageSize is the length of the lists' pages. Default 25.
	PageSize int
	// Logger receives server errors. Default: slog.Default().
	Logger *slog.Logger
}

// Console is the web console's http.Handler. Create it with New; it is safe
// for concurrent use.
type Console struct {
	eng    *actiontrigger.Engine
	api    *httptrigger.API
	opts   Options
	base   string
	log    *slog.Logger
	mux    *http.ServeMux
	pages  map[string]*template.Template
	static http.Handler
	cop    *http.CrossOriginProtection
}

// New returns the console of eng. api gives the access rules: its
// Authenticator, role choice and admin roles decide who may sign in and
// what they see, as on the API's routes.
func New(eng *actiontrigger.Engine, api *httptrigger.API, opts Options) (*Console, error) {
	if eng == nil || api == nil {
		return nil, errors.New("console: New needs an engine and its httptrigger.API")
	}
	base := "/" + strings.Trim(opts.Prefix, "/") + "/"
	if base == "//" {
		base = "/"
	}
	opts.Prefix = base
	if len(opts.Secret) == 0 {
		opts.Secret = make([]byte, 32)
		if _, err := rand.Read(opts.Secret); err != nil {
			return nil, fmt.Errorf("console: secret: %w", err)
		}
	}
	if opts.Title == "" {
		opts.Title = "actiontrigger"
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 25
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	c := &Console{eng: eng, api: api, opts: opts, base: base, log: log, pages: pages,
		static: http.StripPrefix("/static/", http.FileServerFS(static)), cop: http.NewCrossOriginProtection()}
	c.routes()
	return c, nil
}

func (c *Console) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", c.page(func(w http.ResponseWriter, r *http.Request, s *session) error {
		http.Redirect(w, r, c.base+"tasks", http.StatusSeeOther)
		return nil
	}))
	m.HandleFunc("GET /signin", c.signinPage)
	m.HandleFunc("POST /signin", c.signin)
	m.HandleFunc("POST /signout", c.action(c.signout))
	m.HandleFunc("GET /tasks", c.page(c.inbox))
	m.HandleFunc("GET /tasks/{id}", c.page(c.taskPage))
	m.HandleFunc("POST /tasks/{id}", c.action(c.submitTask))
	m.HandleFunc("GET /workflows", c.page(c.workflowsPage))
	m.HandleFunc("GET /workflows/{key}", c.page(c.workflowPage))
	m.HandleFunc("POST /workflows/{key}/retry", c.action(c.retryFailed))
	m.HandleFunc("GET /executions", c.page(c.executionsPage))
	m.HandleFunc("GET /executions/{id}", c.page(c.executionPage))
	m.HandleFunc("POST /executions/{id}/cancel", c.action(c.cancelExecution))
	m.HandleFunc("POST /executions/{id}/retry", c.action(c.retryExecution))
	m.Handle("GET /static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		c.static.ServeHTTP(w, r)
	}))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, nil, fmt.Errorf("no page at %s: %w", r.URL.Path, httptrigger.ErrNoRoute))
	})
	c.mux = m
}

// ServeHTTP serves the console. Every response carries the security
// headers; paths are read relative to Options.Prefix.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	p := r.URL.Path
	rest, ok := strings.CutPrefix(p, c.base)
	if !ok {
		if p+"/" == c.base {
			http.Redirect(w, r, c.base, http.StatusMovedPermanently)
			return
		}
		// Behind http.StripPrefix: the path is already relative.
		rest = strings.TrimPrefix(p, "/")
	}
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path, u.RawPath = "/"+rest, ""
	r2.URL = &u
	c.mux.ServeHTTP(w, r2)
}

// page wraps a GET handler: it needs a signed-in user (else a redirect to
// the sign-in page) and renders the error page for a returned error.
func (c *Console) page(fn func(http.ResponseWriter, *http.Request, *session) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		s, err := c.session(r)
		if err != nil {
			if code := statusOf(err); code == http.StatusUnauthorized || code == http.StatusForbidden {
				c.toSignin(w, r, err)
			} else {
				c.fail(w, r, nil, err)
			}
			return
		}
		if err := fn(w, r, s); err != nil {
			c.fail(w, r, s, err)
		}
	}
}

// action wraps a POST handler: a same-origin request of a signed-in user
// carrying the session's CSRF token; anything else is refused before fn
// runs.
func (c *Console) action(fn func(http.ResponseWriter, *http.Request, *session) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := c.cop.Check(r); err != nil {
			c.fail(w, r, nil, fmt.Errorf("%w: %v", ErrCrossOrigin, err))
			return
		}
		s, err := c.session(r)
		if err != nil {
			c.fail(w, r, nil, err)
			return
		}
		if err := r.ParseForm(); err != nil {
			c.fail(w, r, s, fmt.Errorf("reading the form: %v: %w", err, errBadInput))
			return
		}
		if !c.validCSRF(s, r.PostForm.Get("csrf")) {
			c.fail(w, r, s, ErrCSRF)
			return
		}
		if err := fn(w, r, s); err != nil {
			c.fail(w, r, s, err)
		}
	}
}

// statusOf maps an error to its HTTP status: the API's mapping
// (httptrigger.StatusCode) plus the console's own errors.
func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrCSRF), errors.Is(err, ErrCrossOrigin):
		return http.StatusForbidden
	case errors.Is(err, errBadInput):
		return http.StatusBadRequest
	}
	return httptrigger.StatusCode(err)
}

// fail renders the error page for err (s may be nil).
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	code := statusOf(err)
	msg := errorMessage(err, code)
	if code >= 500 {
		c.log.Error("console", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	c.render(w, http.StatusText(code), code, "error", &view{S: s, Data: errorView{Status: code, Message: msg}})
}

// errorMessage is what a user reads for err: the cause for client errors,
// a generic line for server errors (logged instead).
func errorMessage(err error, code int) string {
	switch {
	case errors.Is(err, ErrCSRF):
		return "This form has expired or came from another page. Reload the page and try again."
	case errors.Is(err, ErrCrossOrigin):
		return "This form was sent from another site and was refused."
	case errors.Is(err, httptrigger.ErrRoleNotAllowed):
		return "Your role may not open this page: " + err.Error()
	case errors.Is(err, actiontrigger.ErrForbidden):
		return "You are not an assignee of this task: " + err.Error()
	case code == http.StatusNotFound:
		return "Not found: " + err.Error()
	case code >= 500:
		return "Something went wrong on the server; it has been logged."
	}
	return err.Error()
}

// view is what every page template gets.
type view struct {
	Base     string
	AppTitle string
	Title    string
	Nav      string
	S        *session
	CSRF     string
	Flash    string
	Error    string
	Data     any
}

type errorView struct {
	Status  int
	Message string
}

// render executes page name into a buffer and writes it with status.
func (c *Console) render(w http.ResponseWriter, title string, status int, name string, v *view) {
	v.Base, v.AppTitle, v.Title = c.base, c.opts.Title, title
	if v.S != nil {
		v.CSRF = v.S.csrf
	}
	var buf bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		c.log.Error("console: render", "page", name, "err", err)
		http.Error(w, "render error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
