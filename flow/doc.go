// Package flow holds the vocabulary every other package of actiontrigger shares:
// workflows and their nodes, executions, jobs, statuses, collection schemas and the
// sentinel errors. It imports nothing of this module, so the engine, the executor,
// the node implementations and the storage adapters can all depend on it without
// depending on each other.
package flow
