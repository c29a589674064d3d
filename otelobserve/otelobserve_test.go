package otelobserve_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/internal/teststores"
	"github.com/actiontrigger/actiontrigger/nodes"
	"github.com/actiontrigger/actiontrigger/observe"
	"github.com/actiontrigger/actiontrigger/otelobserve"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/memory"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// telemetry is an SDK tracer provider recording every span and a meter
// provider read by hand.
type telemetry struct {
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newTelemetry(t *testing.T) *telemetry {
	tel := &telemetry{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tel.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tel.spans))
	tel.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader))
	t.Cleanup(func() {
		_ = tel.tp.Shutdown(context.Background())
		_ = tel.mp.Shutdown(context.Background())
	})
	return tel
}

func (tel *telemetry) observer(t *testing.T, opts ...otelobserve.Option) *otelobserve.Observer {
	t.Helper()
	obs, err := otelobserve.New(append([]otelobserve.Option{otelobserve.WithTracerProvider(tel.tp), otelobserve.WithMeterProvider(tel.mp)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, obs.Close()) })
	return obs
}

// named returns the ended spans called name, in end order.
func (tel *telemetry) named(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range tel.spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// metrics collects every data point as "name{k=v,...}" -> value: the sum of a
// counter, the value of a gauge, "name_count{...}" -> the count of a
// histogram.
func (tel *telemetry) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.reader.Collect(context.Background(), &rm))
	out := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[m.Name+attrs(p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out[m.Name+attrs(p.Attributes)] = float64(p.Value)
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					out[m.Name+attrs(p.Attributes)] = p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out[m.Name+"_count"+attrs(p.Attributes)] = float64(p.Count)
				}
			default:
				t.Fatalf("metric %s: unexpected data %T", m.Name, m.Data)
			}
		}
	}
	return out
}

func attrs(s attribute.Set) string {
	if s.Len() == 0 {
		return ""
	}
	var kv []string
	for _, a := range s.ToSlice() {
		kv = append(kv, string(a.Key)+"="+a.Value.String())
	}
	sort.Strings(kv)
	return "{" + strings.Join(kv, ",") + "}"
}

func attr(s sdktrace.ReadOnlySpan, k attribute.Key) string {
	for _, a := range s.Attributes() {
		if a.Key == k {
			return a.Value.String()
		}
	}
	return ""
}

func collections() []flow.Collection {
	return []flow.Collection{
		{Name: "expenses", Fields: []flow.Field{{Name: "title", Type: flow.FieldString}, {Name: "amount", Type: flow.FieldNumber}}},
		{Name: "ledger", Fields: []flow.Field{{Name: "title", Type: flow.FieldString}}},
	}
}

// probe is a node type that records the span its context carries, and
// fails its first failFirst runs.
type probe struct {
	mu        sync.Mutex
	seen      []trace.SpanContext
	failFirst int
}

func (p *probe) register(reg *nodes.Registry) {
	reg.MustRegister("probe", &nodes.Func[struct{}]{InTx: true, Do: func(ctx context.Context, r *nodes.FuncRun[struct{}]) (nodes.Result, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.seen = append(p.seen, trace.SpanContextFromContext(ctx))
		if len(p.seen) <= p.failFirst {
			return nodes.Result{}, errors.New("gateway down")
		}
		return nodes.Resolved(r.Data().String("title")), nil
	}})
}

func (p *probe) spans() []trace.SpanContext {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]trace.SpanContext(nil), p.seen...)
}

// workflow is key's version: a condition, then the probe, then a record in
// the ledger.
func workflow(key string, sync bool) flow.Workflow {
	return flow.Workflow{Key: key, Enabled: true, Sync: sync, Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{
			{Key: "small", Type: "condition", Config: map[string]any{"engine": "expr", "expression": "$context.data.amount <= 500", "rejectOnFalse": true}},
			{Key: "probe", Type: "probe"},
			{Key: "book", Type: "create", Config: map[string]any{"collection": "ledger",
				"params": map[string]any{"values": map[string]any{"title": "{{$context.data.title}}"}}}},
		}}
}

func action(key string) actiontrigger.Action {
	return actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: key}
}

var claim = map[string]any{"id": 1, "title": "taxi", "amount": 12.5}

// requireChild checks that child's parent is parent.
func requireChild(t *testing.T, parent, child sdktrace.ReadOnlySpan) {
	t.Helper()
	require.Equal(t, parent.SpanContext().TraceID(), child.SpanContext().TraceID(), "%s is in the trace of %s", child.Name(), parent.Name())
	require.Equal(t, parent.SpanContext().SpanID(), child.Parent().SpanID(), "%s is a child of %s", child.Name(), parent.Name())
}

func TestSyncRun(t *testing.T) {
	ctx := t.Context()
	tel := newTelemetry(t)
	p := &probe{}
	reg := nodes.DefaultRegistry()
	p.register(reg)
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{Collections: collections(), Nodes: reg, Logger: quiet, Observer: tel.observer(t)})
	require.NoError(t, err)
	_, err = eng.SaveWorkflow(ctx, workflow("book", true))
	require.NoError(t, err)

	// The host's request span.
	rctx, req := tel.tp.Tracer("host").Start(ctx, "POST /api/expenses:create")
	res, err := eng.AfterAction(rctx, action("book"), claim, actiontrigger.User{ID: 1})
	req.End()
	require.NoError(t, err)
	require.Equal(t, flow.ExecutionResolved, res.Executions[0].Status)
	x, err := eng.Execution(ctx, res.Executions[0].ID)
	require.NoError(t, err)
	require.Empty(t, x.Trace, "a sync execution stores no trace")

	acts, runs, ns := tel.named(otelobserve.SpanAction), tel.named(otelobserve.SpanRun), tel.named(otelobserve.SpanNode)
	require.Len(t, acts, 1)
	require.Len(t, runs, 1)
	require.Len(t, ns, 3)
	requireChild(t, tel.named("POST /api/expenses:create")[0], acts[0])
	requireChild(t, acts[0], runs[0])
	require.Equal(t, trace.SpanKindInternal, runs[0].SpanKind())
	require.Equal(t, "inline", attr(runs[0], otelobserve.AttrRunKind))
	require.Equal(t, "RESOLVED", attr(runs[0], otelobserve.AttrExecutionStatus))
	require.Equal(t, "1", attr(acts[0], otelobserve.AttrRan))
	require.Equal(t, "0", attr(acts[0], otelobserve.AttrQueued))
	var keys []string
	for _, n := range ns {
		requireChild(t, runs[0], n)
		keys = append(keys, attr(n, otelobserve.AttrNodeKey)+":"+attr(n, otelobserve.AttrJobStatus))
	}
	require.Equal(t, []string{"small:RESOLVED", "probe:RESOLVED", "book:RESOLVED"}, keys)
	// The node ran with its span in its context.
	require.Equal(t, []trace.SpanContext{ns[1].SpanContext()}, p.spans())
	require.Len(t, runs[0].Events(), 1)
	require.Equal(t, "actiontrigger.execution.end", runs[0].Events()[0].Name)

	m := tel.metrics(t)
	require.Equal(t, 1.0, m["actiontrigger.executions.started{actiontrigger.execution.sync=true,actiontrigger.workflow.key=book}"])
	require.Equal(t, 1.0, m["actiontrigger.executions.finished{actiontrigger.execution.status=RESOLVED,actiontrigger.workflow.key=book}"])
	require.Equal(t, 1.0, m["actiontrigger.run.duration_count{actiontrigger.execution.status=RESOLVED,actiontrigger.run.kind=inline,actiontrigger.workflow.key=book}"])
	for _, n := range []string{"small,actiontrigger.node.type=condition", "probe,actiontrigger.node.type=probe", "book,actiontrigger.node.type=create"} {
		require.Equal(t, 1.0, m["actiontrigger.node.duration_count{actiontrigger.job.status=RESOLVED,actiontrigger.node.key="+n+",actiontrigger.workflow.key=book}"], n)
	}
	require.NotContains(t, fmt.Sprint(m), "claim", "a sync run claims nothing")

	// A rejection: the action's span and the run's say so.
	_, err = eng.AfterAction(ctx, action("book"), map[string]any{"id": 2, "title": "yacht", "amount": 9000}, actiontrigger.User{ID: 1})
	var se *actiontrigger.SyncError
	require.ErrorAs(t, err, &se)
	acts = tel.named(otelobserve.SpanAction)
	require.Len(t, acts, 2)
	require.Equal(t, "Error", acts[1].Status().Code.String())
	m = tel.metrics(t)
	require.Equal(t, 2.0, m["actiontrigger.executions.started{actiontrigger.execution.sync=true,actiontrigger.workflow.key=book}"])
	require.Equal(t, 1.0, m["actiontrigger.executions.finished{actiontrigger.execution.status=FAILED,actiontrigger.workflow.key=book}"])
}

// TestAsyncRunJoinsTheRequestTrace queues an execution on one engine and
// runs it on another sharing the store (another process, as far as the
// trace is concerned: its own tracer provider): the run's span is a child of
// the first engine's AfterAction span, in the request's trace.
func TestAsyncRunJoinsTheRequestTrace(t *testing.T) {
	ctx := t.Context()
	st := teststores.FromEnv(t)
	front, worker := newTelemetry(t), newTelemetry(t)
	p := &probe{}
	reg := nodes.DefaultRegistry()
	p.register(reg)
	producer, err := actiontrigger.New(ctx, actiontrigger.Config{Store: st, Collections: collections(), Nodes: reg, Logger: quiet, Observer: front.observer(t)})
	require.NoError(t, err)
	_, err = producer.SaveWorkflow(ctx, workflow("book-later", false))
	require.NoError(t, err)

	rctx, req := front.tp.Tracer("host").Start(ctx, "POST /api/expenses:create")
	res, err := producer.AfterAction(rctx, action("book-later"), claim, actiontrigger.User{ID: 1})
	req.End()
	require.NoError(t, err)
	require.Len(t, res.Executions, 1)
	acts := front.named(otelobserve.SpanAction)
	require.Len(t, acts, 1)
	require.Equal(t, "1", attr(acts[0], otelobserve.AttrQueued))
	x, err := producer.Execution(ctx, res.Executions[0].ID)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("00-%s-%s-01", acts[0].SpanContext().TraceID(), acts[0].SpanContext().SpanID()), x.Trace)

	wk, err := actiontrigger.New(ctx, actiontrigger.Config{Store: st, Collections: collections(), Nodes: reg, Logger: quiet,
		Observer: worker.observer(t, otelobserve.WithQueueStats(st.(storage.QueueStats))), PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	require.NoError(t, wk.Start(ctx))
	require.NoError(t, wk.WaitIdle(ctx))
	require.NoError(t, wk.Stop(ctx))
	x, err = wk.Execution(ctx, x.ID)
	require.NoError(t, err)
	require.Equal(t, flow.ExecutionResolved, x.Status)

	runs := worker.named(otelobserve.SpanRun)
	require.Len(t, runs, 1)
	requireChild(t, acts[0], runs[0])
	require.True(t, runs[0].Parent().IsRemote(), "the parent came through the store")
	require.Equal(t, trace.SpanKindConsumer, runs[0].SpanKind())
	require.Equal(t, "queued", attr(runs[0], otelobserve.AttrRunKind))
	ns := worker.named(otelobserve.SpanNode)
	require.Len(t, ns, 3)
	for _, n := range ns {
		requireChild(t, runs[0], n)
	}
	require.Equal(t, []trace.SpanContext{ns[1].SpanContext()}, p.spans())

	m := worker.metrics(t)
	require.Equal(t, 1.0, m["actiontrigger.executions.started{actiontrigger.execution.sync=false,actiontrigger.workflow.key=book-later}"])
	require.Equal(t, 1.0, m["actiontrigger.executions.finished{actiontrigger.execution.status=RESOLVED,actiontrigger.workflow.key=book-later}"])
	require.Equal(t, 1.0, m["actiontrigger.executions.claimed"])
	require.GreaterOrEqual(t, m["actiontrigger.claim.duration_count{actiontrigger.claim.result=claimed}"], 1.0)
	require.GreaterOrEqual(t, m["actiontrigger.claim.duration_count{actiontrigger.claim.result=empty}"], 1.0, "WaitIdle's last claim found nothing")
	require.Equal(t, 1.0, m["actiontrigger.node.duration_count{actiontrigger.job.status=RESOLVED,actiontrigger.node.key=probe,actiontrigger.node.type=probe,actiontrigger.workflow.key=book-later}"])
	require.Equal(t, 0.0, m["actiontrigger.queue.depth"])
	require.Contains(t, m, "actiontrigger.queue.depth")
	// The producer counted nothing of the run.
	require.NotContains(t, fmt.Sprint(front.metrics(t)), "executions.started")
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestRetryRunsAndQueueGauges drives an async execution by hand, under a fake
// clock: its first run fails the probe (a retry backoff), its second one
// resumes it. Both runs are children of the AfterAction span; the gauges
// read the queue at the clock's time.
func TestRetryRunsAndQueueGauges(t *testing.T) {
	ctx := t.Context()
	tel := newTelemetry(t)
	clk := &clock{now: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	st := &countingStats{Store: memory.New()}
	p := &probe{failFirst: 1}
	reg := nodes.DefaultRegistry()
	p.register(reg)
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{Store: st.Store, Collections: collections(), Nodes: reg, Logger: quiet, Now: clk.Now,
		Observer: tel.observer(t, otelobserve.WithQueueStats(st), otelobserve.WithClock(clk.Now))})
	require.NoError(t, err)
	wf := workflow("book-retry", false)
	wf.Nodes[1].Retry = &flow.RetryPolicy{MaxAttempts: 2, InitialInterval: 5000}
	_, err = eng.SaveWorkflow(ctx, wf)
	require.NoError(t, err)

	rctx, req := tel.tp.Tracer("host").Start(ctx, "POST /api/expenses:create")
	_, err = eng.AfterAction(rctx, action("book-retry"), claim, actiontrigger.User{ID: 1})
	require.NoError(t, err)
	_, err = eng.AfterAction(rctx, action("book-retry"), map[string]any{"id": 2, "title": "bus", "amount": 3}, actiontrigger.User{ID: 1})
	require.NoError(t, err)
	req.End()

	clk.add(3 * time.Second)
	m := tel.metrics(t)
	require.Equal(t, 1, int(st.calls.Load()), "one read of the queue for the five gauges")
	require.Equal(t, 2.0, m["actiontrigger.queue.depth"])
	require.Equal(t, 3.0, m["actiontrigger.queue.oldest_age"])
	require.Equal(t, 0.0, m["actiontrigger.queue.scheduled"])
	require.Equal(t, 0.0, m["actiontrigger.tasks.pending"])

	n, err := eng.RunDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	m = tel.metrics(t)
	require.Equal(t, 2, int(st.calls.Load()))
	require.Equal(t, 0.0, m["actiontrigger.queue.depth"])
	require.Equal(t, 0.0, m["actiontrigger.queue.oldest_age"])
	require.Equal(t, 1.0, m["actiontrigger.queue.scheduled"], "the first execution waits out its backoff")

	clk.add(6 * time.Second)
	n, err = eng.RunDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)

	acts, runs := tel.named(otelobserve.SpanAction), tel.named(otelobserve.SpanRun)
	require.Len(t, acts, 2)
	require.Len(t, runs, 3)
	var kinds []string
	for _, r := range runs {
		kinds = append(kinds, attr(r, otelobserve.AttrRunKind)+":"+attr(r, otelobserve.AttrExecutionStatus))
		if attr(r, otelobserve.AttrExecutionID) == attr(runs[0], otelobserve.AttrExecutionID) {
			requireChild(t, acts[0], r)
		} else {
			requireChild(t, acts[1], r)
		}
	}
	require.Equal(t, []string{"queued:STARTED", "queued:RESOLVED", "resumed:RESOLVED"}, kinds)
	var probes []string
	for _, s := range tel.named(otelobserve.SpanNode) {
		if attr(s, otelobserve.AttrNodeKey) == "probe" {
			probes = append(probes, attr(s, otelobserve.AttrNodeAttempt)+":"+attr(s, otelobserve.AttrJobStatus)+":"+s.Status().Code.String())
		}
	}
	require.Equal(t, []string{"1:RETRY_NEEDED:Error", "1:RESOLVED:Unset", "2:RESOLVED:Unset"}, probes)

	m = tel.metrics(t)
	require.Equal(t, 2.0, m["actiontrigger.executions.started{actiontrigger.execution.sync=false,actiontrigger.workflow.key=book-retry}"], "a retry is no new execution")
	require.Equal(t, 2.0, m["actiontrigger.executions.finished{actiontrigger.execution.status=RESOLVED,actiontrigger.workflow.key=book-retry}"])
	require.Equal(t, 1.0, m["actiontrigger.node.duration_count{actiontrigger.job.status=RETRY_NEEDED,actiontrigger.node.key=probe,actiontrigger.node.type=probe,actiontrigger.workflow.key=book-retry}"])
	require.Equal(t, 3.0, m["actiontrigger.executions.claimed"])
	require.Equal(t, 0.0, m["actiontrigger.queue.scheduled"])
}

// countingStats counts the reads of QueueStats.
type countingStats struct {
	*memory.Store
	calls atomic.Int64
}

func (c *countingStats) QueueStats(ctx context.Context, now time.Time) (storage.QueueStat, error) {
	c.calls.Add(1)
	return c.Store.QueueStats(ctx, now)
}

// TestCancelCounts checks that an execution ended outside a run (canceled
// while queued) counts as finished.
func TestCancelCounts(t *testing.T) {
	ctx := t.Context()
	tel := newTelemetry(t)
	reg := nodes.DefaultRegistry()
	(&probe{}).register(reg)
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{Collections: collections(), Nodes: reg, Logger: quiet, Observer: tel.observer(t)})
	require.NoError(t, err)
	_, err = eng.SaveWorkflow(ctx, workflow("later", false))
	require.NoError(t, err)
	res, err := eng.AfterAction(ctx, action("later"), claim, actiontrigger.User{ID: 1})
	require.NoError(t, err)
	require.NoError(t, eng.CancelExecution(ctx, res.Executions[0].ID))
	m := tel.metrics(t)
	require.Equal(t, 1.0, m["actiontrigger.executions.finished{actiontrigger.execution.status=ABORTED,actiontrigger.workflow.key=later}"])
	require.NotContains(t, fmt.Sprint(m), "executions.started", "it never ran")
	x, err := eng.Execution(ctx, res.Executions[0].ID)
	require.NoError(t, err)
	acts := tel.named(otelobserve.SpanAction)
	require.Len(t, acts, 1)
	require.False(t, acts[0].Parent().IsValid(), "no span in the request: the action's span is a root")
	require.Equal(t, fmt.Sprintf("00-%s-%s-01", acts[0].SpanContext().TraceID(), acts[0].SpanContext().SpanID()), x.Trace)
}

// TestNoProviders checks that without providers (the API's defaults) the
// observer records nothing, and still carries the host's trace context
// through the store.
func TestNoProviders(t *testing.T) {
	ctx := t.Context()
	obs, err := otelobserve.New()
	require.NoError(t, err)
	reg := nodes.DefaultRegistry()
	(&probe{}).register(reg)
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{Collections: collections(), Nodes: reg, Logger: quiet, Observer: obs})
	require.NoError(t, err)
	_, err = eng.SaveWorkflow(ctx, workflow("later", false))
	require.NoError(t, err)

	res, err := eng.AfterAction(ctx, action("later"), claim, actiontrigger.User{ID: 1})
	require.NoError(t, err)
	x, err := eng.Execution(ctx, res.Executions[0].ID)
	require.NoError(t, err)
	require.Empty(t, x.Trace, "no span anywhere: nothing to join")

	// The host's request came with a trace context (its own propagation).
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	rctx := trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true}))
	res, err = eng.AfterAction(rctx, action("later"), claim, actiontrigger.User{ID: 1})
	require.NoError(t, err)
	x, err = eng.Execution(ctx, res.Executions[0].ID)
	require.NoError(t, err)
	require.Equal(t, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", x.Trace)
}

func TestTraceEncoding(t *testing.T) {
	tel := newTelemetry(t)
	obs := tel.observer(t)
	require.Empty(t, obs.Trace(context.Background()))
	ctx, span := tel.tp.Tracer("host").Start(context.Background(), "req")
	defer span.End()
	sc := span.SpanContext()
	require.Equal(t, fmt.Sprintf("00-%s-%s-01", sc.TraceID(), sc.SpanID()), obs.Trace(ctx))

	ts, err := trace.ParseTraceState("vendor=abc,other=x")
	require.NoError(t, err)
	ctx = trace.ContextWithSpanContext(ctx, sc.WithTraceState(ts))
	enc := obs.Trace(ctx)
	require.True(t, strings.HasPrefix(enc, "traceparent=00-"), enc)
	require.Contains(t, enc, "&tracestate=")

	// A run of an execution that stored it is a child of that span, with
	// its trace state.
	rctx := obs.RunStart(context.Background(), observe.Run{Execution: &flow.Execution{ID: "x", Key: "k", Trace: enc}, Kind: observe.RunResumed})
	obs.RunEnd(rctx, observe.RunEnd{Run: observe.Run{Execution: &flow.Execution{ID: "x", Key: "k"}, Kind: observe.RunResumed},
		Outcome: &flow.Execution{Status: flow.ExecutionStarted}})
	runs := tel.named(otelobserve.SpanRun)
	require.Len(t, runs, 1)
	require.Equal(t, sc.SpanID(), runs[0].Parent().SpanID())
	require.Equal(t, "vendor=abc,other=x", runs[0].Parent().TraceState().String())
	require.Equal(t, "vendor=abc,other=x", runs[0].SpanContext().TraceState().String())

	// A trace that does not parse starts a new trace.
	rctx = obs.RunStart(context.Background(), observe.Run{Execution: &flow.Execution{ID: "y", Key: "k", Trace: "garbage"}, Kind: observe.RunQueued})
	require.True(t, trace.SpanContextFromContext(rctx).IsValid())
	require.False(t, trace.SpanFromContext(rctx).(sdktrace.ReadOnlySpan).Parent().IsValid())
}
