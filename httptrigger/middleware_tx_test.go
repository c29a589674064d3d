package httptrigger_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/actiontrigger/actiontrigger"
	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/httptrigger"
	"github.com/actiontrigger/actiontrigger/internal/teststores"
	"github.com/actiontrigger/actiontrigger/nodes/nodetest"
	"github.com/actiontrigger/actiontrigger/storage"
	"github.com/actiontrigger/actiontrigger/storage/sqlstore"
	"github.com/actiontrigger/actiontrigger/storage/storagetest"
)

// txEnv is a host service behind Middleware routes: on a SQL store the
// handler writes into the host's own table host_notes (created here with
// plain SQL, not a collection of the engine); on the memory store, where
// there is no SQL, it writes a "posts" record through the unit of work.
type txEnv struct {
	t   *testing.T
	eng *actiontrigger.Engine
	db  *sql.DB // the SQL store's database; nil on the memory store
	pg  bool
	srv *httptest.Server
}

// hostReq is the body the test host's handler understands.
type hostReq struct {
	Title string `json:"title"`
	// Status, when set, is the handler's answer after its write (4xx, 5xx).
	Status int `json:"status,omitempty"`
	// Panic makes the handler panic after its write.
	Panic bool `json:"panic,omitempty"`
	// Self makes the handler call AfterAction itself (AfterActionTx with the
	// middleware's transaction on a SQL store) and answer {"data": record}
	// without Report.
	Self bool `json:"self,omitempty"`
}

// newTxEnv starts an engine on the store ACTIONTRIGGER_TEST_STORE names
// (wrapped by wrap, if set) and serves POST /notes through a Middleware with
// opts.
func newTxEnv(t *testing.T, opts httptrigger.Options, wrap func(storage.Store) storage.Store) *txEnv {
	t.Helper()
	ctx := context.Background()
	store := testStore(t)
	e := &txEnv{t: t, pg: teststores.Kind() == "postgres"}
	if sq, ok := store.(*sqlstore.Store); ok {
		e.db = sq.DB()
		ddl := `CREATE TABLE host_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL)`
		if e.pg {
			ddl = `CREATE TABLE host_notes (id BIGSERIAL PRIMARY KEY, title TEXT NOT NULL)`
		}
		_, err := e.db.ExecContext(ctx, ddl)
		require.NoError(t, err)
	}
	if wrap != nil {
		store = wrap(store)
	}
	eng, err := actiontrigger.New(ctx, actiontrigger.Config{
		Store:        store,
		Collections:  storagetest.Collections(),
		Nodes:        nodetest.Registry(),
		Logger:       quiet,
		Workers:      2,
		PollInterval: 50 * time.Millisecond,
	})
	require.NoError(t, err)
	require.NoError(t, eng.Start(ctx))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = eng.Stop(ctx)
	})
	e.eng = eng
	opts.Authenticator, opts.RequireAuth, opts.Logger = testTokens, true, quiet
	mw := httptrigger.NewMiddleware(eng, opts)
	mux := http.NewServeMux()
	mux.Handle("POST /notes", mw.Wrap("posts", actiontrigger.ActionCreate, http.HandlerFunc(e.handle)))
	e.srv = httptest.NewUnstartedServer(mux)
	e.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the panic test's stack trace
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	return e
}

// handle is the host's handler: it writes the note, then answers as the body
// asks.
func (e *txEnv) handle(w http.ResponseWriter, r *http.Request) {
	var in hostReq
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rec, err := e.write(r, in.Title)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	switch {
	case in.Panic:
		panic("host handler bug after its write")
	case in.Status != 0:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(in.Status)
		_, _ = io.WriteString(w, `{"errors":[{"message":"host says no"}]}`)
		return
	case in.Self:
		user, _ := httptrigger.UserFrom(r.Context())
		action := actiontrigger.Action{Collection: "posts", Name: actiontrigger.ActionCreate, TriggerWorkflows: r.URL.Query().Get("triggerWorkflows")}
		if err := e.selfTrigger(r, action, rec, user); err != nil {
			code, body := httptrigger.ErrorResponse(err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(body)
			return
		}
	default:
		httptrigger.Report(r, rec)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"data": rec})
}

// write is the host's own write. Under a Middleware with Transaction it goes
// through the middleware's unit of work: Tx(r) on a SQL store,
// storage.TxFrom on the memory store. Without one, the host writes on its
// own and commits at once.
func (e *txEnv) write(r *http.Request, title string) (flow.Record, error) {
	ctx := r.Context()
	tx, hasTx := httptrigger.Tx(r)
	unit, inUnit := storage.TxFrom(ctx)
	if e.db == nil {
		if hasTx {
			return nil, errors.New("Tx(r) gave a *sql.Tx on the memory store")
		}
		if inUnit {
			return unit.(storage.RecordStore).CreateRecord(ctx, "posts", flow.Record{"title": title})
		}
		return e.eng.Records().CreateRecord(ctx, "posts", flow.Record{"title": title})
	}
	if inUnit && !hasTx {
		return nil, errors.New("a unit of work without the *sql.Tx of a SQL store")
	}
	q := `INSERT INTO host_notes (title) VALUES (?) RETURNING id`
	if e.pg {
		q = `INSERT INTO host_notes (title) VALUES ($1) RETURNING id`
	}
	var id int64
	var err error
	if hasTx {
		err = tx.QueryRowContext(ctx, q, title).Scan(&id)
	} else {
		err = e.db.QueryRowContext(ctx, q, title).Scan(&id)
	}
	if err != nil {
		return nil, err
	}
	return flow.Record{"id": id, "title": title}, nil
}

// selfTrigger is a handler that runs the workflows itself: AfterActionTx in
// the middleware's transaction when there is one, else AfterAction.
func (e *txEnv) selfTrigger(r *http.Request, action actiontrigger.Action, rec flow.Record, user actiontrigger.User) error {
	var err error
	if tx, ok := httptrigger.Tx(r); ok {
		_, err = e.eng.AfterActionTx(r.Context(), tx, action, rec, user)
	} else {
		_, err = e.eng.AfterAction(r.Context(), action, rec, user)
	}
	return err
}

// post sends body to /notes?triggerWorkflows=trigger as user a. It fails the
// test on a transport error unless mayFail (a panicking handler's connection
// is closed without a response).
func (e *txEnv) post(trigger string, body hostReq, mayFail bool) (resp, error) {
	e.t.Helper()
	b, err := json.Marshal(body)
	require.NoError(e.t, err)
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/notes?triggerWorkflows="+trigger, strings.NewReader(string(b)))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer tok-a")
	res, err := e.srv.Client().Do(req)
	if err != nil {
		if !mayFail {
			require.NoError(e.t, err)
		}
		return resp{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	out := resp{code: res.StatusCode, header: res.Header, raw: string(raw)}
	if strings.Contains(res.Header.Get("Content-Type"), "json") {
		require.NoError(e.t, json.Unmarshal(raw, &out.body), "body %s", raw)
	}
	return out, nil
}

// notes lists the titles of the host's committed rows.
func (e *txEnv) notes() []string {
	e.t.Helper()
	var titles []string
	if e.db == nil {
		recs, err := e.eng.Records().ListRecords(context.Background(), "posts", nil, nil)
		require.NoError(e.t, err)
		for _, r := range recs {
			titles = append(titles, fmt.Sprint(r["title"]))
		}
		return titles
	}
	rows, err := e.db.QueryContext(context.Background(), `SELECT title FROM host_notes ORDER BY id`)
	require.NoError(e.t, err)
	defer rows.Close()
	for rows.Next() {
		var s string
		require.NoError(e.t, rows.Scan(&s))
		titles = append(titles, s)
	}
	require.NoError(e.t, rows.Err())
	return titles
}

// execTitles lists the title of $context.data of the workflow's executions.
func (e *txEnv) execTitles(key string) []string {
	e.t.Helper()
	xs, err := e.eng.Executions(context.Background(), actiontrigger.ExecutionFilter{Key: key})
	require.NoError(e.t, err)
	var out []string
	for _, x := range xs {
		out = append(out, fmt.Sprint(dataOf(e.t, x)["title"]))
	}
	return out
}

func (e *txEnv) comments() []string {
	e.t.Helper()
	recs, err := e.eng.Records().ListRecords(context.Background(), "comments", nil, nil)
	require.NoError(e.t, err)
	var out []string
	for _, r := range recs {
		out = append(out, fmt.Sprint(r["content"]))
	}
	return out
}

func (e *txEnv) waitIdle() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(e.t, e.eng.WaitIdle(ctx))
}

// The workflows of these tests: "a", async, books a comment per note (the
// issue's ledger row); "s", sync, refuses a note titled "bad" with a
// message, and says "<title> ok" to the others.
func (e *txEnv) saveWorkflows() {
	e.t.Helper()
	for _, wf := range []flow.Workflow{
		asyncWF("a", "posts", n("book", "create", map[string]any{"collection": "comments",
			"params": map[string]any{"values": map[string]any{"content": "on {{$context.data.title}}"}}})),
		syncWF("s", "posts",
			flow.Node{Key: "bad", Type: "condition", Config: map[string]any{"engine": "expr", "expression": `$context.data.title == "bad"`},
				Branches: map[int][]flow.Node{1: {
					n("no", "response-message", map[string]any{"message": "{{$context.data.title}} refused"}),
					n("stop", "end", map[string]any{"endStatus": -1}),
				}}},
			n("ok", "response-message", map[string]any{"message": "{{$context.data.title}} ok"})),
	} {
		_, err := e.eng.SaveWorkflow(context.Background(), wf)
		require.NoError(e.t, err)
	}
}

// With Transaction, the handler's write (through Tx(r) on SQL, the unit of
// work on memory) and the async execution commit together; a handler that
// answers 4xx/5xx or panics leaves neither, even when it queued executions
// itself; the server goes on serving.
func TestMiddlewareTx_CommitsWithTheWrite(t *testing.T) {
	t.Parallel()
	e := newTxEnv(t, httptrigger.Options{Transaction: true}, nil)
	e.saveWorkflows()

	r, _ := e.post("a", hostReq{Title: "first"}, false)
	require.Equal(t, http.StatusOK, r.code, r.raw)
	require.Equal(t, "first", r.data()["title"])
	require.Equal(t, []string{"first"}, e.notes())
	require.Equal(t, []string{"first"}, e.execTitles("a"), "the execution was queued with the write")

	for _, status := range []int{http.StatusUnprocessableEntity, http.StatusInternalServerError} {
		r, _ = e.post("a", hostReq{Title: "refused by host", Status: status}, false)
		require.Equal(t, status, r.code, r.raw)
		require.Equal(t, []string{"host says no"}, r.errorMessages(), "the handler's own response")
		// The handler queued an execution itself before answering: rolled back too.
		r, _ = e.post("a", hostReq{Title: "refused after self-trigger", Self: true, Status: status}, false)
		require.Equal(t, status, r.code, r.raw)
	}
	_, err := e.post("a", hostReq{Title: "panicked", Panic: true}, true)
	require.Error(t, err, "a panicking handler's connection is closed")

	// The server survived and the write lock was released.
	r, _ = e.post("a", hostReq{Title: "second"}, false)
	require.Equal(t, http.StatusOK, r.code, r.raw)

	e.waitIdle()
	require.Equal(t, []string{"first", "second"}, e.notes(), "rolled-back writes left no row")
	require.ElementsMatch(t, []string{"first", "second"}, e.execTitles("a"), "rolled-back writes left no execution")
	require.ElementsMatch(t, []string{"on first", "on second"}, e.comments())
}

// A sync refusal answers 400 with the workflow's messages; the handler's
// write commits (as in the reference system) unless RollbackOnRefusal.
func TestMiddlewareTx_SyncRefusal(t *testing.T) {
	t.Parallel()
	for _, rollback := range []bool{false, true} {
		t.Run(fmt.Sprintf("RollbackOnRefusal=%v", rollback), func(t *testing.T) {
			t.Parallel()
			e := newTxEnv(t, httptrigger.Options{Transaction: true, RollbackOnRefusal: rollback}, nil)
			e.saveWorkflows()

			r, _ := e.post("s,a", hostReq{Title: "bad"}, false)
			requireError(t, r, http.StatusBadRequest, "bad refused")
			r, _ = e.post("s,a", hostReq{Title: "good"}, false)
			require.Equal(t, http.StatusOK, r.code, r.raw)
			require.Equal(t, `[{"message":"good ok"}]`, rawMember(t, r, "messages"))

			e.waitIdle()
			if rollback {
				require.Equal(t, []string{"good"}, e.notes(), "the refused write was rolled back")
			} else {
				require.Equal(t, []string{"bad", "good"}, e.notes(), "the refused write is kept")
				require.ElementsMatch(t, []string{"bad", "good"}, e.execTitles("s"))
			}
			require.Equal(t, []string{"good"}, e.execTitles("a"), "a refused action queues no async workflow")
		})
	}
}

// failStore fails to queue executions, like a database that went away
// between the handler's write and the enqueue. It passes SQLTx through, so
// the handler still gets its *sql.Tx.
type failStore struct{ storagetest.RecordsStore }

var errQueueDown = errors.New("queue table unreachable")

func (s failStore) InTx(ctx context.Context, fn func(ctx context.Context, tx storage.Store) error) error {
	return s.RecordsStore.InTx(ctx, func(ctx context.Context, tx storage.Store) error {
		return fn(ctx, failStore{tx.(storagetest.RecordsStore)})
	})
}

func (s failStore) InsertExecution(context.Context, *flow.Execution) error {
	return fmt.Errorf("%w: %w", flow.ErrStorage, errQueueDown)
}

func (s failStore) SQLTx() (*sql.Tx, bool) {
	if h, ok := s.RecordsStore.(storage.SQLTxHolder); ok {
		return h.SQLTx()
	}
	return nil, false
}

// A store failure while queueing answers 500 and rolls the handler's write
// back: the client was not told it succeeded, and nothing half-done stays.
func TestMiddlewareTx_StoreFailure(t *testing.T) {
	t.Parallel()
	e := newTxEnv(t, httptrigger.Options{Transaction: true}, func(s storage.Store) storage.Store { return failStore{s.(storagetest.RecordsStore)} })
	e.saveWorkflows()
	r, _ := e.post("a", hostReq{Title: "lost"}, false)
	require.Equal(t, http.StatusInternalServerError, r.code, r.raw)
	require.NotEmpty(t, r.errorMessages(), r.raw)
	require.Empty(t, e.notes())
	require.Empty(t, e.execTitles("a"))
}

// A handler that calls AfterAction (AfterActionTx on SQL) itself inside the
// wrapped route triggers each workflow once, not twice, and its response
// carries the sync workflow's messages; with and without Transaction. When
// it answers its own call's refusal, its write stays as on the Middleware's
// own refusal (unless RollbackOnRefusal).
func TestMiddlewareTx_SelfTriggeringHandler(t *testing.T) {
	t.Parallel()
	for _, opts := range []httptrigger.Options{{Transaction: true}, {}, {Transaction: true, RollbackOnRefusal: true}} {
		t.Run(fmt.Sprintf("Transaction=%v,RollbackOnRefusal=%v", opts.Transaction, opts.RollbackOnRefusal), func(t *testing.T) {
			t.Parallel()
			e := newTxEnv(t, opts, nil)
			e.saveWorkflows()
			r, _ := e.post("s,a", hostReq{Title: "expense", Self: true}, false)
			require.Equal(t, http.StatusOK, r.code, r.raw)
			require.Equal(t, "expense", r.data()["title"])
			require.Equal(t, `[{"message":"expense ok"}]`, rawMember(t, r, "messages"))

			// The handler's own refusal is its answer; nothing runs again.
			r, _ = e.post("s,a", hostReq{Title: "bad", Self: true}, false)
			requireError(t, r, http.StatusBadRequest, "bad refused")

			e.waitIdle()
			if opts.RollbackOnRefusal {
				require.Equal(t, []string{"expense"}, e.notes(), "the refused write was rolled back")
				require.Equal(t, []string{"expense"}, e.execTitles("s"))
			} else {
				require.Equal(t, []string{"expense", "bad"}, e.notes(), "the refused write is kept")
				require.Equal(t, []string{"expense", "bad"}, e.execTitles("s"), "one sync execution per request")
			}
			require.Equal(t, []string{"expense"}, e.execTitles("a"), "one async execution per accepted request")
			require.Equal(t, []string{"on expense"}, e.comments(), "one comment (ledger row) per expense")
		})
	}
}
