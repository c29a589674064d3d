package otelobserve_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/otelobserve"
)

// The engine's spans through OpenTelemetry's stdout exporter, the quickest
// way to see them: a host passes os.Stdout (here a buffer, so that the
// example can print only the span names, not their ids and times).
func Example_stdout() {
	ctx := context.Background()
	var out bytes.Buffer
	exp, err := stdouttrace.New(stdouttrace.WithWriter(&out), stdouttrace.WithoutTimestamps())
	if err != nil {
		fmt.Println(err)
		return
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	obs, err := otelobserve.New(otelobserve.WithTracerProvider(tp))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer obs.Close()
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{Collections: collections(), Observer: obs, Logger: quiet})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = eng.SaveWorkflow(ctx, flow.Workflow{Key: "check", Sync: true, Enabled: true,
		Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{{Key: "small", Type: "condition",
			Config: map[string]any{"engine": "expr", "expression": "$context.data.amount <= 500", "rejectOnFalse": true}}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = eng.AfterAction(ctx, actiontrigger.Action{Collection: "expenses", Name: actiontrigger.ActionCreate, TriggerWorkflows: "check"},
		map[string]any{"id": 1, "title": "taxi", "amount": 12.5}, actiontrigger.User{ID: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := tp.Shutdown(ctx); err != nil {
		fmt.Println(err)
		return
	}
	// The exporter writes one JSON document per span, as it ends.
	dec := json.NewDecoder(bufio.NewReader(&out))
	for dec.More() {
		var span struct{ Name string }
		if err := dec.Decode(&span); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(span.Name)
	}
	// Output:
	// actiontrigger.node
	// actiontrigger.run
	// actiontrigger.after_action
}
