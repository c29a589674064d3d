// Package memory is a storage.Store kept in process memory, built on
// hashicorp/go-memdb.
//
// It is not durable: Durable reports false and everything is lost when the
// process exits. It is meant for tests and for embedding the engine where losing
// queued executions on a restart is acceptable.
//
// Every write runs in one go-memdb write transaction (go-memdb allows one writer
// at a time, so writes serialise and claims are trivially atomic); reads outside
// InTx run in lock-free read transactions on the last committed state.
//
// Objects are copied on the way in and on the way out, with one exception: the
// maps and slices inside them that hold payloads are shared and must be treated
// as immutable by the caller once passed in or handed out. These are
// Execution.Context and Execution.Stack, Job.Result and Job.Meta, the nested
// values of workflow node configs (the config maps themselves are copied) and the
// values of record fields (each record map is copied, a map or slice stored in a
// JSON field is not).
//
// Beside the go-memdb tables, three small structures only change under
// go-memdb's writer lock, with the transaction that commits: the
// queue of runnable executions, the (workflow, event key) unique index and the
// job id index (jobs are stored inside their execution).
//
// Lists that are not on the hot path (ListWorkflows, ListExecutions, ListRecords
// and the association loads of appends) scan the objects of their kind.
//
// Writes cost what go-memdb's radix trees cost: inserting a new key copies the
// path to it, so time-ordered ids (UUIDv7, as the engine makes them) are much
// cheaper than random ones.
package memory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/actiontrigger/actiontrigger/flow"
	"github.com/actiontrigger/actiontrigger/storage"
)

// Store is an in-memory storage.Store. Create it with New; the zero value is not
// usable. All methods may be called concurrently. A Store handed to the function
// of InTx is bound to that transaction and fails once the transaction ended.
type Store struct {
	st *state
	tx *txState // nil outside InTx
}

var _ storage.Store = (*Store)(nil)

// state is what a store and its transaction views share.
type state struct {
	db *memdb.MemDB
	// seq orders workflows and executions by creation. It is only advanced
	// inside write transactions, which go-memdb serialises.
	seq atomic.Uint64

	// schema is the declared record schema, replaced as a whole by
	// DeclareCollections and read without locks.
	schema   atomic.Pointer[schema]
	schemaMu sync.Mutex

	// keyCounters holds the AllExecuted counter of each workflow key.
	keyMu       sync.Mutex
	keyCounters map[string]*atomic.Int64

	// events maps "workflow id NUL event key" to the execution holding it. It is
	// the unique index go-memdb does not enforce, and it is only read and written
	// by write transactions, under go-memdb's writer lock.
	events map[string]string

	// jobs maps job ids to their execution (jobs are stored in their
	// execution's row). Commits that change it hold jobsMu for writing around
	// the go-memdb commit, and reads hold it for reading around their lookup, so
	// the map and the committed rows always agree.
	jobsMu sync.RWMutex
	jobs   map[string]string

	// queue lists the runnable executions; see queue.
	queue queue
}

// txState is one go-memdb transaction with what must happen when it commits.
type txState struct {
	mu   sync.Mutex // serialises concurrent use of one transaction view
	st   *state
	txn  *memdb.Txn
	done bool
	// base reads the state the write transaction started from. Point reads go
	// to the write set first and to base then, so they never make go-memdb clone
	// a tree the transaction modified (which would make the next write copy its
	// path again). For read transactions base is txn.
	base *memdb.Txn
	// ws holds the latest version of every object this transaction wrote (nil:
	// deleted), indexed by wsIndex once it grows.
	ws      []wsEntry
	wsIndex map[string]int
	// counted lists the counters of the executions inserted in this
	// transaction, one entry per execution.
	counted []*wfCounter
	// events and jobs are the changes to state.events and state.jobs.
	events []mapOp
	jobs   []mapOp
	// qundo undoes the changes made to state.queue if the transaction rolls back.
	qundo []qundo
	view  Store // the Store InTx hands to its function
}

// writeTx is the txState of a write transaction with initial backing arrays
// for its logs: a typical transaction (one synchronous run) fits, and
// appending then allocates nothing. Read transactions do without.
type writeTx struct {
	txState
	wsBuf      [8]wsEntry
	countedBuf [2]*wfCounter
	jobsBuf    [4]mapOp
	qundoBuf   [2]qundo
}

type wsEntry struct {
	key string
	obj row // nil: deleted
}

// mapOp sets (val != "") or deletes (val == "") a key of a side map.
type mapOp struct{ key, val string }

var errTxDone = fmt.Errorf("memory: the transaction has ended: %w", flow.ErrStorage)

// New returns an empty store.
func New() *Store {
	db, err := memdb.NewMemDB(dbSchema())
	if err != nil {
		// The schema is static: this only fails if the code above is wrong.
		panic("memory: invalid go-memdb schema: " + err.Error())
	}
	st := &state{
		// A snapshot is a complete database that does not track mutations for
		// watches, which this store does not use: that saves allocations on
		// every write.
		db:          db.Snapshot(),
		keyCounters: make(map[string]*atomic.Int64),
		events:      make(map[string]string),
		jobs:        make(map[string]string),
		queue:       queue{live: make(map[string]*qent)},
	}
	st.schema.Store(&schema{colls: map[string]*collection{}})
	return &Store{st: st}
}

// Durable reports false: nothing survives the process.
func (s *Store) Durable() bool { return false }

// InTx runs fn in one go-memdb write transaction: its writes through tx become
// visible together when fn returns nil and are discarded when it returns an
// error or panics (the panic is propagated after the rollback). Calling InTx on
// the tx joins the transaction. While fn runs, other writers wait; fn must not
// write through the outer store (s), which would wait for itself.
//
// DeclareCollections is not transactional: a schema declared inside fn stays
// declared when the transaction rolls back. Auto ids handed out inside a
// rolled-back transaction are not reused.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context, tx storage.Store) error) error {
	if fn == nil {
		return errors.New("memory: InTx: nil function")
	}
	if s.tx != nil {
		return fn(ctx, s)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	t := s.st.begin()
	t.view = Store{st: s.st, tx: t}
	defer t.rollback() // after a commit: nothing to do
	if err := fn(ctx, &t.view); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	s.st.commit(t)
	return nil
}

// begin starts a write transaction.
func (st *state) begin() *txState {
	w := &writeTx{txState: txState{st: st, txn: st.db.Txn(true)}}
	w.ws, w.counted, w.jobs, w.qundo = w.wsBuf[:0], w.countedBuf[:0], w.jobsBuf[:0], w.qundoBuf[:0]
	return &w.txState
}

// rollback ends a write transaction that did not commit, undoing its changes
// to the queue before go-memdb releases the writer lock.
func (t *txState) rollback() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return
	}
	t.done = true
	t.queueUndo()
	t.txn.Abort()
}

// commit commits a write transaction and applies what it deferred.
func (st *state) commit(t *txState) {
	t.done = true
	st.queue.tidy()
	for _, op := range t.events {
		if op.val == "" {
			delete(st.events, op.key)
		} else {
			st.events[op.key] = op.val
		}
	}
	// Counters move just before the commit: a reader may see a version counted
	// an instant before its execution is visible, never the other way round.
	for _, c := range t.counted {
		c.executed.Add(1)
		c.all.Add(1)
	}
	if len(t.jobs) == 0 {
		t.txn.Commit()
		return
	}
	st.jobsMu.Lock()
	for _, op := range t.jobs {
		if op.val == "" {
			delete(st.jobs, op.key)
		} else {
			st.jobs[op.key] = op.val
		}
	}
	t.txn.Commit()
	st.jobsMu.Unlock()
}

// write runs fn in the store's transaction, or in a new write transaction that
// commits when fn succeeds and rolls back otherwise.
func (s *Store) write(ctx context.Context, fn func(t *txState) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t := s.tx; t != nil {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.done {
			return errTxDone
		}
		return fn(t)
	}
	t := s.st.begin()
	defer t.rollback() // after a commit: nothing to do
	if err := fn(t); err != nil {
		return err
	}
	s.st.commit(t)
	return nil
}

// read runs fn in the store's transaction, or in a new read transaction on the
// last committed state.
func (s *Store) read(ctx context.Context, fn func(t *txState) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t := s.tx; t != nil {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.done {
			return errTxDone
		}
		return fn(t)
	}
	txn := s.st.db.Txn(false)
	return fn(&txState{st: s.st, txn: txn, base: txn})
}

// row is an object of the objects table.
type row interface {
	// memKey is the object's key in the id index: a kind byte and its
	// identity. It never changes for a given object.
	memKey() []byte
}

// Kinds of objects: the first byte of their key.
const (
	kindWorkflow  = 'w'
	kindExecution = 'e'
	kindRecord    = 'r'
	// kindCount: the number of records of a collection ("n" collection), so
	// that an unfiltered page need not count the table.
	kindCount = 'n'
)

// get returns the object with the given key as this transaction sees it, or nil.
func (t *txState) get(key []byte) (row, error) {
	if i, ok := t.lookup(key); ok {
		return t.ws[i].obj, nil
	}
	return t.committed(key)
}

// getID is get for the object of kind with the given identity: it only builds
// the key when the write set does not have the object.
func (t *txState) getID(kind byte, id string) (row, error) {
	var buf [64]byte
	k := append(append(buf[:0], kind), id...)
	if i, ok := t.lookup(k); ok {
		return t.ws[i].obj, nil
	}
	return t.committed(objKey(kind, id))
}

// committed reads the object with key from the state the transaction started
// from.
func (t *txState) committed(key []byte) (row, error) {
	if t.base == nil {
		t.base = t.st.db.Txn(false)
	}
	raw, err := t.base.First(tableObjects, indexID, key)
	if err != nil {
		return nil, storageErr(err)
	}
	if raw == nil {
		return nil, nil
	}
	return raw.(row), nil
}

// lookup finds key in the write set.
func (t *txState) lookup(key []byte) (int, bool) {
	if t.wsIndex != nil {
		i, ok := t.wsIndex[string(key)]
		return i, ok
	}
	for i := range t.ws {
		if t.ws[i].key == string(key) {
			return i, true
		}
	}
	return 0, false
}

// remember records the latest version of the object with key in the write set.
func (t *txState) remember(key []byte, obj row) {
	k := unsafe.String(unsafe.SliceData(key), len(key)) // keys are never modified
	if t.wsIndex != nil {
		if i, ok := t.wsIndex[k]; ok {
			t.ws[i].obj = obj
			return
		}
		t.wsIndex[k] = len(t.ws)
	} else {
		for i := range t.ws {
			if t.ws[i].key == k {
				t.ws[i].obj = obj
				return
			}
		}
		if len(t.ws) >= 16 {
			t.wsIndex = make(map[string]int, 2*len(t.ws))
			for i, e := range t.ws {
				t.wsIndex[e.key] = i
			}
			t.wsIndex[k] = len(t.ws)
		}
	}
	t.ws = append(t.ws, wsEntry{key: k, obj: obj})
}

// put inserts or replaces an object. obj must be a new object: stored objects
// are never modified.
func (t *txState) put(obj row) error {
	if err := t.txn.Insert(tableObjects, obj); err != nil {
		return storageErr(err)
	}
	t.remember(obj.memKey(), obj)
	return nil
}

// del deletes a stored object.
func (t *txState) del(obj row) error {
	if err := t.txn.Delete(tableObjects, obj); err != nil {
		return storageErr(err)
	}
	t.remember(obj.memKey(), nil)
	return nil
}

// scan calls fn with every object whose key starts with prefix, in key order,
// as this transaction sees them, until fn returns false.
func (t *txState) scan(prefix []byte, fn func(row) bool) error {
	it, err := t.txn.Get(tableObjects, indexID+"_prefix", prefix)
	if err != nil {
		return storageErr(err)
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if !fn(raw.(row)) {
			return nil
		}
	}
	return nil
}

// mapValue reads a key of a side map as this transaction sees it, given the
// committed value.
func mapValue(ops []mapOp, key string, committed func() string) string {
	for i := len(ops) - 1; i >= 0; i-- {
		if ops[i].key == key {
			return ops[i].val
		}
	}
	return committed()
}

// storageErr wraps a go-memdb error.
func storageErr(err error) error {
	return fmt.Errorf("memory: %w: %w", flow.ErrStorage, err)
}

// Table and index names.
const (
	tableObjects = "objects"
	tableTasks   = "tasks"
	indexID      = "id"
	indexUser    = "user"
	indexJob     = "job"
)

// dbSchema keeps indexes to the minimum: each index is a radix tree, and
// go-memdb opens, commits and re-roots every index of every table a transaction
// writes to, whether the row is in that index or not. So:
//
//   - objects holds workflows, executions (with their jobs) and records under
//     one id index: a kind byte and the identity ("w" id, "e" id,
//     "r" collection NUL primary key). Prefix scans list a kind or a collection
//     in key order. The queue of runnable executions is not an index but a
//     structure of its own (see queue).
//   - tasks holds manual-approval tasks, indexed by id, by assignee and by job.
//
// go-memdb does not enforce secondary unique indexes: every uniqueness rule is
// checked in the write transaction before the insert.
func dbSchema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableObjects: {Name: tableObjects, Indexes: map[string]*memdb.IndexSchema{
			indexID: {Name: indexID, Unique: true, Indexer: keyIndexer(idKey)},
		}},
		tableTasks: {Name: tableTasks, Indexes: map[string]*memdb.IndexSchema{
			indexID:   {Name: indexID, Unique: true, Indexer: keyIndexer(taskKey)},
			indexUser: {Name: indexUser, Unique: true, Indexer: keyIndexer(taskUserKey)},
			indexJob:  {Name: indexJob, Unique: true, Indexer: keyIndexer(taskJobKey)},
		}},
	}}
}

func idKey(raw any) []byte {
	if r, ok := raw.(row); ok {
		return r.memKey()
	}
	return nil
}

// keyIndexer indexes objects by the key the function returns (nil: not
// indexed). It is a memdb.SingleIndexer and memdb.PrefixIndexer without
// reflection; lookups take one []byte or string argument.
type keyIndexer func(any) []byte

// FromObject implements memdb.SingleIndexer.
func (f keyIndexer) FromObject(raw any) (bool, []byte, error) {
	k := f(raw)
	return len(k) > 0, k, nil
}

// FromArgs implements memdb.Indexer.
func (f keyIndexer) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("memory: index lookups take one argument, got %d", len(args))
	}
	switch a := args[0].(type) {
	case []byte:
		return a, nil
	case string:
		return []byte(a), nil
	}
	return nil, fmt.Errorf("memory: cannot look up %T", args[0])
}

// PrefixFromArgs implements memdb.PrefixIndexer.
func (f keyIndexer) PrefixFromArgs(args ...any) ([]byte, error) { return f.FromArgs(args...) }

// objKey builds the key of an object of kind with the given identity.
func objKey(kind byte, id string) []byte {
	k := make([]byte, 1+len(id))
	k[0] = kind
	copy(k[1:], id)
	return k
}

// hexKey appends v as 16 lowercase hex digits: fixed width, so byte order is
// numeric order, and 16-way radix nodes, which are much cheaper to copy than
// the 256-way nodes of a binary encoding.
func hexKey(dst []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		dst = append(dst, digits[(v>>uint(shift))&15])
	}
	return dst
}
