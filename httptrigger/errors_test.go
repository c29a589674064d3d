package httptrigger_test

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/httptrigger"
	"github.com/actiontrigger/actiontrigger/nodes"
)

func TestStatusCode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		code int
	}{
		{nil, 200},
		{&actiontrigger.SyncError{Kind: actiontrigger.SyncRejected}, 400},
		{&actiontrigger.SyncError{Kind: actiontrigger.SyncFailed, Err: flow.ErrNotFound}, 500},
		{&actiontrigger.SyncError{Kind: actiontrigger.SyncPending}, 500},
		// A bad binding or workflow may wrap an unknown collection: still the
		// client's mistake (400), not a missing resource (404).
		{&actiontrigger.BindingError{Problems: []actiontrigger.BindingProblem{{Key: "k", Reason: "r", Err: flow.ErrUnknownCollection}}}, 400},
		{fmt.Errorf("%w: %w", flow.ErrInvalidWorkflow, flow.ErrUnknownCollection), 400},
		{fmt.Errorf("x: %w", flow.ErrUnknownCollection), 404},
		{fmt.Errorf("x: %w", flow.ErrNotFound), 404},
		{fmt.Errorf("x: %w", actiontrigger.ErrUnauthenticated), 401},
		{fmt.Errorf("x: %w", actiontrigger.ErrForbidden), 403},
		{fmt.Errorf("x: %w", httptrigger.ErrRoleNotAllowed), 403},
		{fmt.Errorf("x: %w", actiontrigger.ErrInvalidSubmission), 400},
		{fmt.Errorf("x: %w", actiontrigger.ErrExecutionEnded), 400},
		{fmt.Errorf("x: %w", flow.ErrFrozen), 400},
		{fmt.Errorf("x: %w", flow.ErrDuplicate), 409},
		{fmt.Errorf("x: %w", &http.MaxBytesError{Limit: 1}), 413},
		{fmt.Errorf("x: %w", httptrigger.ErrUnsupportedMediaType), 415},
		{fmt.Errorf("x: %w", httptrigger.ErrMethodNotAllowed), 405},
		{errors.New("disk on fire"), 500},
	}
	for _, c := range cases {
		require.Equal(t, c.code, httptrigger.StatusCode(c.err), "%v", c.err)
	}
}

func TestErrorResponse(t *testing.T) {
	t.Parallel()
	code, body := httptrigger.ErrorResponse(&actiontrigger.SyncError{Kind: actiontrigger.SyncRejected,
		Messages: []nodes.Message{{Message: "a"}, {Message: "b"}}})
	require.Equal(t, 400, code)
	require.Equal(t, []httptrigger.ErrorItem{{Message: "a"}, {Message: "b"}}, body.Errors)

	code, body = httptrigger.ErrorResponse(&actiontrigger.SyncError{Kind: actiontrigger.SyncRejected})
	require.Equal(t, 400, code)
	require.NotNil(t, body.Errors)
	require.Empty(t, body.Errors)

	code, body = httptrigger.ErrorResponse(&actiontrigger.BindingError{Problems: []actiontrigger.BindingProblem{
		{Key: "k1", Reason: "no enabled workflow with this key"}, {Key: "k2", Path: "category", Reason: "mismatch"}}})
	require.Equal(t, 400, code)
	require.Equal(t, []httptrigger.ErrorItem{
		{Message: "triggerWorkflows: k1: no enabled workflow with this key", Key: "k1", Reason: "no enabled workflow with this key"},
		{Message: "triggerWorkflows: k2!category: mismatch", Key: "k2", Path: "category", Reason: "mismatch"},
	}, body.Errors)

	// Server errors do not leak their detail.
	code, body = httptrigger.ErrorResponse(errors.New("password=hunter2"))
	require.Equal(t, 500, code)
	require.Equal(t, []httptrigger.ErrorItem{{Message: "Internal Server Error"}}, body.Errors)
}
