package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/techradar/techradar/internal/groupcommit"
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
	// ForUpdate locks the selected rows for the rest of the transaction.
	ForUpdate string
	// SkipLocked makes a locking read pass over rows another transaction holds.
	SkipLocked string
	// MultiStatements is set when the pool's connections take several
	// statements in one query: a batch's writes then cost one round trip.
	MultiStatements bool
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
}

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
	fsys, err := fs.Sub(migrations, "migrations/"+dir)
	if err != nil {
		return err
	}
	provider, err := goose.NewProvider(dialect, db, fsys)
	if err != nil {
		return fmt.Errorf("preparing migrations: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("applying migrations: %w", err)
	}
	return nil
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
		if err == nil || db.dialect.Retryable == nil || !db.dialect.Retryable(err) {
			return err
		}
	}
	return err
}

func (db *DB) runTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.beginTx(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
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
		for _, st := range statements {
			if _, err := tx.ExecContext(ctx, st.Query, st.Args...); err != nil {
				return err
			}
		}
		return nil
	}
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
	_, err := tx.ExecContext(ctx, query.String(), args...)
	return err
}
