// Package actiontrigger runs post-action workflows inside a Go service: after a
// user's create or update succeeds, the host calls Engine.AfterAction and the
// engine runs the workflows bound to that action, the way NocoBase's "post-action
// event" trigger does, as a library.
//
// # Binding
//
// A workflow (flow.Workflow) listens to one collection. In local mode it runs
// only when the action names it: the request's triggerWorkflows value lists
// workflow keys, each optionally followed by "!path", a to-one association path
// whose record the workflow runs on ("key1,key2!category"). In global mode it runs
// on every action its config lists ("create", "update"). Named local workflows
// run first, in request order, then global ones. Under the default Strict policy
// a name that cannot run (unknown, disabled, another collection) fails the call
// with a *BindingError before anything runs; Lenient ignores it, as the reference
// does. Server-side button bindings (Config.Buttons) restrict what a request may
// name.
//
// # Sync and async
//
// Sync workflows run inline, in order, inside AfterAction. One that ends at an
// end node with endStatus -1 rejects the action (*SyncError, kind "rejected");
// one that fails elsewhere or pauses stops the action too ("failed",
// "pending"); one that resolves at an end node stops the remaining workflows with
// success. Async workflows are written to the store as QUEUEING executions before
// AfterAction returns and run on a bounded pool of workers (Start, Stop).
//
// # Nodes
//
// Workflows are lines of nodes: condition (expr-lang expressions or the
// reference's calculation groups, branching on true/false), create (a record,
// with templated values), end, response-message, and custom nodes registered in a
// nodes.Registry. Every workflow is validated and compiled when saved
// (SaveWorkflow), never when it runs.
//
// # Storage
//
// Workflows, executions, jobs and the host's records live in a storage.Store:
// storage/memory for tests and embedding. Every store passes the conformance
// suite in storage/storagetest.
package actiontrigger
