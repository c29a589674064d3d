// Package httptrigger puts actiontrigger's post-action workflows behind HTTP,
// on net/http alone, so it fits any router built on it (the standard
// ServeMux, chi, gorilla/mux...).
//
// It has two parts:
//
//   - [Middleware] adds post-action workflows to the host's own handlers. It
//     reads the triggerWorkflows query parameter and checks it before the
//     handler runs (under the engine's Strict policy a bad key is a 400 and the
//     handler never runs), lets the handler report the record it wrote
//     ([Report]), calls Engine.AfterAction after a 2xx response, and maps the
//     sync workflows' outcome onto the status codes of the reference system
//     (see [StatusCode]).
//   - [API] is a ready handler serving the reference system's routes for the
//     collections kept in the engine's store: "<collection>:create",
//     "<collection>:update", association creates, "workflows:*",
//     "executions:*" and "workflowManualTasks:listMine|submit", with bodies
//     shaped like the reference ({"data": ...}, {"errors": [{"message": ...}]}).
//
// Authorization on records is by [Grant]: admin roles may do everything,
// other roles what APIOptions.Grants allow them (create, view, update; all
// records or their own); without grants only admin roles reach records.
// Hidden fields never appear in the API's responses. Creates and updates
// stamp the createdById and updatedById fields a collection has with the
// acting user's id; other roles than admin ones cannot name another user
// there (403).
//
// Authentication belongs to the host: an [Authenticator] maps the request
// (usually its "Authorization: Bearer" header or "token" parameter) to a
// [Principal], a user and the roles they may act under; the X-Role header picks
// one of them. [Tokens] is a static authenticator for tests and small servers.
//
// # Status codes
//
//	request                                         status  body
//	triggerWorkflows names a workflow that cannot   400     {"errors": [one per bad key]}
//	  run (strict policy); the handler never runs
//	sync workflows all pass, or one resolves at an  2xx     the handler's response
//	  end node
//	a sync workflow ends at an end node with        400     {"errors": <its response messages>}
//	  endStatus -1
//	a sync workflow fails elsewhere (node error,    500     "Workflow on your action failed, please
//	  rejectOnFalse, could not start)                        contact the administrator"
//	a sync workflow pauses (pending job)            500     "Workflow on your action hangs, please
//	                                                         contact the administrator"
//	no credentials where required, bad token       401
//	X-Role not one of the user's roles; a record    403
//	  route, append or nested create that no
//	  Grant allows (API)
//	malformed body or parameter, unknown field,     400     {"errors": [{"message": ...}]}
//	  invalid workflow, frozen version
//	unknown route, collection or record             404
//	body over APIOptions.MaxBodyBytes               413
//	body not JSON (Content-Type)                    415
//	duplicate key, conflicting state                409
//
// The handler's own non-2xx responses pass through untouched and trigger
// nothing, as in the reference system.
package httptrigger
