package httptrigger

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
)

// The reference system's messages for sync workflows that stop an action.
const (
	MessageFailed = "Workflow on your action failed, please contact the administrator"
	MessageHangs  = "Workflow on your action hangs, please contact the administrator"
)

// Errors of the HTTP layer. Each maps to one status code (StatusCode).
var (
	// ErrBadRequest: the request is malformed (bad JSON, a missing parameter,
	// an unsupported filter). HTTP 400.
	ErrBadRequest = errors.New("bad request")
	// ErrRoleNotAllowed: X-Role names a role the user does not have, or the
	// route needs a role the user is not acting under. HTTP 403.
	ErrRoleNotAllowed = errors.New("role not allowed")
	// ErrUnsupportedMediaType: the body is not JSON. HTTP 415.
	ErrUnsupportedMediaType = errors.New("unsupported media type: send application/json")
	// ErrNoRoute: no route for the path, or an unknown collection. HTTP 404.
	ErrNoRoute = errors.New("no such resource")
	// ErrMethodNotAllowed: the route exists but not for this method. HTTP 405.
	ErrMethodNotAllowed = errors.New("method not allowed")
)

// MaxBindingErrors caps the bad triggerWorkflows entries an error response
// lists one by one; an item after them counts the rest. A request naming
// 80,000 unknown keys gets a short answer, not megabytes.
const MaxBindingErrors = 20

// ErrorBody is the reference system's error response: {"errors": [...]}.
type ErrorBody struct {
	Errors []ErrorItem `json:"errors"`
}

// ErrorItem is one error of an ErrorBody. Key, Path and Reason are set for
// a bad triggerWorkflows entry.
type ErrorItem struct {
	Message string `json:"message"`
	Key     string `json:"key,omitempty"`
	Path    string `json:"path,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// StatusCode maps an error of actiontrigger or of this package to the HTTP
// status the reference system answers with (see the package documentation):
// a *actiontrigger.SyncError of kind "rejected" is 400 and any other kind 500;
// ErrBinding, invalid workflows, unknown fields and bad submissions 400;
// ErrUnauthenticated 401; ErrForbidden and ErrRoleNotAllowed 403; not-found
// errors and unknown collections 404; duplicates and conflicts 409; a body
// over the limit 413; anything else 500.
func StatusCode(err error) int {
	var se *actiontrigger.SyncError
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &se):
		if se.Kind == actiontrigger.SyncRejected {
			return http.StatusBadRequest
		}
		return http.StatusInternalServerError
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, actiontrigger.ErrBinding), errors.Is(err, flow.ErrInvalidWorkflow):
		// Before the not-found cases: a bad binding or workflow document may
		// wrap flow.ErrUnknownCollection (an undeclared collection in a
		// workflow's config), which is the client's mistake, not a missing
		// resource.
		return http.StatusBadRequest
	case errors.Is(err, actiontrigger.ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, actiontrigger.ErrForbidden), errors.Is(err, ErrRoleNotAllowed):
		return http.StatusForbidden
	case errors.Is(err, ErrNoRoute), errors.Is(err, flow.ErrUnknownCollection), errors.Is(err, flow.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrMethodNotAllowed):
		return http.StatusMethodNotAllowed
	case errors.Is(err, ErrUnsupportedMediaType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, ErrBadRequest), errors.Is(err, flow.ErrFrozen),
		errors.Is(err, flow.ErrUnknownField), errors.Is(err, flow.ErrInvalidRecord),
		errors.Is(err, actiontrigger.ErrInvalidSubmission), errors.Is(err, actiontrigger.ErrExecutionTimedOut),
		errors.Is(err, actiontrigger.ErrExecutionEnded),
		errors.Is(err, actiontrigger.ErrNotRetryable):
		return http.StatusBadRequest
	case errors.Is(err, flow.ErrDuplicate), errors.Is(err, flow.ErrConflict):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// ErrorResponse returns the status code and body for err, shaped as the
// reference system's: the response messages of a rejecting end node, the
// reference's fixed message for other sync failures, one item per bad
// triggerWorkflows entry (the first MaxBindingErrors, then a count), and err's text for other client errors. Server
// errors other than sync outcomes get a generic message: their detail
// belongs in the log, not in the response.
func ErrorResponse(err error) (int, ErrorBody) {
	code := StatusCode(err)
	var se *actiontrigger.SyncError
	var be *actiontrigger.BindingError
	body := ErrorBody{Errors: []ErrorItem{}}
	switch {
	case errors.As(err, &se):
		switch se.Kind {
		case actiontrigger.SyncRejected:
			for _, m := range se.Messages {
				body.Errors = append(body.Errors, ErrorItem{Message: m.Message})
			}
		case actiontrigger.SyncPending:
			body.Errors = append(body.Errors, ErrorItem{Message: MessageHangs})
		default:
			body.Errors = append(body.Errors, ErrorItem{Message: MessageFailed})
		}
	case errors.As(err, &be):
		for _, p := range be.Problems[:min(len(be.Problems), MaxBindingErrors)] {
			b := actiontrigger.Binding{Key: p.Key, Path: p.Path}
			body.Errors = append(body.Errors, ErrorItem{
				Message: "triggerWorkflows: " + b.String() + ": " + p.Reason,
				Key:     p.Key, Path: p.Path, Reason: p.Reason,
			})
		}
		if more := len(be.Problems) - MaxBindingErrors; more > 0 {
			body.Errors = append(body.Errors, ErrorItem{Message: fmt.Sprintf("triggerWorkflows: %d more bad entries not listed (%d in all)", more, len(be.Problems))})
		}
		if len(be.Problems) == 0 {
			body.Errors = append(body.Errors, ErrorItem{Message: be.Error()})
		}
	case code >= 500:
		body.Errors = append(body.Errors, ErrorItem{Message: http.StatusText(code)})
	default:
		body.Errors = append(body.Errors, ErrorItem{Message: err.Error()})
	}
	return code, body
}

// WriteError writes err as ErrorResponse shapes it. Hosts that call
// Engine.AfterAction themselves can answer with it.
func WriteError(w http.ResponseWriter, err error) {
	code, body := ErrorResponse(err)
	writeErrorBody(w, code, body)
}

// writeErrorBody writes an error response; a 401 names the scheme it wants
// (RFC 9110 requires WWW-Authenticate on a 401).
func writeErrorBody(w http.ResponseWriter, code int, body ErrorBody) {
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	writeJSON(w, code, body)
}

// writeError writes err and logs server errors.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code, body := ErrorResponse(err)
	if code >= 500 {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "status", code, "err", err)
	}
	writeErrorBody(w, code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"errors":[{"message":"Internal Server Error"}]}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
