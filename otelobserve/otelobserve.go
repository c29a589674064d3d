// Package otelobserve reports the engine's events (package observe) to
// OpenTelemetry: spans for actions, runs of executions and runs of nodes, and
// metrics of executions, nodes, claims, the queue and the tasks waiting for a
// decision.
//
//	obs, err := otelobserve.New(otelobserve.WithQueueStats(st))
//	eng, err := actiontrigger.New(ctx, actiontrigger.Config{Store: st, Observer: obs, ...})
//	defer obs.Close()
//
// It uses the OpenTelemetry API only: spans and measurements go to the
// providers the host set (otel.SetTracerProvider, otel.SetMeterProvider, or
// WithTracerProvider and WithMeterProvider), and cost next to nothing until
// it sets some (the API's default providers do nothing).
//
// # Traces
//
// AfterAction opens a span "actiontrigger.after_action" in the host's
// request span; each run of a sync execution is a child "actiontrigger.run",
// and each node run a child "actiontrigger.node" of its run, whose context the
// node's Run receives (an HTTP client instrumented with OpenTelemetry makes
// its spans children of it). The trace context of an AfterAction that queues
// executions is stored with them (a W3C traceparent, by default), and every
// run of such an execution on a worker, in this process or another one
// sharing the store, is a child of that AfterAction span, in the request's
// trace; a run started inside another span (Engine.RunDue called in a job's
// span) links to that span.
//
// # Metrics
//
//	actiontrigger.executions.started   counter    {execution} workflow key, sync
//	actiontrigger.executions.finished  counter    {execution} workflow key, status
//	actiontrigger.run.duration         histogram  s  workflow key, run kind, status
//	actiontrigger.node.duration        histogram  s  workflow key, node key, node type, job status
//	actiontrigger.claim.duration       histogram  s  result (claimed, empty, error)
//	actiontrigger.executions.claimed   counter    {execution}
//	actiontrigger.queue.depth          gauge      {execution} due, unclaimed executions
//	actiontrigger.queue.oldest_age     gauge      s  how long the oldest of them has been due
//	actiontrigger.queue.leased         gauge      {execution} claimed by a worker pool
//	actiontrigger.queue.scheduled      gauge      {execution} waiting on a timer
//	actiontrigger.tasks.pending        gauge      {task}     waiting for a decision
//
// The gauges need WithQueueStats; they read storage.QueueStats once per
// collection, whichever process's observer is collected (the store is
// shared, so one process's gauges describe the whole queue).
package otelobserve

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/observe"
	"github.com/actiontrigger/actiontrigger/storage"
)

// ScopeName is the instrumentation scope of the tracer and the meter.
const ScopeName = "github.com/actiontrigger/actiontrigger/otelobserve"

// Span names.
const (
	SpanAction = "actiontrigger.after_action"
	SpanRun    = "actiontrigger.run"
	SpanNode   = "actiontrigger.node"
)

// Attribute keys.
const (
	AttrCollection      = attribute.Key("actiontrigger.collection")
	AttrAction          = attribute.Key("actiontrigger.action")
	AttrWorkflows       = attribute.Key("actiontrigger.workflows")
	AttrRecords         = attribute.Key("actiontrigger.records")
	AttrRan             = attribute.Key("actiontrigger.executions.ran")
	AttrQueued          = attribute.Key("actiontrigger.executions.queued")
	AttrSkipped         = attribute.Key("actiontrigger.executions.skipped")
	AttrWorkflowKey     = attribute.Key("actiontrigger.workflow.key")
	AttrWorkflowID      = attribute.Key("actiontrigger.workflow.id")
	AttrExecutionID     = attribute.Key("actiontrigger.execution.id")
	AttrExecutionStatus = attribute.Key("actiontrigger.execution.status")
	AttrExecutionReason = attribute.Key("actiontrigger.execution.reason")
	AttrSync            = attribute.Key("actiontrigger.execution.sync")
	AttrClaims          = attribute.Key("actiontrigger.execution.claims")
	AttrRunKind         = attribute.Key("actiontrigger.run.kind")
	AttrNodeKey         = attribute.Key("actiontrigger.node.key")
	AttrNodeType        = attribute.Key("actiontrigger.node.type")
	AttrNodeAttempt     = attribute.Key("actiontrigger.node.attempt")
	AttrNodeResume      = attribute.Key("actiontrigger.node.resume")
	AttrJobStatus       = attribute.Key("actiontrigger.job.status")
	AttrClaimResult     = attribute.Key("actiontrigger.claim.result")
)

// statusRunError is the status attribute of a run that failed (observe.RunEnd.Err).
const statusRunError = "RUN_ERROR"

// durationBuckets are the histograms' bucket bounds in seconds: from half a
// millisecond (an inline node) to a minute (a slow service).
var durationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Span start options without attributes, shared: spans get their
// attributes once started, and only when they record, so that an observer
// without providers allocates next to nothing.
var (
	internalSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}
	consumerSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}
)

// statsTimeout bounds one read of QueueStats by the gauges' callback.
const statsTimeout = 5 * time.Second

// Option configures New.
type Option func(*config)

type config struct {
	tp    trace.TracerProvider
	mp    metric.MeterProvider
	prop  propagation.TextMapPropagator
	stats storage.QueueStats
	now   func() time.Time
}

// WithTracerProvider sets the tracer provider. Default: otel.GetTracerProvider().
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.tp = tp } }

// WithMeterProvider sets the meter provider. Default: otel.GetMeterProvider().
func WithMeterProvider(mp metric.MeterProvider) Option { return func(c *config) { c.mp = mp } }

// WithPropagator sets how the trace context of a request is encoded into
// the string stored with the executions it queues (flow.Execution.Trace) and
// read back when they run. Default: W3C Trace Context
// (propagation.TraceContext), stored as the bare traceparent when there is
// no tracestate. Every process sharing a store must use the same one.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.prop = p }
}

// WithQueueStats reports the queue gauges from qs: the engine's store when
// it implements storage.QueueStats (the memory, SQLite and PostgreSQL stores
// do).
func WithQueueStats(qs storage.QueueStats) Option { return func(c *config) { c.stats = qs } }

// WithClock sets the clock the gauges count the queue at (the engine's
// Config.Now, under a fake clock). Default: time.Now.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// Observer implements observe.Observer with OpenTelemetry. Create it with
// New; it is safe for concurrent use.
type Observer struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	now    func() time.Time

	started  metric.Int64Counter
	finished metric.Int64Counter
	runDur   metric.Float64Histogram
	nodeDur  metric.Float64Histogram
	claimDur metric.Float64Histogram
	claimed  metric.Int64Counter
	reg      metric.Registration
}

var _ observe.Observer = (*Observer)(nil)

// New returns an observer reporting to the configured (by default the
// global) providers.
func New(opts ...Option) (*Observer, error) {
	c := config{}
	for _, o := range opts {
		o(&c)
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	if c.prop == nil {
		c.prop = propagation.TraceContext{}
	}
	if c.now == nil {
		c.now = time.Now
	}
	o := &Observer{tracer: c.tp.Tracer(ScopeName), prop: c.prop, now: c.now}
	m := c.mp.Meter(ScopeName)
	var err error
	fail := func(name string, err error) error { return fmt.Errorf("otelobserve: instrument %s: %w", name, err) }
	if o.started, err = m.Int64Counter("actiontrigger.executions.started", metric.WithUnit("{execution}"),
		metric.WithDescription("Executions started: sync ones run inline, async ones at their first run on a worker.")); err != nil {
		return nil, fail("actiontrigger.executions.started", err)
	}
	if o.finished, err = m.Int64Counter("actiontrigger.executions.finished", metric.WithUnit("{execution}"),
		metric.WithDescription("Executions that reached a final status, by status.")); err != nil {
		return nil, fail("actiontrigger.executions.finished", err)
	}
	if o.runDur, err = m.Float64Histogram("actiontrigger.run.duration", metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(durationBuckets...),
		metric.WithDescription("Duration of one run of an execution (to its end, or its next pause).")); err != nil {
		return nil, fail("actiontrigger.run.duration", err)
	}
	if o.nodeDur, err = m.Float64Histogram("actiontrigger.node.duration", metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(durationBuckets...),
		metric.WithDescription("Duration of one run of a node.")); err != nil {
		return nil, fail("actiontrigger.node.duration", err)
	}
	if o.claimDur, err = m.Float64Histogram("actiontrigger.claim.duration", metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(durationBuckets...),
		metric.WithDescription("Latency of one claim of the queue by a worker pool.")); err != nil {
		return nil, fail("actiontrigger.claim.duration", err)
	}
	if o.claimed, err = m.Int64Counter("actiontrigger.executions.claimed", metric.WithUnit("{execution}"),
		metric.WithDescription("Executions claimed by this process's worker pool.")); err != nil {
		return nil, fail("actiontrigger.executions.claimed", err)
	}
	if c.stats != nil {
		if err := o.registerQueue(m, c.stats); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// registerQueue registers the queue gauges with one callback, which reads
// QueueStats once per collection.
func (o *Observer) registerQueue(m metric.Meter, qs storage.QueueStats) error {
	depth, err := m.Int64ObservableGauge("actiontrigger.queue.depth", metric.WithUnit("{execution}"),
		metric.WithDescription("Executions due and not claimed: what the workers have yet to pick up."))
	if err != nil {
		return fmt.Errorf("otelobserve: instrument actiontrigger.queue.depth: %w", err)
	}
	age, err := m.Float64ObservableGauge("actiontrigger.queue.oldest_age", metric.WithUnit("s"),
		metric.WithDescription("How long the longest-waiting due, unclaimed execution has been due (0: none)."))
	if err != nil {
		return fmt.Errorf("otelobserve: instrument actiontrigger.queue.oldest_age: %w", err)
	}
	leased, err := m.Int64ObservableGauge("actiontrigger.queue.leased", metric.WithUnit("{execution}"),
		metric.WithDescription("Runnable executions a worker pool holds: running, or claimed and waiting for a worker."))
	if err != nil {
		return fmt.Errorf("otelobserve: instrument actiontrigger.queue.leased: %w", err)
	}
	scheduled, err := m.Int64ObservableGauge("actiontrigger.queue.scheduled", metric.WithUnit("{execution}"),
		metric.WithDescription("Executions waiting on a timer not due yet: a retry backoff, a deadline, a timeout."))
	if err != nil {
		return fmt.Errorf("otelobserve: instrument actiontrigger.queue.scheduled: %w", err)
	}
	tasks, err := m.Int64ObservableGauge("actiontrigger.tasks.pending", metric.WithUnit("{task}"),
		metric.WithDescription("Manual-approval tasks waiting for a decision."))
	if err != nil {
		return fmt.Errorf("otelobserve: instrument actiontrigger.tasks.pending: %w", err)
	}
	o.reg, err = m.RegisterCallback(func(ctx context.Context, ob metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, statsTimeout)
		defer cancel()
		now := o.now()
		st, err := qs.QueueStats(ctx, now)
		if err != nil {
			return fmt.Errorf("otelobserve: queue stats: %w", err)
		}
		var oldest float64
		if st.Depth > 0 && !st.Oldest.IsZero() {
			oldest = max(now.Sub(st.Oldest).Seconds(), 0)
		}
		ob.ObserveInt64(depth, int64(st.Depth))
		ob.ObserveFloat64(age, oldest)
		ob.ObserveInt64(leased, int64(st.Leased))
		ob.ObserveInt64(scheduled, int64(st.Scheduled))
		ob.ObserveInt64(tasks, int64(st.PendingTasks))
		return nil
	}, depth, age, leased, scheduled, tasks)
	if err != nil {
		return fmt.Errorf("otelobserve: register the queue gauges: %w", err)
	}
	return nil
}

// Close stops reporting the queue gauges. The observer's other reports go
// on; they end with the providers.
func (o *Observer) Close() error {
	if o.reg == nil {
		return nil
	}
	if err := o.reg.Unregister(); err != nil {
		return fmt.Errorf("otelobserve: unregister the queue gauges: %w", err)
	}
	return nil
}

// ActionStart opens the action's span.
func (o *Observer) ActionStart(ctx context.Context, ev observe.Action) context.Context {
	ctx, span := o.tracer.Start(ctx, SpanAction, internalSpan...)
	if span.IsRecording() {
		span.SetAttributes(AttrCollection.String(ev.Collection), AttrAction.String(ev.Name),
			AttrWorkflows.Int(ev.Workflows), AttrRecords.Int(ev.Records))
	}
	return ctx
}

// ActionEnd ends the action's span.
func (o *Observer) ActionEnd(ctx context.Context, ev observe.ActionEnd) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(AttrRan.Int(ev.Ran), AttrQueued.Int(ev.Queued), AttrSkipped.Int(ev.Skipped))
	if ev.Err != nil {
		span.RecordError(ev.Err)
		span.SetStatus(codes.Error, ev.Err.Error())
	}
	span.End()
}

// RunStart opens the run's span: a child of the span in ctx for an inline
// run, of the stored trace context for a queued one.
func (o *Observer) RunStart(ctx context.Context, ev observe.Run) context.Context {
	x := ev.Execution
	if (ev.Kind == observe.RunInline || ev.Kind == observe.RunQueued) && o.started.Enabled(ctx) {
		o.started.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(AttrWorkflowKey.String(x.Key), AttrSync.Bool(x.Sync))))
	}
	opts := internalSpan
	if ev.Kind != observe.RunInline {
		opts = consumerSpan
	}
	if x.Trace != "" {
		if sc := o.extract(x.Trace); sc.IsValid() {
			if cur := trace.SpanContextFromContext(ctx); cur.IsValid() && !cur.Equal(sc) {
				opts = append(slices.Clip(opts), trace.WithLinks(trace.Link{SpanContext: cur}))
			}
			ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
		}
	}
	ctx, span := o.tracer.Start(ctx, SpanRun, opts...)
	if span.IsRecording() {
		span.SetAttributes(AttrWorkflowKey.String(x.Key), AttrWorkflowID.String(x.WorkflowID), AttrExecutionID.String(x.ID),
			AttrRunKind.String(ev.Kind.String()), AttrSync.Bool(x.Sync), AttrClaims.Int(x.Attempt))
	}
	return ctx
}

// RunEnd ends the run's span and records its duration.
func (o *Observer) RunEnd(ctx context.Context, ev observe.RunEnd) {
	status := statusRunError
	if ev.Outcome != nil {
		status = ev.Outcome.Status.String()
	}
	if o.runDur.Enabled(ctx) {
		o.runDur.Record(ctx, ev.Duration.Seconds(), metric.WithAttributeSet(attribute.NewSet(
			AttrWorkflowKey.String(ev.Execution.Key), AttrRunKind.String(ev.Kind.String()), AttrExecutionStatus.String(status))))
	}
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(AttrExecutionStatus.String(status))
	switch {
	case ev.Err != nil:
		span.RecordError(ev.Err)
		span.SetStatus(codes.Error, ev.Err.Error())
	case ev.Outcome.Status == flow.ExecutionError:
		span.SetStatus(codes.Error, "execution ended ERROR"+reasonSuffix(ev.Outcome.Reason))
	}
	span.End()
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return ": " + r
}

// NodeStart opens the node's span, whose context the node runs with.
func (o *Observer) NodeStart(ctx context.Context, ev observe.Node) context.Context {
	ctx, span := o.tracer.Start(ctx, SpanNode, internalSpan...)
	if span.IsRecording() {
		span.SetAttributes(AttrNodeKey.String(ev.Key), AttrNodeType.String(ev.Type), AttrNodeAttempt.Int(ev.Attempt), AttrNodeResume.Bool(ev.Resume),
			AttrWorkflowKey.String(ev.Execution.Key), AttrExecutionID.String(ev.Execution.ID))
	}
	return ctx
}

// NodeEnd ends the node's span and records its duration.
func (o *Observer) NodeEnd(ctx context.Context, ev observe.NodeEnd) {
	if o.nodeDur.Enabled(ctx) {
		o.nodeDur.Record(ctx, ev.Duration.Seconds(), metric.WithAttributeSet(attribute.NewSet(
			AttrWorkflowKey.String(ev.Execution.Key), AttrNodeKey.String(ev.Key), AttrNodeType.String(ev.Type),
			AttrJobStatus.String(ev.Status.String()))))
	}
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(AttrJobStatus.String(ev.Status.String()))
	switch {
	case ev.Err != nil:
		span.RecordError(ev.Err)
		span.SetStatus(codes.Error, ev.Err.Error())
	case ev.Status == flow.JobError:
		span.SetStatus(codes.Error, "job ended ERROR")
	}
	span.End()
}

// Claim records the claim's latency and count.
func (o *Observer) Claim(ctx context.Context, ev observe.Claim) {
	result := "claimed"
	switch {
	case ev.Err != nil:
		result = "error"
	case ev.Count == 0:
		result = "empty"
	}
	if o.claimDur.Enabled(ctx) {
		o.claimDur.Record(ctx, ev.Latency.Seconds(), metric.WithAttributeSet(attribute.NewSet(AttrClaimResult.String(result))))
	}
	if ev.Count > 0 {
		o.claimed.Add(ctx, int64(ev.Count))
	}
}

// ExecutionEnd counts the ended execution and adds an event to the span in
// ctx (its run's, or the request's that canceled it).
func (o *Observer) ExecutionEnd(ctx context.Context, ev observe.ExecutionEnd) {
	x := ev.Execution
	if o.finished.Enabled(ctx) {
		o.finished.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(AttrWorkflowKey.String(x.Key), AttrExecutionStatus.String(x.Status.String()))))
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		attrs := []attribute.KeyValue{AttrExecutionID.String(x.ID), AttrExecutionStatus.String(x.Status.String())}
		if x.Reason != "" {
			attrs = append(attrs, AttrExecutionReason.String(x.Reason))
		}
		span.AddEvent("actiontrigger.execution.end", trace.WithAttributes(attrs...))
	}
}

// traceparent is the W3C Trace Context header the default propagator writes.
const traceparent = "traceparent"

// Trace encodes the trace context of ctx with the propagator: the bare
// traceparent when it is the only header (the default propagator, without
// tracestate), else the headers as a URL query ("traceparent=...&tracestate=...").
func (o *Observer) Trace(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	o.prop.Inject(ctx, c)
	switch len(c) {
	case 0:
		return ""
	case 1:
		if v, ok := c[traceparent]; ok {
			return v
		}
	}
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(k))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(c[k]))
	}
	return b.String()
}

// extract decodes what Trace encoded.
func (o *Observer) extract(s string) trace.SpanContext {
	c := propagation.MapCarrier{}
	if !strings.Contains(s, "=") {
		c[traceparent] = s
	} else {
		q, err := url.ParseQuery(s)
		if err != nil {
			return trace.SpanContext{}
		}
		for k, v := range q {
			if len(v) > 0 {
				c[k] = v[0]
			}
		}
	}
	return trace.SpanContextFromContext(o.prop.Extract(context.Background(), c))
}
