// Package console is a web console for an actiontrigger engine: an
// http.Handler the host mounts on its own mux, server-rendered with
// html/template and embedded assets (no JavaScript, no CDN), that serves
//
//   - an approvals inbox: the signed-in user's pending tasks, and a page per
//     task showing the record and context it concerns (as the user's role
//     may view them: never hidden fields) with the node's forms and actions;
//   - for admin roles, the workflows (each version drawn as an SVG diagram,
//     enabled and current state, execution counts) and the executions (a
//     filtered, paged list; a detail page with the path marked on the
//     diagram and each job's status, result, attempts and snoozes), with
//     cancel and retry of one execution and retry of every failed execution
//     of a workflow.
//
// The console authenticates and authorizes exactly as the HTTP API it is
// given (httptrigger.API): the same Authenticator, the same role choice, the
// same admin roles, the same field stripping. A user signs in with a token
// (the one the API takes as "Authorization: Bearer"); the console keeps it
// in an HttpOnly, SameSite=Strict cookie and presents it to the
// Authenticator as an Authorization header on each request. Every form that
// changes state carries a CSRF token (an HMAC of the session cookie) checked
// on POST, and GET requests never change state. Responses carry a
// Content-Security-Policy that allows no script at all.
//
// Mount it under any prefix:
//
//	c, err := console.New(eng, api, console.Options{Prefix: "/actiontrigger/"})
//	mux.Handle("/actiontrigger/", c)
//
// See docs/console.md.
package console
