package httptrigger

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/actiontrigger/actiontrigger"
)

// Options configures a Middleware.
type Options struct {
	// Authenticator identifies the acting user. Nil: the user is the one
	// WithUser put in the request's context (an earlier middleware of the
	// host's), or anonymous.
	Authenticator Authenticator
	// RequireAuth answers 401 to requests without a user.
	RequireAuth bool
	// Logger receives server errors. Default: slog.Default().
	Logger *slog.Logger
	// Transaction runs the handler and the workflows in one unit of work of
	// the engine's store (actiontrigger.Engine.InTx): the handler writes its
	// record through Tx(r) (the *sql.Tx of a SQL store) or through
	// Engine.Records() with r.Context() (any store), and the async workflows'
	// executions are queued in the same transaction, which commits before the
	// response is sent. A crash at any point leaves either the record and its
	// queued executions, or neither. The unit of work rolls back when the
	// handler answers other than 2xx, panics, or AfterAction fails on the
	// store; when a sync workflow stops the action it commits (the reference
	// system keeps the record) unless RollbackOnRefusal, also when the
	// handler called AfterAction itself and answers the refusal. Every write of the
	// handler must go through the unit of work: on SQLite and the memory
	// store the request holds the single writer lock, so a write through
	// eng.Store() instead waits for it forever.
	// Without Transaction the handler commits on its own and AfterAction runs
	// after it: a crash in between loses the action's async events.
	Transaction bool
	// RollbackOnRefusal, with Transaction, rolls the handler's writes back
	// too when a sync workflow stops the action (rejected, failed or pending).
	RollbackOnRefusal bool
}

// Middleware adds post-action workflows to host handlers. Create it with
// NewMiddleware; it is safe for concurrent use.
type Middleware struct {
	eng  *actiontrigger.Engine
	opts Options
	log  *slog.Logger
}

// NewMiddleware returns a Middleware running eng's workflows.
func NewMiddleware(eng *actiontrigger.Engine, opts Options) *Middleware {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Middleware{eng: eng, opts: opts, log: log}
}

// Action returns the middleware for a route whose handler performs action
// (actiontrigger.ActionCreate or ActionUpdate) on collection ("posts", or
// "another:posts" for another data source).
//
// Before the handler runs, it authenticates the request (when the Middleware
// has an Authenticator) and checks the triggerWorkflows query parameter with
// Engine.CheckBinding: a bad binding is answered 400 and the handler never
// runs. The handler's response is buffered. If it is a 2xx, the records the
// handler gave to Report (or, if it reported none, the "data" member of its
// JSON response, or the whole JSON response) go to Engine.AfterAction, and
// the buffered response is sent only if the sync workflows let the action
// pass; otherwise the response is the sync outcome's error (StatusCode). On
// pass-through, response messages of sync workflows are added to a JSON
// object response as "messages".
func (m *Middleware) Action(collection, action string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			m.serve(w, r, collection, action, next)
		})
	}
}

// Wrap is Action(collection, action)(h).
func (m *Middleware) Wrap(collection, action string, h http.Handler) http.Handler {
	return m.Action(collection, action)(h)
}

func (m *Middleware) serve(w http.ResponseWriter, r *http.Request, collection, name string, next http.Handler) {
	ctx := r.Context()
	var user actiontrigger.User
	if m.opts.Authenticator != nil {
		u, err := identify(m.opts.Authenticator, r, m.opts.RequireAuth)
		if err != nil {
			writeError(w, r, m.log, err)
			return
		}
		if u != nil {
			user = *u
			ctx = WithUser(ctx, user)
		}
	} else if u, ok := UserFrom(ctx); ok {
		user = u
	} else if m.opts.RequireAuth {
		writeError(w, r, m.log, actiontrigger.ErrUnauthenticated)
		return
	}
	action := actiontrigger.Action{Collection: collection, Name: name, TriggerWorkflows: r.URL.Query().Get("triggerWorkflows")}
	if err := m.eng.CheckBinding(action); err != nil {
		writeError(w, r, m.log, err)
		return
	}
	if !m.opts.Transaction {
		buf, res, _, err := m.run(ctx, r, action, user, next)
		if err != nil {
			writeError(w, r, m.log, err)
			return
		}
		buf.flush(w, messagesOf(res))
		return
	}
	var (
		buf     *bufferedWriter
		res     *actiontrigger.Result
		refusal error
	)
	err := m.eng.InTx(ctx, func(ctx context.Context) error {
		var (
			err        error
			ownRefusal bool
		)
		buf, res, ownRefusal, err = m.run(ctx, r, action, user, next)
		var se *actiontrigger.SyncError
		switch {
		case err == nil && (buf.code < 200 || buf.code > 299):
			if ownRefusal && !m.opts.RollbackOnRefusal {
				// The handler answers its own AfterAction's refusal: its
				// write stays, as when the Middleware triggers.
				return nil
			}
			return errHandlerFailed
		case errors.As(err, &se) && !m.opts.RollbackOnRefusal:
			refusal = err // the record stays written, as in the reference
			return nil
		}
		return err
	})
	switch {
	case errors.Is(err, errHandlerFailed):
		buf.flush(w, nil)
	case err != nil:
		writeError(w, r, m.log, err)
	case refusal != nil:
		writeError(w, r, m.log, refusal)
	default:
		buf.flush(w, messagesOf(res))
	}
}

// errHandlerFailed rolls back the unit of work of a handler that answered
// other than 2xx; its response is sent as it is.
var errHandlerFailed = errors.New("httptrigger: the handler did not succeed")

// run serves the request with next and, after a 2xx, runs the action's
// workflows, unless the handler ran them itself (it called AfterAction with
// the request's context). buf holds the handler's response; res is nil when
// nothing ran. ownRefusal reports that a sync workflow stopped an AfterAction
// call the handler made itself.
func (m *Middleware) run(ctx context.Context, r *http.Request, action actiontrigger.Action, user actiontrigger.User, next http.Handler) (buf *bufferedWriter, res *actiontrigger.Result, ownRefusal bool, err error) {
	st := &report{}
	ctx, rec := actiontrigger.WithRecorder(context.WithValue(ctx, reportKey{}, st))
	buf = &bufferedWriter{header: http.Header{}}
	next.ServeHTTP(buf, r.WithContext(ctx))
	if buf.code == 0 {
		buf.code = http.StatusOK
	}
	own := rec.Triggered(action.Collection, action.Name)
	for _, c := range own {
		var se *actiontrigger.SyncError
		ownRefusal = ownRefusal || errors.As(c.Err, &se)
	}
	if buf.code < 200 || buf.code > 299 {
		return buf, nil, ownRefusal, nil
	}
	if len(own) > 0 {
		// The handler triggered the workflows itself and answered with
		// their outcome: report its calls' messages, run nothing again.
		res := &actiontrigger.Result{}
		for _, c := range own {
			if c.Result != nil {
				res.Messages = append(res.Messages, c.Result.Messages...)
			}
		}
		return buf, res, ownRefusal, nil
	}
	records := st.records
	if !st.reported {
		records = recordsFromBody(buf)
	}
	if records == nil {
		return buf, nil, false, nil
	}
	res, err = m.eng.AfterAction(ctx, action, records, user)
	return buf, res, false, err
}

func messagesOf(res *actiontrigger.Result) any {
	if res == nil {
		return nil
	}
	return res.Messages
}

// Tx returns the *sql.Tx of the unit of work a Middleware with
// Options.Transaction runs the handler in (actiontrigger.SQLTx of the
// request's context): the handler writes its record through it, so the
// record and the workflows' queued executions commit together. ok is false
// outside such a middleware, or when the engine's store is not a SQL store;
// records of declared collections are then written with
// Engine.Records().CreateRecord(r.Context(), ...), which joins the unit of
// work on every store.
func Tx(r *http.Request) (tx *sql.Tx, ok bool) { return actiontrigger.SQLTx(r.Context()) }

type reportKey struct{}

type report struct {
	records  any
	reported bool
}

// Report tells the Middleware around r which record(s) the handler wrote: a
// map, a struct, or a slice of them (one event per record; an empty slice or
// nil triggers nothing). It returns false when r has no Middleware around it.
// A handler that calls AfterAction itself with r.Context() need not report:
// the Middleware sees that call, runs nothing again, and adds the call's
// messages to the response.
func Report(r *http.Request, records any) bool {
	st, ok := r.Context().Value(reportKey{}).(*report)
	if !ok {
		return false
	}
	st.records, st.reported = records, true
	return true
}

// recordsFromBody reads the records from a JSON response: its "data" member
// if it is an object holding one, else the whole document. Nil if the body is
// not JSON.
func recordsFromBody(b *bufferedWriter) any {
	if ct := b.header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		return nil
	}
	var doc any
	if err := json.Unmarshal(b.body.Bytes(), &doc); err != nil {
		return nil
	}
	if obj, ok := doc.(map[string]any); ok {
		if data, ok := obj["data"]; ok {
			return data
		}
	}
	return doc
}

// isJSON reports whether a content type is JSON: application/json or a
// +json type (application/vnd.api+json...), as the API accepts.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// bufferedWriter holds a handler's response until the sync workflows decide
// whether it is sent.
type bufferedWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.code == 0 {
		b.code = http.StatusOK
	}
	return b.body.Write(p)
}

// FlushError keeps http.ResponseController from flushing the real writer
// (and so sending the status) before the workflows ran.
func (b *bufferedWriter) FlushError() error { return nil }

// flush sends the buffered response, with messages added to a JSON object body.
func (b *bufferedWriter) flush(w http.ResponseWriter, messages any) {
	body := b.body.Bytes()
	if messages != nil {
		if isJSON(b.header.Get("Content-Type")) {
			var obj map[string]json.RawMessage
			if json.Unmarshal(body, &obj) == nil && obj != nil {
				if raw, err := json.Marshal(messages); err == nil && string(raw) != "null" && string(raw) != "[]" {
					obj["messages"] = raw
					if nb, err := json.Marshal(obj); err == nil {
						body = append(nb, '\n')
					}
				}
			}
		}
	}
	h := w.Header()
	for k, v := range b.header {
		h[k] = v
	}
	if h.Get("Content-Length") != "" {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(b.code)
	_, _ = w.Write(body)
}
