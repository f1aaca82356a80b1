package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// The statements of the two hot paths, a token read and a refresh, are
// prepared once per Store instead of being parsed again on every call.
// database/sql prepares a *sql.Stmt again by itself on each connection of
// its pool that runs it; inside a write transaction a statement is bound to
// the transaction with tx.StmtContext. Every other statement is passed as
// text.

// readStmts are the statements prepared on the reader pool.
type readStmts struct {
	getConnection   *sql.Stmt // GetConnection
	getAPIKeyByHash *sql.Stmt // GetAPIKeyByHash
	nextDue         *sql.Stmt // NextDue
}

func prepareReads(p *preparer) *readStmts {
	return &readStmts{
		getConnection:   p.prepare(getConnectionQuery),
		getAPIKeyByHash: p.prepare(apiKeyByHashQuery),
		nextDue:         p.prepare(nextDueQuery),
	}
}

// writeStmts are the statements prepared on the writer. They must be
// obtained before the write transaction begins (see stmtSet.get).
type writeStmts struct {
	claimDue      *sql.Stmt // ClaimDue without a provider filter
	acquireLease  *sql.Stmt // AcquireLease's UPDATE
	releaseLease  *sql.Stmt // ReleaseLease
	save          *sql.Stmt // SaveConnection without a lease owner
	saveLeased    *sql.Stmt // SaveConnection with a lease owner
	insertAttempt *sql.Stmt // one refresh history row
	insertEvent   *sql.Stmt // one outbox event
}

func prepareWrites(p *preparer) *writeStmts {
	return &writeStmts{
		claimDue:      p.prepare(claimAllQuery),
		acquireLease:  p.prepare(acquireLeaseQuery),
		releaseLease:  p.prepare(releaseLeaseQuery),
		save:          p.prepare(saveQuery(false)),
		saveLeased:    p.prepare(saveQuery(true)),
		insertAttempt: p.prepare(insertAttemptQuery),
		insertEvent:   p.prepare(insertEventQuery),
	}
}

// preparer prepares statements on one pool. After the first failure it
// prepares nothing more and returns nil statements; err tells.
type preparer struct {
	ctx   context.Context
	db    *sql.DB
	stmts []*sql.Stmt // every statement prepared
	err   error
}

func (p *preparer) prepare(query string) *sql.Stmt {
	if p.err != nil {
		return nil
	}
	st, err := p.db.PrepareContext(p.ctx, query)
	if err != nil {
		p.err = err
		return nil
	}
	p.stmts = append(p.stmts, st)
	return st
}

// stmtSet is a set of statements (a *readStmts or *writeStmts) prepared on
// one pool when first needed and kept until close.
//
// Preparation is lazy because Open does not migrate: a statement cannot be
// prepared before its tables exist. A failed preparation is not kept, so the
// next call tries again and a store opened on an empty file works once it is
// migrated. A statement prepared before a later migration stays valid:
// SQLite prepares it again by itself when the schema changes.
type stmtSet[T any] struct {
	db    *sql.DB
	build func(*preparer) *T
	set   atomic.Pointer[T] // nil until prepared

	mu    sync.Mutex  // serializes preparation and close
	stmts []*sql.Stmt // what close closes
}

func newStmtSet[T any](db *sql.DB, build func(*preparer) *T) *stmtSet[T] {
	return &stmtSet[T]{db: db, build: build}
}

// get returns the statements, preparing them on the first call that
// succeeds. Preparing takes a connection of the pool; on the writer, whose
// one connection a write transaction holds, get must therefore be called
// before s.write, never inside it.
func (l *stmtSet[T]) get(ctx context.Context) (*T, error) {
	if set := l.set.Load(); set != nil {
		return set, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if set := l.set.Load(); set != nil {
		return set, nil
	}
	p := &preparer{ctx: ctx, db: l.db}
	set := l.build(p)
	if p.err != nil {
		for _, st := range p.stmts {
			_ = st.Close() // the error that matters is the preparation's
		}
		return nil, fmt.Errorf("prepare statements: %w", mapErr(p.err))
	}
	l.stmts = p.stmts
	l.set.Store(set)
	return set, nil
}

// close closes the prepared statements. The set must not be used afterwards.
func (l *stmtSet[T]) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for _, st := range l.stmts {
		errs = append(errs, st.Close())
	}
	l.stmts = nil
	return errors.Join(errs...)
}
