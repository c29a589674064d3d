package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStmts bounds the statement cache: queries past it run unprepared.
// The store's own queries are a few dozen; record queries vary with the
// columns a write names.
const maxCachedStmts = 512

// stmtCache keeps prepared statements for SQLite, whose driver
// (modernc.org/sqlite) parses and plans every statement it is given again:
// the parse costs as much as running a small insert. database/sql prepares a
// cached statement once on each connection it runs on, and a transaction
// reuses the one of its connection. PostgreSQL needs none: pgx caches the
// statements of each connection itself.
type stmtCache struct {
	mu     sync.RWMutex
	m      map[string]*sql.Stmt
	closed bool
}

// get returns the prepared statement of query, preparing it if needed, or nil
// when it is not cached (the cache is full or closed, or preparing failed:
// running the query unprepared reports the error).
func (c *stmtCache) get(ctx context.Context, db *sql.DB, query string) *sql.Stmt {
	c.mu.RLock()
	s := c.m[query]
	c.mu.RUnlock()
	if s != nil {
		return s
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.m[query]; s != nil {
		return s
	}
	if c.closed || len(c.m) >= maxCachedStmts {
		return nil
	}
	if db.Stats().MaxOpenConnections == 1 {
		// Preparing takes a connection of its own, which a one-connection
		// pool (SQLite in memory) has not while a transaction holds it.
		c.closed = true
		return nil
	}
	s, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[query] = s
	return s
}

// close closes the cached statements; later queries run unprepared.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.m {
		_ = s.Close()
	}
	c.m = nil
	c.closed = true
}

// cachedQ runs queries through the statement cache, in tx or (tx nil) on the
// database.
type cachedQ struct {
	st *state
	tx *sql.Tx
	// noCancel runs statements without the caller's cancellation: in a shared
	// (group) transaction an interrupted statement would make SQLite roll back
	// every member's writes.
	noCancel bool
}

func (q cachedQ) stmt(ctx context.Context, query string) *sql.Stmt {
	s := q.st.stmts.get(ctx, q.st.db, query)
	if s == nil || q.tx == nil {
		return s
	}
	return q.tx.StmtContext(ctx, s)
}

func (q cachedQ) ExecContext(ctx context.Context, query string, args ...any) (Result, error) {
	if q.noCancel {
		ctx = context.WithoutCancel(ctx)
	}
	if s := q.stmt(ctx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	if q.tx != nil {
		return q.tx.ExecContext(ctx, query, args...)
	}
	return q.st.db.ExecContext(ctx, query, args...)
}

func (q cachedQ) QueryContext(ctx context.Context, query string, args ...any) (Rows, error) {
	if q.noCancel {
		ctx = context.WithoutCancel(ctx)
	}
	var rows *sql.Rows
	var err error
	if s := q.stmt(ctx, query); s != nil {
		rows, err = s.QueryContext(ctx, args...)
	} else if q.tx != nil {
		rows, err = q.tx.QueryContext(ctx, query, args...)
	} else {
		rows, err = q.st.db.QueryContext(ctx, query, args...)
	}
	if err != nil {
		return nil, err // not a Rows holding a nil *sql.Rows
	}
	return rows, nil
}

func (q cachedQ) QueryRowContext(ctx context.Context, query string, args ...any) Row {
	if q.noCancel {
		ctx = context.WithoutCancel(ctx)
	}
	if s := q.stmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	if q.tx != nil {
		return q.tx.QueryRowContext(ctx, query, args...)
	}
	return q.st.db.QueryRowContext(ctx, query, args...)
}

// querier returns what the store's statements run on: tx (or the database
// when tx is nil), through the statement cache on SQLite.
func (st *state) querier(tx *sql.Tx) querier {
	return st.querierOpt(tx, false)
}

// txQuerier is querier for the unit of work t.
func (st *state) txQuerier(t *txState) querier {
	if t.ext != nil {
		return t.ext
	}
	if t.shared {
		return st.querierOpt(t.tx, true)
	}
	return st.querier(t.tx)
}

func (st *state) querierOpt(tx *sql.Tx, noCancel bool) querier {
	if st.d == SQLite {
		return cachedQ{st: st, tx: tx, noCancel: noCancel}
	}
	if tx != nil {
		return (*sqlTx)(tx)
	}
	return (*sqlDB)(st.db)
}
