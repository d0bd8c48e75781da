package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/techradar/techradar/internal/groupcommit"
	"github.com/techradar/techradar/internal/mysqldb"
)

//go:embed migrations
var migrations embed.FS

// dialect is what differs between the SQL databases; everything else is
// shared. It is a plain value: the parts of the store read its fields.
type dialect struct {
	// Isolation is the level of every transaction. MySQL runs read committed, so
	// that a locking read of a missing row takes no gap lock to deadlock on.
	Isolation sql.IsolationLevel
	// IgnoreDuplicateCommand ends an insert into commands so that a row whose
	// id exists is skipped, neither inserted nor counted as affected.
	IgnoreDuplicateCommand string
	// UpsertTech ends an insert into techs so that a tech that exists is
	// updated: its mentions, priority and update time, never its name.
	UpsertTech string
	// MarkFailed inserts or updates (id, error, accepted_at, updated_at) to failed,
	// leaving a processed command alone.
	MarkFailed string
	// InsertPoisonedIfAbsent inserts (uuid, topic, handler, reason, payload,
	// metadata, poisoned_at) unless (uuid, handler) is there already.
	InsertPoisonedIfAbsent string
	// ListedTechs is how the list of techs reads the table: SQLite, which
	// keeps no statistics unless told to, otherwise takes the index of
	// merged_into for "merged_into IS NULL", true of nearly every tech, and
	// sorts the whole table for every page.
	ListedTechs string
	// ForUpdate locks the selected rows for the rest of the transaction.
	ForUpdate string
	// SkipLocked makes a locking read pass over rows another transaction holds.
	SkipLocked string
	// MultiStatements is set when the pool's connections take several
	// statements in one query: a batch's writes then cost one round trip.
	MultiStatements bool
	// PrepareWrites is set where parsing a statement costs more than a round
	// trip saves (SQLite, which parses in the process): the statements of
	// transactions are prepared once and kept (see writeStatement).
	PrepareWrites bool
	// OneProcess is set where the store serves one process's roles (SQLite:
	// the config refuses it to an api or worker process of their own), so
	// one outbox relay reads the outbox: it need not lock the rows it
	// publishes against another. A second service started on the same file
	// would publish events twice, never lose one.
	OneProcess bool
	// SkipFlush and Flush, where the dialect has them, are run on the
	// connection before and after a transaction whose commit need not reach
	// the disk at once (see runUnflushedTx); Flush must restore what the
	// write pool was opened with.
	SkipFlush, Flush string
	// Retryable reports errors after which the whole transaction may be run again
	// (deadlocks, a unique key taken by a concurrent transaction).
	Retryable func(error) bool
}

// DB is one SQL database (SQLite or MySQL) with techradar's schema: its
// connection pools, its dialect and its transactions. It is the core the
// other parts of the store are built on: the command log, the outbox and its
// relay, the poison queue, and the repository of each flow.
type DB struct {
	writeDB *sql.DB
	readDB  *sql.DB
	dialect dialect
	// batches counts the group-committed batches in flight: Close waits for
	// them.
	batches sync.WaitGroup
	// close releases what the DB opened itself.
	close func() error

	// readStatements are the reads prepared on the read pool, by query: a
	// constant of the code each, so the map holds a handful.
	readStatementsMu sync.Mutex
	readStatements   map[string]*sql.Stmt

	// writeStatements are the statements of transactions prepared on the
	// write pool, by query, where the dialect says so; wantedWrites are
	// those run unprepared since the last transaction ended, to prepare
	// before the next, and preparing those being prepared. At most
	// maxWriteStatements are kept, noted and being prepared together.
	writeStatementsMu sync.Mutex
	writeStatements   map[string]*sql.Stmt
	wantedWrites      map[string]struct{}
	preparing         int
}

// maxWriteStatements bounds the statements a DB keeps prepared for its
// transactions. A batch's statements differ by the number of rows they
// carry: about eight kinds at 1 to groupcommit.MaxBatch rows, some thousand
// texts in all. The first seen are kept, which under a steady load are the
// sizes its batches have; the others run unprepared, as before.
const maxWriteStatements = 512

// storeWriters is how many group-committed transactions of one kind a process
// runs at once. SQLite lets one writer in at a time; on MySQL, one measured
// best too: a second overlaps the round trips of two batches but halves their
// size, and on a busy machine the server's work per transaction costs more
// than the wait.
const storeWriters = 1

func newDB(writeDB, readDB *sql.DB, d dialect, close func() error) *DB {
	return &DB{writeDB: writeDB, readDB: readDB, dialect: d, close: close}
}

// newGroupCommit is a group commit whose batches Close waits for.
func newGroupCommit[T groupcommit.Call](db *DB, commit func(ctx context.Context, batch []T)) *groupcommit.Committer[T] {
	return groupcommit.New(groupcommit.MaxBatch, storeWriters, db.inFlight(), commit)
}

func migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, dir string) error {
	provider, err := migrationProvider(db, dialect, dir)
	if err != nil {
		return err
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("applying migrations: %w", err)
	}
	return nil
}

// migrationProvider applies the migrations of dir (sqlite or mysql) to db.
func migrationProvider(db *sql.DB, dialect goose.Dialect, dir string) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations, "migrations/"+dir)
	if err != nil {
		return nil, err
	}
	provider, err := goose.NewProvider(dialect, db, fsys)
	if err != nil {
		return nil, fmt.Errorf("preparing migrations: %w", err)
	}
	return provider, nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	return db.writeDB.PingContext(ctx)
}

// Close waits for the writes in flight, then closes what the DB opened; a
// pool handed to it stays open.
func (db *DB) Close() error {
	db.batches.Wait()
	var errs []error
	db.readStatementsMu.Lock()
	for query, stmt := range db.readStatements {
		errs = append(errs, stmt.Close())
		delete(db.readStatements, query)
	}
	db.readStatementsMu.Unlock()
	db.writeStatementsMu.Lock()
	for query, stmt := range db.writeStatements {
		errs = append(errs, stmt.Close())
		delete(db.writeStatements, query)
	}
	db.writeStatementsMu.Unlock()
	if db.close != nil {
		errs = append(errs, db.close())
	}
	return errors.Join(errs...)
}

// writer is the pool writes go through.
func (db *DB) writer() *sql.DB { return db.writeDB }

// reader is the pool of the read models.
func (db *DB) reader() *sql.DB { return db.readDB }

// readStatement is query, a constant of the code, prepared on the read pool:
// once, at its first use, and then on each connection the first time it runs
// there (database/sql does that). A read that runs for every request saves
// its parsing, which costs SQLite more than a primary-key lookup. A failed
// prepare is tried again at the next use. The prepare runs outside the lock,
// bounded by its caller's ctx: a caller never waits for another's.
func (db *DB) readStatement(ctx context.Context, query string) (*sql.Stmt, error) {
	db.readStatementsMu.Lock()
	stmt, ok := db.readStatements[query]
	db.readStatementsMu.Unlock()
	if ok {
		return stmt, nil
	}
	stmt, err := db.readDB.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	db.readStatementsMu.Lock()
	defer db.readStatementsMu.Unlock()
	if first, ok := db.readStatements[query]; ok {
		// Two first uses prepared it at once: keep one.
		_ = stmt.Close()
		return first, nil
	}
	if db.readStatements == nil {
		db.readStatements = map[string]*sql.Stmt{}
	}
	db.readStatements[query] = stmt
	return stmt, nil
}

// writeStatement is query prepared for the transactions of the write pool,
// or nil when it is not (yet): it is then noted, and prepared once the
// transaction that ran it has ended. It cannot be prepared on the spot: the
// write pool of SQLite has one connection, which the transaction holds, and
// a statement prepared through the transaction would be thrown away with it.
// Prepared on the pool, database/sql reuses it on that connection in every
// transaction (Tx.StmtContext), and prepares it again on a new connection.
func (db *DB) writeStatement(query string) *sql.Stmt {
	if !db.dialect.PrepareWrites {
		return nil
	}
	db.writeStatementsMu.Lock()
	defer db.writeStatementsMu.Unlock()
	if stmt, ok := db.writeStatements[query]; ok {
		return stmt
	}
	if len(db.writeStatements)+len(db.wantedWrites)+db.preparing < maxWriteStatements {
		if db.wantedWrites == nil {
			db.wantedWrites = map[string]struct{}{}
		}
		db.wantedWrites[query] = struct{}{}
	}
	return nil
}

// prepareWanted prepares the statements noted by writeStatement, between
// transactions. A statement that fails to prepare is left out: it runs
// unprepared, and is noted again.
func (db *DB) prepareWanted(ctx context.Context) {
	if !db.dialect.PrepareWrites {
		return
	}
	db.writeStatementsMu.Lock()
	wanted := db.wantedWrites
	db.wantedWrites = nil
	db.preparing += len(wanted)
	db.writeStatementsMu.Unlock()
	for query := range wanted {
		stmt, err := db.writeDB.PrepareContext(ctx, query)
		db.writeStatementsMu.Lock()
		db.preparing--
		switch _, kept := db.writeStatements[query]; {
		case err != nil:
		case kept || len(db.writeStatements) >= maxWriteStatements:
			_ = stmt.Close()
		default:
			if db.writeStatements == nil {
				db.writeStatements = map[string]*sql.Stmt{}
			}
			db.writeStatements[query] = stmt
		}
		db.writeStatementsMu.Unlock()
	}
}

// exec runs query in tx, prepared where the dialect says so.
func (db *DB) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if stmt := db.writeStatement(query); stmt != nil {
		return tx.StmtContext(ctx, stmt).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// execOnWriter runs query on the write pool as a statement that commits on
// its own, prepared where the dialect says so (as writeStatement tells: a
// statement prepared on the pool serves here and in transactions alike).
func (db *DB) execOnWriter(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if stmt := db.writeStatement(query); stmt != nil {
		return stmt.ExecContext(ctx, args...)
	}
	res, err := db.writeDB.ExecContext(ctx, query, args...)
	db.prepareWanted(ctx)
	return res, err
}

// query runs query in tx, prepared where the dialect says so. Where it is,
// the transaction has one statement per query text: the rows of a query
// must be closed before the same query runs again in the transaction, which
// would start them over.
func (db *DB) query(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	if stmt := db.writeStatement(query); stmt != nil {
		return tx.StmtContext(ctx, stmt).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, query, args...)
}

// queryRow runs query in tx, prepared where the dialect says so.
func (db *DB) queryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if stmt := db.writeStatement(query); stmt != nil {
		return tx.StmtContext(ctx, stmt).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// sqlDialect is the dialect of the database.
func (db *DB) sqlDialect() dialect { return db.dialect }

// inFlight counts the group-committed batches in flight.
func (db *DB) inFlight() *sync.WaitGroup { return &db.batches }

// inTx runs fn in a transaction, and runs it again when the dialect says the
// failure was a conflict with a concurrent transaction.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	const attempts = 10
	var err error
	for attempt := 0; attempt < attempts; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 5 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		err = db.runTx(ctx, fn)
		if err == nil || !db.retryable(err) {
			return err
		}
	}
	return err
}

// retryable tells whether a transaction that failed with err may run again:
// a conflict the dialect names, or a connection found dead before anything
// was sent on it. database/sql retries the latter itself when a transaction
// begins; on a MySQL pool the transaction begins with its first statement
// (mysqldb.Open), where database/sql does not.
func (db *DB) retryable(err error) bool {
	if errors.Is(err, driver.ErrBadConn) {
		return true
	}
	return db.dialect.Retryable != nil && db.dialect.Retryable(err)
}

func (db *DB) runTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	// Before the transaction, which needs the write pool's connection too;
	// there is something to prepare only the first times a statement runs.
	db.prepareWanted(ctx)
	tx, err := db.beginTx(ctx)
	return commitUnlessFailed(tx, err, fn)
}

// lastStatement marks ctx for the last statement of a transaction: on a pool
// from mysqldb.Open that statement also commits the transaction, in its own
// round trip, and the transaction's Commit has nothing left to send (see
// mysqldb.WithCommit). Elsewhere it changes nothing. A statement after it in
// the transaction fails, and its caller must not fail once it succeeded: the
// transaction is committed. execAll lets only the last of its statements
// commit.
func lastStatement(ctx context.Context) context.Context { return mysqldb.WithCommit(ctx) }

// commitUnlessFailed runs fn in tx, just begun with err, and commits it, or
// rolls it back when fn fails or panics (an open transaction would keep the
// write pool's connection).
func commitUnlessFailed(tx *sql.Tx, err error, fn func(tx *sql.Tx) error) error {
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // after a commit, a no-op
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// runUnflushedTx runs fn in a transaction whose commit survives a crash of
// the process but may be lost, where the dialect allows it, to a crash of the
// machine until the next commit that is flushed. On SQLite in WAL mode that
// saves a flush of the disk: the commit is in the log, and the next flushed
// commit's flush takes it along. It is for writes that are redone when lost,
// such as the outbox relay's deletes (a lost delete publishes an event once
// more, which is within at-least-once); never for a command's effect.
func (db *DB) runUnflushedTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if db.dialect.SkipFlush == "" {
		return db.runTx(ctx, fn)
	}
	db.prepareWanted(ctx) // before taking the write pool's connection, as runTx
	conn, err := db.writeDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer db.restoreFlush(ctx, conn)
	if _, err := conn.ExecContext(ctx, db.dialect.SkipFlush); err != nil {
		return err
	}
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{Isolation: db.dialect.Isolation})
	return commitUnlessFailed(tx, err, fn)
}

// restoreFlush gives conn back to the write pool flushing every commit
// again, or, when that cannot be told, closes it: no transaction after this
// one may skip the flush.
func (db *DB) restoreFlush(ctx context.Context, conn *sql.Conn) {
	restoreCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := conn.ExecContext(restoreCtx, db.dialect.Flush); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // closes it
	}
	_ = conn.Close()
}

// beginTx begins a transaction at the dialect's level; the caller commits or
// rolls it back.
func (db *DB) beginTx(ctx context.Context) (*sql.Tx, error) {
	return db.writeDB.BeginTx(ctx, &sql.TxOptions{Isolation: db.dialect.Isolation})
}

// execAll runs statements in tx, in order; where the connections allow it,
// in one round trip.
func (db *DB) execAll(ctx context.Context, tx *sql.Tx, statements ...statement) error {
	if len(statements) == 0 {
		return nil
	}
	if !db.dialect.MultiStatements {
		for i, st := range statements {
			stCtx := ctx
			if i < len(statements)-1 {
				// Only the last may commit (lastStatement).
				stCtx = mysqldb.WithoutCommit(ctx)
			}
			if _, err := db.exec(stCtx, tx, st.Query, st.Args...); err != nil {
				return err
			}
		}
		return nil
	}
	query, args := joinStatements(statements)
	_, err := tx.ExecContext(ctx, query, args...)
	return err
}

// joinStatements makes one query of several statements, for a pool that
// takes them (dialect.MultiStatements), with their arguments in order.
func joinStatements(statements []statement) (string, []any) {
	var (
		query strings.Builder
		args  []any
	)
	for i, st := range statements {
		if i > 0 {
			query.WriteString(";\n")
		}
		query.WriteString(st.Query)
		args = append(args, st.Args...)
	}
	return query.String(), args
}

// rowsRead is a query, what it reads (for its errors) and what takes its
// rows.
type rowsRead struct {
	statement
	what string
	// scan takes every row of the query's result; it neither closes rows
	// nor moves to another result.
	scan func(rows *sql.Rows) error
}

// queryAll runs reads in tx, in order; where the connections allow it, in
// one round trip, each read taking its own result. An error names the read
// that failed and wraps the driver's, so that a conflict is still retried.
func (db *DB) queryAll(ctx context.Context, tx *sql.Tx, reads ...rowsRead) error {
	if len(reads) == 0 {
		return nil
	}
	if !db.dialect.MultiStatements || len(reads) == 1 {
		for _, r := range reads {
			if err := db.queryOne(ctx, tx, r); err != nil {
				return fmt.Errorf("%s: %w", r.what, err)
			}
		}
		return nil
	}
	statements := make([]statement, len(reads))
	for i, r := range reads {
		statements[i] = r.statement
	}
	query, args := joinStatements(statements)
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", reads[0].what, err)
	}
	defer rows.Close()
	for i, r := range reads {
		// A statement that failed after the first one reports its error
		// when its result is asked for.
		if i > 0 && !rows.NextResultSet() {
			if err := rows.Err(); err != nil {
				return fmt.Errorf("%s: %w", r.what, err)
			}
			return fmt.Errorf("%s: no result: a query of %d statements gave %d", r.what, len(reads), i)
		}
		if err := r.scan(rows); err != nil {
			return fmt.Errorf("%s: %w", r.what, err)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("%s: %w", r.what, err)
		}
	}
	return rows.Close()
}

// queryOne runs r alone in tx.
func (db *DB) queryOne(ctx context.Context, tx *sql.Tx, r rowsRead) error {
	rows, err := db.query(ctx, tx, r.Query, r.Args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if err := r.scan(rows); err != nil {
		return err
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}
