package httptrigger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/httptrigger"
	"github.com/actiontrigger/actiontrigger/internal/teststores"
	"github.com/actiontrigger/actiontrigger/nodes/nodetest"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/memory"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore/postgres"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore/sqlite"
	"github.com/actiontrigger/actiontrigger/storage/storagetest"
)

// twoStores returns two handles on one fresh database of the kind
// ACTIONTRIGGER_TEST_STORE names, as two processes of a host would hold
// them: SQLite opens the file twice (two pools, two write mutexes: only the
// database serialises them); PostgreSQL wraps the pool of a fresh schema in
// two stores; memory has one store for both.
func twoStores(t *testing.T) (storage.Store, storage.Store) {
	t.Helper()
	ctx := context.Background()
	switch teststores.Kind() {
	case "memory":
		s := memory.New()
		return s, s
	case "sqlite":
		path := filepath.Join(t.TempDir(), "shared.db")
		var out [2]storage.Store
		for i := range out {
			s, err := sqlite.Open(ctx, path)
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			out[i] = s
		}
		return out[0], out[1]
	case "postgres":
		a := teststores.Postgres(t)
		b, err := postgres.OpenDB(ctx, a.DB())
		require.NoError(t, err)
		return a, b
	}
	t.Fatalf("unknown %s %q", teststores.EnvStore, teststores.Kind())
	return nil, nil
}

// raceServer is one "process": an engine on its own store handle and its API.
type raceServer struct {
	eng    *actiontrigger.Engine
	srv    *httptest.Server
	client *http.Client
}

func newRaceServer(t *testing.T, store storage.Store) *raceServer {
	t.Helper()
	ctx := context.Background()
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{
		Store:        store,
		Collections:  storagetest.Collections(),
		Nodes:        nodetest.Registry(),
		Logger:       quiet,
		Workers:      4,
		PollInterval: 20 * time.Millisecond,
	})
	require.NoError(t, err)
	require.NoError(t, eng.Start(ctx))
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = eng.Stop(sctx)
	})
	api, err := httptrigger.NewAPI(eng, httptrigger.APIOptions{Authenticator: testTokens, Logger: quiet, Grants: testGrants})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/api/", api)
	s := &raceServer{eng: eng, srv: httptest.NewServer(mux)}
	t.Cleanup(s.srv.Close)
	// Enough kept-alive connections that the racing requests need no new ones.
	tr := s.srv.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 128
	s.client = &http.Client{Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)
	return s
}

// warm opens n kept-alive connections to the server (n requests at once).
func (s *raceServer) warm(t *testing.T, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			res, err := s.client.Get(s.srv.URL + "/api/workflowManualTasks:listMine")
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
			}
		})
	}
	wg.Wait()
}

// post sends a JSON POST as the user of token and returns the status and body.
func (s *raceServer) post(path, token string, body any) (int, string, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return 0, "", err
	}
	req, err := http.NewRequest(http.MethodPost, s.srv.URL+path, bytes.NewReader(raw))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := s.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	return res.StatusCode, string(out), err
}

// Issue 10 item 8 over HTTP: the two assignees of each of 100 paused
// executions submit at the same instant, user a through one server and user
// b through another on the same database (200 requests at once). Every
// accepted submission is a 202, every refused one a 400; every execution
// ends, its manual job decided once and the node after it run once when it
// resolved.
func TestApprovalRaceTwoServers(t *testing.T) {
	t.Parallel()
	storeA, storeB := twoStores(t)
	s1 := newRaceServer(t, storeA)
	s2 := newRaceServer(t, storeB)
	ctx := context.Background()

	const perCase = 20
	cases := []struct {
		key      string
		mode     int
		a, b     string
		accepted int
		final    flow.ExecutionStatus // 0: the winner's
	}{
		{"all-resolve", 1, "resolve", "resolve", 2, flow.ExecutionResolved},
		{"all-reject", 1, "reject", "reject", 1, flow.ExecutionRejected},
		{"any-reject", -1, "reject", "reject", 2, flow.ExecutionRejected},
		{"any-resolve", -1, "resolve", "resolve", 1, flow.ExecutionResolved},
		{"single-mixed", 0, "resolve", "reject", 1, 0},
	}
	type run struct {
		c      int
		x      string
		tasks  [2]string
		status [2]int
		bodies [2]string
	}
	var runs []*run
	for ci, c := range cases {
		_, err := s1.eng.SaveWorkflow(ctx, asyncWF(c.key, "posts",
			flow.Node{Key: "m", Type: "manual", Title: "review", Config: map[string]any{
				"assignees": []any{2, 3},
				"mode":      c.mode,
				"forms": map[string]any{"f1": map[string]any{"type": "custom", "actions": []any{
					map[string]any{"key": "resolve", "status": 1},
					map[string]any{"key": "reject", "status": -5},
				}}},
			}},
			n("after", "echo", nil)))
		require.NoError(t, err)
		for i := range perCase {
			code, body, err := s1.post("/api/posts:create?triggerWorkflows="+c.key, "tok-a", map[string]any{"title": fmt.Sprintf("%s %d", c.key, i)})
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, code, body)
		}
		var xs []*flow.Execution
		eventually(t, func() bool {
			xs, err = s1.eng.Executions(ctx, storage.ExecutionFilter{Key: c.key, Statuses: []flow.ExecutionStatus{flow.ExecutionStarted}})
			if err != nil || len(xs) != perCase {
				return false
			}
			for _, x := range xs {
				if tasks, err := s1.eng.Store().ListTasks(ctx, storage.TaskFilter{ExecutionID: x.ID}); err != nil || len(tasks) != 2 {
					return false
				}
			}
			return true
		}, "%d executions of %s paused with two tasks", perCase, c.key)
		for _, x := range xs {
			tasks, err := s1.eng.Store().ListTasks(ctx, storage.TaskFilter{ExecutionID: x.ID})
			require.NoError(t, err)
			r := &run{c: ci, x: x.ID}
			for _, task := range tasks {
				switch task.UserID {
				case "2":
					r.tasks[0] = task.ID
				case "3":
					r.tasks[1] = task.ID
				}
			}
			require.NotEmpty(t, r.tasks[0])
			require.NotEmpty(t, r.tasks[1])
			runs = append(runs, r)
		}
	}
	require.Len(t, runs, 5*perCase)

	s1.warm(t, len(runs))
	s2.warm(t, len(runs))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, r := range runs {
		c := cases[r.c]
		for k, via := range []*raceServer{s1, s2} {
			token, action := "tok-a", c.a
			if k == 1 {
				token, action = "tok-b", c.b
			}
			wg.Go(func() {
				<-start
				code, body, err := via.post("/api/workflowManualTasks:submit?filterByTk="+r.tasks[k], token,
					map[string]any{"result": map[string]any{"f1": map[string]any{"k": k}, "_": action}})
				if err != nil {
					body = err.Error()
				}
				r.status[k], r.bodies[k] = code, body
			})
		}
	}
	close(start)
	wg.Wait()

	ended := func(id string) (*flow.Execution, bool) {
		x, err := s1.eng.Execution(ctx, id)
		return x, err == nil && x.Status.Ended()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var stuck []string
		for _, r := range runs {
			if _, ok := ended(r.x); !ok {
				stuck = append(stuck, fmt.Sprintf("%s (%s)", r.x, cases[r.c].key))
			}
		}
		if len(stuck) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d executions never ended: %v", len(stuck), len(runs), stuck)
		}
		time.Sleep(20 * time.Millisecond)
	}

	for _, r := range runs {
		c := cases[r.c]
		accepted := 0
		for k, code := range r.status {
			switch code {
			case http.StatusAccepted:
				accepted++
			case http.StatusBadRequest:
			default:
				t.Fatalf("%s: submission %d of execution %s: %d %s", c.key, k, r.x, code, r.bodies[k])
			}
		}
		require.Equal(t, c.accepted, accepted, "%s: accepted submissions of execution %s: %v", c.key, r.x, r.bodies)
		x, _ := ended(r.x)
		want := c.final
		if want == 0 {
			want = flow.ExecutionResolved
			if r.status[0] != http.StatusAccepted {
				want = flow.ExecutionRejected // b decided
			}
		}
		require.Equal(t, want, x.Status, "%s: execution %s", c.key, r.x)
		jobs, err := s2.eng.Jobs(ctx, r.x)
		require.NoError(t, err)
		counts := map[string]int{}
		for _, j := range jobs {
			counts[j.NodeKey]++
		}
		after := 0
		if want == flow.ExecutionResolved {
			after = 1
		}
		require.Equal(t, map[string]int{"m": 1, "after": after}, map[string]int{"m": counts["m"], "after": counts["after"]},
			"%s: execution %s resumed exactly once", c.key, r.x)
	}
}
