package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// serve --metrics answers GET /metrics with the engine's metrics in the
// Prometheus format: after a claim is filed (a sync check, then an async
// review that waits for a manager), the executions, node runs, claims, the
// queue and the pending task show. Without the flag there is no /metrics.
func TestServeMetrics(t *testing.T) {
	base, out := startServe(t, io.Discard, "--log-level", "error", "--metrics")
	require.Contains(t, out.String(), "metrics: "+base+"/metrics")
	code, body := get(t, base+"/metrics", "", "")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "actiontrigger_queue_depth 0", "the gauges before any action")
	require.Contains(t, body, "go_goroutines", "the Go runtime's metrics")
	require.NotContains(t, body, "actiontrigger_executions_started_total")

	toks := userTokens(out.String())
	req, err := http.NewRequest(http.MethodPost, base+"/api/expenses:create?triggerWorkflows=expense-check,expense-review",
		strings.NewReader(`{"title": "Conference", "amount": 900}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+toks["mina"])
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, string(b))

	// The review runs on a worker: wait for its task (bounded).
	want := []string{
		`actiontrigger_executions_started_total{actiontrigger_execution_sync="true",actiontrigger_workflow_key="expense-check"} 1`,
		`actiontrigger_executions_finished_total{actiontrigger_execution_status="RESOLVED",actiontrigger_workflow_key="expense-check"} 1`,
		`actiontrigger_executions_started_total{actiontrigger_execution_sync="false",actiontrigger_workflow_key="expense-review"} 1`,
		`actiontrigger_tasks_pending 1`,
		`actiontrigger_node_duration_seconds_count{actiontrigger_job_status="PENDING",actiontrigger_node_key="approve",actiontrigger_node_type="manual",actiontrigger_workflow_key="expense-review"} 1`,
		// expense-review, and the global expense-audit
		`actiontrigger_executions_claimed_total 2`,
		`actiontrigger_executions_finished_total{actiontrigger_execution_status="RESOLVED",actiontrigger_workflow_key="expense-audit"} 1`,
		`actiontrigger_claim_duration_seconds_count{actiontrigger_claim_result="claimed"} `, // once or twice
		`actiontrigger_run_duration_seconds_count{actiontrigger_execution_status="STARTED",actiontrigger_run_kind="queued",actiontrigger_workflow_key="expense-review"} 1`,
		`actiontrigger_queue_depth 0`,
		`actiontrigger_queue_oldest_age_seconds 0`,
	}
	var missing []string
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		code, body = get(t, base+"/metrics", "", "")
		require.Equal(t, http.StatusOK, code)
		missing = missing[:0]
		for _, w := range want {
			if !strings.Contains(body, w+"\n") && !(strings.HasSuffix(w, " ") && strings.Contains(body, w)) {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			break
		}
		require.True(t, time.Now().Before(end), "missing from /metrics: %q\n%s", missing, body)
	}
	require.NotContains(t, body, `actiontrigger_executions_finished_total{actiontrigger_execution_status="RESOLVED",actiontrigger_workflow_key="expense-review"}`, "the review waits")

	base, _ = startServe(t, io.Discard, "--log-level", "error")
	code, _ = get(t, base+"/metrics", "", "")
	require.Equal(t, http.StatusNotFound, code, "no --metrics, no /metrics")
}
