package mysqldb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/go-sql-driver/mysql"
)

// A transaction through database/sql costs MySQL a round trip to begin it
// and one to commit it, besides its statements. The hot transactions here
// run two or three statements, and on a virtual machine each round trip
// that wakes an idle server thread costs it far more CPU than the statement
// itself (measured here: 33 µs for SELECT 1 back to back, 270–470 µs when
// 5–20 ms apart). The pool's connections therefore send START
// TRANSACTION with a transaction's first statement, in one round trip (the
// pool allows several statements in one query), and an Exec run with a
// context from WithCommit also commits, in the same round trip.

// beginStatement starts a transaction ahead of the statement it is sent with.
const beginStatement = "START TRANSACTION;\n"

// commitStatement commits the transaction after the statement it is sent with.
const commitStatement = ";\nCOMMIT"

// committingKey marks the context of a statement that also commits.
type committingKey struct{}

// WithCommit returns a context whose Exec, run in a transaction of a pool
// from Open, also commits that transaction, in the statement's round trip;
// the transaction's Commit then has nothing left to send, and any statement
// after it fails (ErrCommitted). If the Exec fails, the transaction is still
// open, and the caller rolls it back as usual. Outside a transaction, where
// the transaction was begun at once (an isolation level or read-only
// named), or for a query, it changes nothing.
//
// The statement's result counts what the statement did, not the COMMIT.
//
// As with any COMMIT, the outcome can be unknown: a connection lost during
// the round trip, or the transaction's context ending between this Exec and
// Commit (database/sql then reports the context's error from Commit,
// although the transaction committed).
func WithCommit(ctx context.Context) context.Context {
	return context.WithValue(ctx, committingKey{}, true)
}

// WithoutCommit undoes WithCommit for the statements of ctx that must not
// commit.
func WithoutCommit(ctx context.Context) context.Context {
	if !committing(ctx) {
		return ctx
	}
	return context.WithValue(ctx, committingKey{}, false)
}

// ErrCommitted is the error of a statement run in a transaction that a
// statement before it committed (WithCommit).
var ErrCommitted = errors.New("mysql: the transaction was committed by a statement before this one")

func committing(ctx context.Context) bool {
	commit, _ := ctx.Value(committingKey{}).(bool)
	return commit
}

// txState is where a deferredBeginConn's transaction is.
type txState int

const (
	noTx        txState = iota // no transaction, or one begun by the driver itself
	txWanted                   // begun for database/sql, START TRANSACTION not sent yet
	txOpen                     // START TRANSACTION sent
	txCommitted                // COMMIT sent with a statement
)

// driverConn is what database/sql uses of the driver's connection; the MySQL
// driver's connection is all of it.
type driverConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

// driverStmt is what database/sql uses of the driver's prepared statement.
type driverStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
	driver.NamedValueChecker
	//lint:ignore SA1019 database/sql still converts a statement's arguments with it
	driver.ColumnConverter
}

// deferredBeginConn is a connection of the driver whose transactions begin
// with their first statement. database/sql uses a connection from one
// goroutine at a time, so its state needs no lock.
type deferredBeginConn struct {
	driverConn
	tx txState
}

func newDeferredBeginConn(conn driver.Conn) (*deferredBeginConn, error) {
	c, ok := conn.(driverConn)
	if !ok {
		return nil, fmt.Errorf("mysql: the driver's connection (%T) lacks a method database/sql uses", conn)
	}
	return &deferredBeginConn{driverConn: c}, nil
}

// Begin is database/sql's oldest way in; it still begins at the first
// statement.
func (c *deferredBeginConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx sends nothing: the transaction begins with its first statement. A
// transaction that names its isolation level or is read-only is begun by the
// driver at once, as it would be without this connection.
func (c *deferredBeginConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.tx != noTx {
		return nil, errors.New("mysql: a transaction is already open on this connection")
	}
	if opts.Isolation != driver.IsolationLevel(0) || opts.ReadOnly {
		return c.driverConn.BeginTx(ctx, opts)
	}
	c.tx = txWanted
	return deferredTx{c}, nil
}

// ExecContext runs query, after START TRANSACTION when it is the
// transaction's first statement and followed by COMMIT when ctx asks for it
// (WithCommit).
func (c *deferredBeginConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.tx == txCommitted {
		return nil, ErrCommitted
	}
	begin := c.tx == txWanted
	commit := c.tx != noTx && committing(ctx)
	sent := query
	if begin {
		sent = beginStatement + sent
	}
	if commit {
		sent += commitStatement
	}
	res, err := c.driverConn.ExecContext(ctx, sent, args)
	if errors.Is(err, driver.ErrSkip) {
		// Nothing was sent: database/sql prepares the query instead, and
		// the prepared statement begins the transaction when it runs.
		return nil, err
	}
	if begin {
		// Sent, even if it failed: the transaction may have begun, and
		// ROLLBACK ends it.
		c.tx = txOpen
	}
	if err != nil {
		return nil, err
	}
	if commit {
		c.tx = txCommitted
		return statementResult{res}, nil
	}
	return res, nil
}

// QueryContext runs query, after START TRANSACTION when it is the
// transaction's first statement. The driver skips the result of START
// TRANSACTION, which has no rows, to the query's. A query never commits.
func (c *deferredBeginConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if c.tx == txCommitted {
		return nil, ErrCommitted
	}
	if c.tx != txWanted {
		return c.driverConn.QueryContext(ctx, query, args)
	}
	rows, err := c.driverConn.QueryContext(ctx, beginStatement+query, args)
	if errors.Is(err, driver.ErrSkip) {
		return nil, err
	}
	c.tx = txOpen
	return rows, err
}

// PrepareContext prepares query; preparing needs no transaction. A prepared
// statement is executed alone, so each execution begins a transaction that
// is wanted first, also for a statement prepared outside the transaction and
// reused in it (database/sql's Tx.Stmt on the same connection), which
// database/sql does not prepare again.
func (c *deferredBeginConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	stmt, err := c.driverConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	ds, ok := stmt.(driverStmt)
	if !ok {
		_ = stmt.Close()
		return nil, fmt.Errorf("mysql: the driver's statement (%T) lacks a method database/sql uses", stmt)
	}
	return deferredBeginStmt{driverStmt: ds, conn: c}, nil
}

// Prepare is PrepareContext without a context.
func (c *deferredBeginConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *deferredBeginConn) beginNow(ctx context.Context) error {
	if c.tx == txCommitted {
		return ErrCommitted
	}
	if c.tx != txWanted {
		return nil
	}
	c.tx = txOpen
	_, err := c.driverConn.ExecContext(ctx, "START TRANSACTION", nil)
	return err
}

// ResetSession forgets any transaction before the connection is used again;
// database/sql ends every transaction before that, so this is a safeguard.
func (c *deferredBeginConn) ResetSession(ctx context.Context) error {
	if c.tx != noTx {
		return driver.ErrBadConn
	}
	return c.driverConn.ResetSession(ctx)
}

// end sends the statement that ends the transaction, unless there is
// nothing to end: a transaction that ran no statement never began, and one
// whose last statement committed is over.
func (c *deferredBeginConn) end(statement string) error {
	open := c.tx == txOpen
	c.tx = noTx
	if !open {
		return nil
	}
	_, err := c.driverConn.ExecContext(context.Background(), statement, nil)
	return err
}

// deferredBeginStmt is a prepared statement of a deferredBeginConn.
type deferredBeginStmt struct {
	driverStmt
	conn *deferredBeginConn
}

func (s deferredBeginStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	if err := s.conn.beginNow(ctx); err != nil {
		return nil, err
	}
	return s.driverStmt.ExecContext(ctx, args)
}

func (s deferredBeginStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	if err := s.conn.beginNow(ctx); err != nil {
		return nil, err
	}
	return s.driverStmt.QueryContext(ctx, args)
}

// deferredTx is a transaction of a deferredBeginConn.
type deferredTx struct{ conn *deferredBeginConn }

func (t deferredTx) Commit() error   { return t.conn.end("COMMIT") }
func (t deferredTx) Rollback() error { return t.conn.end("ROLLBACK") }

// statementResult is the result of a statement sent with COMMIT after it:
// what the statement did, not the COMMIT, which did nothing the caller asks
// about.
type statementResult struct{ driver.Result }

func (r statementResult) RowsAffected() (int64, error) {
	if all, ok := r.Result.(mysql.Result); ok {
		return ofStatement(all.AllRowsAffected())
	}
	return r.Result.RowsAffected()
}

func (r statementResult) LastInsertId() (int64, error) {
	if all, ok := r.Result.(mysql.Result); ok {
		return ofStatement(all.AllLastInsertIds())
	}
	return r.Result.LastInsertId()
}

// ofStatement is the statement's value among those of every statement sent,
// the COMMIT's last.
func ofStatement(values []int64) (int64, error) {
	if len(values) < 2 {
		return 0, errors.New("mysql: no result for the statement sent with COMMIT")
	}
	return values[len(values)-2], nil
}
