package flow_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger/flow"
)

// Dequeue and Requeue set every field of the queue state, so that a field
// added to it later is cleared wherever an execution leaves or re-enters
// the queue; the rest of the execution is left as it was.
func TestExecutionQueueState(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	queued := func() *flow.Execution {
		return &flow.Execution{ID: "x", Status: flow.ExecutionStarted, Attempt: 3,
			Runnable: true, RunAfter: at, ResumeJobID: "j1", LeaseOwner: "w", LeaseUntil: at}
	}
	e := queued()
	e.Dequeue()
	require.Equal(t, &flow.Execution{ID: "x", Status: flow.ExecutionStarted, Attempt: 3}, e)

	e = queued()
	e.Requeue("j2")
	require.Equal(t, &flow.Execution{ID: "x", Status: flow.ExecutionStarted, Attempt: 3, Runnable: true, ResumeJobID: "j2"}, e)
	e.Requeue("")
	require.Equal(t, "", e.ResumeJobID)
	require.True(t, e.Runnable)
}
