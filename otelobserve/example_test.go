package otelobserve_test

import (
	"context"
	"fmt"
	"sort"
	"strings"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/otelobserve"
	"github.com/actiontrigger/actiontrigger/storage/memory"
)

// An engine reporting to an OpenTelemetry SDK: the spans go to an in-memory
// recorder here (a host registers its exporter, OTLP say, instead), the
// metrics to a reader collected by hand (a host's: Prometheus, OTLP). A sync
// workflow runs inside the host's request span, an async one on a worker:
// both runs land in the request's trace.
func Example() {
	ctx := context.Background()
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer tp.Shutdown(ctx)
	defer mp.Shutdown(ctx)

	st := memory.New()
	obs, err := otelobserve.New(otelobserve.WithTracerProvider(tp), otelobserve.WithMeterProvider(mp), otelobserve.WithQueueStats(st))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer obs.Close()
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{Store: st, Collections: collections(), Observer: obs, Logger: quiet})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, wf := range []flow.Workflow{
		{Key: "check", Sync: true, Enabled: true, Config: flow.TriggerConfig{Collection: "expenses"}, Nodes: []flow.Node{
			{Key: "small", Type: "condition", Config: map[string]any{"engine": "expr", "expression": "$context.data.amount <= 500", "rejectOnFalse": true}}}},
		{Key: "book", Enabled: true, Config: flow.TriggerConfig{Collection: "expenses"}, Nodes: []flow.Node{
			{Key: "ledger", Type: "create", Config: map[string]any{"collection": "ledger",
				"params": map[string]any{"values": map[string]any{"title": "{{$context.data.title}}"}}}}}},
	} {
		if _, err := eng.SaveWorkflow(ctx, wf); err != nil {
			fmt.Println(err)
			return
		}
	}
	if err := eng.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}

	// The host's handler, inside its request span.
	rctx, req := tp.Tracer("host").Start(ctx, "POST /expenses")
	_, err = eng.AfterAction(rctx, actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: "check,book"},
		map[string]any{"id": 1, "title": "taxi", "amount": 12.5}, actiontrigger.User{ID: 1})
	req.End()
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := eng.WaitIdle(ctx); err != nil {
		fmt.Println(err)
		return
	}
	if err := eng.Stop(ctx); err != nil {
		fmt.Println(err)
		return
	}

	printTree(spans.Ended())
	printMetrics(reader, "actiontrigger.executions.finished", "actiontrigger.node.duration", "actiontrigger.queue.depth")
	// Output:
	// POST /expenses
	//   actiontrigger.after_action expenses create
	//     actiontrigger.run check inline RESOLVED
	//       actiontrigger.node small RESOLVED
	//     actiontrigger.run book queued RESOLVED
	//       actiontrigger.node ledger RESOLVED
	// actiontrigger.executions.finished {actiontrigger.execution.status=RESOLVED,actiontrigger.workflow.key=book} 1
	// actiontrigger.executions.finished {actiontrigger.execution.status=RESOLVED,actiontrigger.workflow.key=check} 1
	// actiontrigger.node.duration {actiontrigger.job.status=RESOLVED,actiontrigger.node.key=ledger,actiontrigger.node.type=create,actiontrigger.workflow.key=book} 1 run(s)
	// actiontrigger.node.duration {actiontrigger.job.status=RESOLVED,actiontrigger.node.key=small,actiontrigger.node.type=condition,actiontrigger.workflow.key=check} 1 run(s)
	// actiontrigger.queue.depth 0
}

// printTree prints spans as a tree, each with what tells it apart (not ids
// and times, which change on every run): children in the order they ended.
func printTree(spans []sdktrace.ReadOnlySpan) {
	children := map[string][]sdktrace.ReadOnlySpan{}
	var roots []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Parent().IsValid() {
			id := s.Parent().SpanID().String()
			children[id] = append(children[id], s)
		} else {
			roots = append(roots, s)
		}
	}
	var walk func(s sdktrace.ReadOnlySpan, depth int)
	walk = func(s sdktrace.ReadOnlySpan, depth int) {
		label := s.Name()
		switch s.Name() {
		case otelobserve.SpanAction:
			label += " " + attr(s, otelobserve.AttrCollection) + " " + attr(s, otelobserve.AttrAction)
		case otelobserve.SpanRun:
			label += " " + attr(s, otelobserve.AttrWorkflowKey) + " " + attr(s, otelobserve.AttrRunKind) + " " + attr(s, otelobserve.AttrExecutionStatus)
		case otelobserve.SpanNode:
			label += " " + attr(s, otelobserve.AttrNodeKey) + " " + attr(s, otelobserve.AttrJobStatus)
		}
		fmt.Println(strings.Repeat("  ", depth) + label)
		for _, c := range children[s.SpanContext().SpanID().String()] {
			walk(c, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
}

// printMetrics prints the data points of the named metrics, sorted.
func printMetrics(reader *sdkmetric.ManualReader, names ...string) {
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		fmt.Println(err)
		return
	}
	var lines []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if !contains(names, m.Name) {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%s %s %d", m.Name, attrs(p.Attributes), p.Value))
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					lines = append(lines, strings.TrimSpace(fmt.Sprintf("%s %s %d", m.Name, attrs(p.Attributes), p.Value)))
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					lines = append(lines, fmt.Sprintf("%s %s %d run(s)", m.Name, attrs(p.Attributes), p.Count))
				}
			}
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(strings.ReplaceAll(l, "  ", " "))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
