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
// with templated values), end, response-message, manual (approval tasks), and
// custom nodes registered in a nodes.Registry. Custom nodes use the built-ins'
// interfaces: nodes.Instruction, or nodes.Func for a typed function, and
// capabilities such as pausing (nodes.Pauser, Resumer, Submitter, Aborter).
// Every workflow is validated and compiled when saved (SaveWorkflow), never when
// it runs.
//
// # Storage
//
// The engine's state (workflows, executions, jobs, the queue, approval tasks)
// lives in a storage.Store: storage/memory for tests and embedding,
// storage/sqlstore for SQLite and PostgreSQL. The host's records are a port of
// their own: a collection named in Config.Records is kept by the host's code
// (storage.Records), any other by the store (storage.RecordStore); Engine.Records
// reaches them all. Engine.InTx and AfterActionTx run an action in one unit of
// work with the host's own writes. Every store passes the conformance suites in
// storage/storagetest (Run, and RunRecords for a store that keeps records).
package actiontrigger
