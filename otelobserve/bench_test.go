package otelobserve_test

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/observe"
	"github.com/actiontrigger/actiontrigger/otelobserve"
)

// BenchmarkAfterActionSyncObserved is the root package's
// BenchmarkAfterActionSync (one sync workflow, condition then create, on the
// memory store) under each kind of observer: none, observe.Nop, otelobserve
// with the API's default providers (what a host without an SDK pays), and
// otelobserve with an SDK sampling every span and aggregating every metric
// (spans are not exported).
func BenchmarkAfterActionSyncObserved(b *testing.B) {
	ctx := context.Background()
	noProviders, err := otelobserve.New()
	if err != nil {
		b.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer tp.Shutdown(ctx)
	defer mp.Shutdown(ctx)
	sdk, err := otelobserve.New(otelobserve.WithTracerProvider(tp), otelobserve.WithMeterProvider(mp))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		obs  observe.Observer
	}{{"none", nil}, {"nop", observe.Nop{}}, {"otel-no-providers", noProviders}, {"otel-sdk", sdk}} {
		b.Run(bc.name, func(b *testing.B) {
			eng, err := actiontrigger.New(ctx, actiontrigger.Config{Collections: collections(), Logger: quiet, Observer: bc.obs})
			if err != nil {
				b.Fatal(err)
			}
			wf := workflow("bench", true)
			wf.Nodes = append(wf.Nodes[:1], wf.Nodes[2]) // no probe: the built-ins only
			if _, err := eng.SaveWorkflow(ctx, wf); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				res, err := eng.AfterAction(ctx, action("bench"), claim, actiontrigger.User{ID: 1})
				if err != nil || res.Executions[0].Status != flow.ExecutionResolved {
					b.Fatal(err)
				}
			}
		})
	}
}
