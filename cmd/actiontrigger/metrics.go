package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/actiontrigger/actiontrigger/otelobserve"
	"github.com/actiontrigger/actiontrigger/storage"
)

// promMetrics is serve's --metrics: the engine's OpenTelemetry metrics
// (package otelobserve) read by a Prometheus exporter at every scrape of
// /metrics, beside the Go runtime's and the process's. The library itself
// links neither the SDK nor Prometheus: only this command does.
type promMetrics struct {
	observer *otelobserve.Observer
	provider *sdkmetric.MeterProvider
	handler  http.Handler
}

// newPromMetrics builds the observer to hand the engine (Config.Observer)
// and the /metrics handler. The queue gauges read the store when it counts
// its queue (storage.QueueStats: the built-in stores do).
func newPromMetrics(store storage.Store) (*promMetrics, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("metrics: prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	opts := []otelobserve.Option{otelobserve.WithMeterProvider(mp)}
	if qs, ok := store.(storage.QueueStats); ok {
		opts = append(opts, otelobserve.WithQueueStats(qs))
	}
	obs, err := otelobserve.New(opts...)
	if err != nil {
		_ = mp.Shutdown(context.Background())
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return &promMetrics{observer: obs, provider: mp, handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}, nil
}

// close stops the gauges and the meter provider.
func (m *promMetrics) close(ctx context.Context) error {
	return errors.Join(m.observer.Close(), m.provider.Shutdown(ctx))
}
