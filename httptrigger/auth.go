package httptrigger

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
)

// Principal is an authenticated user and the roles they may act under.
type Principal struct {
	// User is the acting user; its Role is set from the request (X-Role, or
	// the first of Roles).
	User actiontrigger.User
	// Roles the user may act under; the first is the default.
	Roles []string
}

// Authenticator identifies the user a request acts as. It returns nil and no
// error when the request carries no credentials (an anonymous request), and an
// error wrapping actiontrigger.ErrUnauthenticated when it carries bad ones.
type Authenticator interface {
	Authenticate(r *http.Request) (*Principal, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) (*Principal, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (*Principal, error) { return f(r) }

// UserDirectory finds users by id, for routes that act for another user
// (workflows:execute's userId).
type UserDirectory interface {
	LookupUser(ctx context.Context, id any) (*Principal, error)
}

// BearerToken returns the request's token: the "Authorization: Bearer"
// header, else the "token" query parameter; "" if there is none.
func BearerToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	return r.URL.Query().Get("token")
}

// Tokens is a static Authenticator and UserDirectory: bearer tokens mapped to
// principals. It suits tests, demos and small internal servers; production
// hosts plug in their own session or JWT check.
type Tokens map[string]Principal

// Authenticate looks the request's BearerToken up. No token: anonymous (nil,
// nil). An unknown token: ErrUnauthenticated.
func (t Tokens) Authenticate(r *http.Request) (*Principal, error) {
	tok := BearerToken(r)
	if tok == "" {
		return nil, nil
	}
	for k, p := range t {
		if subtle.ConstantTimeCompare([]byte(k), []byte(tok)) == 1 {
			return &p, nil
		}
	}
	return nil, fmt.Errorf("invalid token: %w", actiontrigger.ErrUnauthenticated)
}

// LookupUser finds the principal whose user id equals id (compared as
// flow.UserKey, so 2, 2.0 and "2" match); flow.ErrNotFound if none.
func (t Tokens) LookupUser(_ context.Context, id any) (*Principal, error) {
	want := flow.UserKey(id)
	for _, p := range t {
		if want != "" && flow.UserKey(p.User.ID) == want {
			return &p, nil
		}
	}
	return nil, fmt.Errorf("user %v: %w", id, flow.ErrNotFound)
}

// identify authenticates r and picks its role: X-Role if the user has it,
// else the principal's first role. It returns nil for an anonymous request
// (unless required, which makes that ErrUnauthenticated).
func identify(a Authenticator, r *http.Request, required bool) (*actiontrigger.User, error) {
	var p *Principal
	if a != nil {
		var err error
		if p, err = a.Authenticate(r); err != nil {
			return nil, err
		}
	}
	if p == nil {
		if required {
			return nil, fmt.Errorf("no credentials: send Authorization: Bearer <token>: %w", actiontrigger.ErrUnauthenticated)
		}
		return nil, nil
	}
	u := p.User
	u.Role = ""
	if len(p.Roles) > 0 {
		u.Role = p.Roles[0]
	}
	if role := r.Header.Get("X-Role"); role != "" {
		if !slices.Contains(p.Roles, role) {
			return nil, fmt.Errorf("X-Role %q is not one of the user's roles %v: %w", role, p.Roles, ErrRoleNotAllowed)
		}
		u.Role = role
	}
	return &u, nil
}

type userKey struct{}

// WithUser returns ctx carrying user, for hosts whose own authentication runs
// before the Middleware: the Middleware acts as that user when it has no
// Authenticator.
func WithUser(ctx context.Context, user actiontrigger.User) context.Context {
	return context.WithValue(ctx, userKey{}, user)
}

// UserFrom returns the user WithUser (or the Middleware, after
// authenticating) put in ctx.
func UserFrom(ctx context.Context) (actiontrigger.User, bool) {
	u, ok := ctx.Value(userKey{}).(actiontrigger.User)
	return u, ok
}
