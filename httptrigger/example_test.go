package httptrigger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/httptrigger"
)

// The Middleware adds post-action workflows to a host's own handler, here on
// a net/http ServeMux. The handler writes its record and reports it; a sync
// workflow then checks it: a claim over 500 is refused with 400 and the
// workflow's message, a smaller one passes with the workflow's message added
// to the handler's JSON response.
//
// With chi the Middleware is a route middleware like any other:
//
//	r.With(mw.Action("expenses", actiontrigger.ActionCreate)).Post("/expenses", createExpense)
func ExampleMiddleware() {
	ctx := context.Background()
	eng, _ := actiontrigger.New(ctx, actiontrigger.Config{
		Collections: []flow.Collection{{Name: "expenses", Fields: []flow.Field{
			{Name: "title", Type: flow.FieldString},
			{Name: "amount", Type: flow.FieldNumber},
		}}},
		Logger: quiet,
	})
	_, err := eng.SaveWorkflow(ctx, flow.Workflow{
		Key: "limit", Sync: true, Enabled: true,
		Config: flow.TriggerConfig{Collection: "expenses"},
		Nodes: []flow.Node{
			{Key: "big", Type: "condition", Config: map[string]any{"engine": "expr", "expression": "$context.data.amount > 500"},
				Branches: map[int][]flow.Node{1: {
					{Key: "no", Type: "response-message", Config: map[string]any{"message": "{{$context.data.title}}: over the limit"}},
					{Key: "stop", Type: "end", Config: map[string]any{"endStatus": -1}},
				}}},
			{Key: "ok", Type: "response-message", Config: map[string]any{"message": "{{$context.data.title}}: booked"}},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	// The host's handler: it writes the record and reports it.
	createExpense := func(w http.ResponseWriter, r *http.Request) {
		var values map[string]any
		if err := json.NewDecoder(r.Body).Decode(&values); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rec, err := eng.Records().CreateRecord(r.Context(), "expenses", values)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		httptrigger.Report(r, rec)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"id": rec["id"], "title": rec["title"]}})
	}

	mw := httptrigger.NewMiddleware(eng, httptrigger.Options{
		Authenticator: httptrigger.Tokens{"secret": {User: actiontrigger.User{ID: 2}, Roles: []string{"member"}}},
		RequireAuth:   true,
	})
	mux := http.NewServeMux()
	mux.Handle("POST /expenses", mw.Action("expenses", actiontrigger.ActionCreate)(http.HandlerFunc(createExpense)))

	for _, body := range []string{`{"title": "Taxi", "amount": 40}`, `{"title": "Flight", "amount": 900}`} {
		req := httptest.NewRequest(http.MethodPost, "/expenses?triggerWorkflows=limit", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer secret")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	// Output:
	// 200 {"data":{"id":1,"title":"Taxi"},"messages":[{"message":"Taxi: booked"}]}
	// 400 {"errors":[{"message":"Flight: over the limit"}]}
}
