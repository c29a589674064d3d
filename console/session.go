package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/httptrigger"
)

// The console's cookies. All are HttpOnly and SameSite=Strict, scoped to
// the console's prefix.
const (
	// sessionCookie holds the signed-in user's token (base64url).
	sessionCookie = "at_session"
	// roleCookie holds the role chosen at sign-in (base64url), presented as
	// X-Role.
	roleCookie = "at_role"
	// signinCookie holds the nonce the sign-in form's CSRF token is bound to.
	signinCookie = "at_signin"
)

// session is a signed-in request's user.
type session struct {
	User  actiontrigger.User
	Admin bool
	Name  string
	csrf  string
}

// session authenticates r by the console's session cookie: its token goes
// to the API's Authenticator as "Authorization: Bearer", the role cookie as
// X-Role. Credentials the request carries itself (an Authorization header,
// a token parameter) are ignored: the console's forms are protected by a
// token bound to the cookie, so only the cookie may sign a request in.
func (c *Console) session(r *http.Request) (*session, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil, fmt.Errorf("not signed in: %w", actiontrigger.ErrUnauthenticated)
	}
	tok, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || len(tok) == 0 {
		return nil, fmt.Errorf("bad session cookie: %w", actiontrigger.ErrUnauthenticated)
	}
	role := ""
	if rc, err := r.Cookie(roleCookie); err == nil {
		b, err := base64.RawURLEncoding.DecodeString(rc.Value)
		if err != nil {
			return nil, fmt.Errorf("bad role cookie: %w", actiontrigger.ErrUnauthenticated)
		}
		role = string(b)
	}
	u, err := c.identify(r, string(tok), role)
	if err != nil {
		return nil, err
	}
	return &session{User: *u, Admin: c.api.IsAdmin(*u), Name: userName(*u), csrf: c.mac("session", ck.Value)}, nil
}

// identify asks the API who token (under role, if set) is, on a copy of r
// whose only credentials are those.
func (c *Console) identify(r *http.Request, token, role string) (*actiontrigger.User, error) {
	r2 := r.Clone(r.Context())
	r2.Header.Del("Authorization")
	r2.Header.Del("X-Role")
	q := r2.URL.Query()
	if q.Has("token") {
		q.Del("token")
		r2.URL.RawQuery = q.Encode()
	}
	r2.Header.Set("Authorization", "Bearer "+token)
	if role != "" {
		r2.Header.Set("X-Role", role)
	}
	return c.api.Identify(r2)
}

// mac returns the base64url HMAC-SHA256 of purpose and value under the
// console's secret.
func (c *Console) mac(purpose, value string) string {
	m := hmac.New(sha256.New, c.opts.Secret)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (c *Console) validCSRF(s *session, got string) bool {
	return got != "" && hmac.Equal([]byte(got), []byte(s.csrf))
}

// cookie returns a console cookie: HttpOnly, SameSite=Strict, on the
// console's path, Secure over TLS (or when Options.SecureCookies).
func (c *Console) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: c.base, MaxAge: maxAge, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || c.opts.SecureCookies}
}

// toSignin sends a request without a valid session to the sign-in page,
// clearing cookies that no longer sign in.
func (c *Console) toSignin(w http.ResponseWriter, r *http.Request, cause error) {
	q := url.Values{}
	if _, err := r.Cookie(sessionCookie); err == nil {
		c.clearSession(w, r)
		q.Set("why", "expired")
		if errors.Is(cause, httptrigger.ErrRoleNotAllowed) {
			q.Set("why", "role")
		}
	}
	if r.Method == http.MethodGet && r.URL.Path != "/" {
		q.Set("next", c.base+strings.TrimPrefix(r.URL.Path, "/")+queryOf(r.URL))
	}
	target := c.base + "signin"
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func queryOf(u *url.URL) string {
	if u.RawQuery == "" {
		return ""
	}
	return "?" + u.RawQuery
}

func (c *Console) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, c.cookie(r, sessionCookie, "", -1))
	http.SetCookie(w, c.cookie(r, roleCookie, "", -1))
}

// signinView is the sign-in page's data.
type signinView struct {
	Next string
	Role string
}

// whyMessages are the notes the sign-in page shows for ?why=.
var whyMessages = map[string]string{
	"expired":   "Your session is no longer valid: sign in again.",
	"role":      "Your account no longer has the role you signed in with: sign in again.",
	"signedout": "You are signed out.",
}

// signinPage shows the sign-in form. It sets the nonce cookie the form's
// CSRF token is bound to (no server state changes).
func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	c.showSignin(w, r, http.StatusOK, r.URL.Query().Get("next"), "", whyMessages[r.URL.Query().Get("why")], "")
}

func (c *Console) showSignin(w http.ResponseWriter, r *http.Request, status int, next, role, flash, errMsg string) {
	nonce := ""
	if ck, err := r.Cookie(signinCookie); err == nil && len(ck.Value) >= 16 {
		nonce = ck.Value
	} else {
		b := make([]byte, 18)
		_, _ = rand.Read(b)
		nonce = base64.RawURLEncoding.EncodeToString(b)
		http.SetCookie(w, c.cookie(r, signinCookie, nonce, 3600))
	}
	v := &view{CSRF: c.mac("signin", nonce), Flash: flash, Error: errMsg, Data: signinView{Next: c.safeNext(next), Role: role}}
	c.render(w, "Sign in", status, "signin", v)
}

// safeNext keeps next only when it is a path inside the console (no
// redirect elsewhere).
func (c *Console) safeNext(next string) string {
	if next == "" {
		return ""
	}
	if strings.HasPrefix(next, c.base) && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		if u, err := url.Parse(next); err == nil && u.Scheme == "" && u.Host == "" {
			return next
		}
	}
	return ""
}

// signin checks the token (and role) with the API's Authenticator and sets
// the session cookies.
func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := c.cop.Check(r); err != nil {
		c.fail(w, r, nil, fmt.Errorf("%w: %v", ErrCrossOrigin, err))
		return
	}
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, nil, fmt.Errorf("reading the form: %v: %w", err, errBadInput))
		return
	}
	ck, err := r.Cookie(signinCookie)
	got := r.PostForm.Get("csrf")
	if err != nil || got == "" || !hmacEqual(got, c.mac("signin", ck.Value)) {
		c.showSignin(w, r, http.StatusForbidden, r.PostForm.Get("next"), "", "", "This sign-in form has expired: try again.")
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	role := strings.TrimSpace(r.PostForm.Get("role"))
	next := r.PostForm.Get("next")
	if token == "" {
		c.showSignin(w, r, http.StatusBadRequest, next, role, "", "Enter your token.")
		return
	}
	u, err := c.identify(r, token, role)
	if err != nil {
		code := statusOf(err)
		msg := "This token does not sign in."
		if errors.Is(err, httptrigger.ErrRoleNotAllowed) {
			msg = "You do not have the role " + role + "."
		} else if code >= 500 {
			c.log.Error("console: sign in", "err", err)
			msg = "Signing in failed on the server; it has been logged."
		}
		c.showSignin(w, r, code, next, role, "", msg)
		return
	}
	http.SetCookie(w, c.cookie(r, sessionCookie, base64.RawURLEncoding.EncodeToString([]byte(token)), 0))
	if role != "" {
		http.SetCookie(w, c.cookie(r, roleCookie, base64.RawURLEncoding.EncodeToString([]byte(role)), 0))
	} else {
		http.SetCookie(w, c.cookie(r, roleCookie, "", -1))
	}
	http.SetCookie(w, c.cookie(r, signinCookie, "", -1))
	c.log.Debug("console: signed in", "user", flow.UserKey(u.ID), "role", u.Role)
	target := c.safeNext(next)
	if target == "" {
		target = c.base + "tasks"
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func hmacEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }

// signout clears the session cookies.
func (c *Console) signout(w http.ResponseWriter, r *http.Request, _ *session) error {
	c.clearSession(w, r)
	http.Redirect(w, r, c.base+"signin?why=signedout", http.StatusSeeOther)
	return nil
}

// userName is how the console names u: its nickname, name, username or
// email, else its id.
func userName(u actiontrigger.User) string {
	for _, k := range []string{"nickname", "name", "username", "email"} {
		if s, ok := u.Fields[k].(string); ok && s != "" {
			return s
		}
	}
	return "user " + flow.UserKey(u.ID)
}
