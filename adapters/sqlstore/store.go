package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/pressly/goose/v3"

	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/internal/groupcommit"
)

//go:embed migrations
var migrations embed.FS

// EventBusFactory builds an event bus that publishes through publisher. The
// repositories use it to write events into the outbox with exactly the topics,
// names and metadata the real event bus would give them.
type EventBusFactory func(publisher message.Publisher) (command.EventPublisher, error)

// sqlDialect is what differs between the SQL stores; everything else is shared.
type sqlDialect struct {
	name string
	// isolation is the level of every transaction. MySQL runs read committed, so
	// that a locking read of a missing row takes no gap lock to deadlock on.
	isolation sql.IsolationLevel
	// ignoreDuplicateCommand ends an insert into commands so that a row whose
	// id exists is skipped, neither inserted nor counted as affected.
	ignoreDuplicateCommand string
	// upsertTech ends an insert into techs so that a tech that exists is
	// updated: its mentions, priority and update time, never its name.
	upsertTech string
	// markFailed inserts or updates (id, error, accepted_at, updated_at) to failed,
	// leaving a processed command alone.
	markFailed string
	// insertPoisonedIfAbsent inserts (uuid, topic, handler, reason, payload,
	// metadata, poisoned_at) unless (uuid, handler) is there already.
	insertPoisonedIfAbsent string
	// forUpdate locks the selected rows for the rest of the transaction.
	forUpdate string
	// skipLocked makes a locking read pass over rows another transaction holds.
	skipLocked string
	// multiStatements is set when the pool's connections take several
	// statements in one query: a batch's writes then cost one round trip.
	multiStatements bool
	// retryable reports errors after which the whole transaction may be run again
	// (deadlocks, a unique key taken by a concurrent transaction).
	retryable func(error) bool
}

// Store is one SQL database (SQLite or MySQL) with techradar's schema: the
// connection pools, transactions, the command log, the outbox and the poisoned
// messages that every flow shares. The repositories of each flow work on it.
type Store struct {
	writeDB *sql.DB
	readDB  *sql.DB
	dialect sqlDialect
	// outboxWritten wakes the outbox relay of this process after a commit that
	// wrote events, so that they are relayed at once rather than at the next poll.
	outboxWritten chan struct{}
	// batches counts the group-committed batches in flight: Close waits for
	// them.
	batches sync.WaitGroup
	accepts *groupcommit.Committer[*acceptCall]
	// close releases what the store opened itself.
	close func() error
}

// maxBatch bounds the writes one group-committed transaction joins: enough to
// share a commit among all the handlers of a busy process, small enough for a
// statement or two of ordinary size.
const maxBatch = 128

// storeWriters is how many group-committed transactions of one kind a process
// runs at once. SQLite lets one writer in at a time; on MySQL, one measured
// best too: a second overlaps the round trips of two batches but halves their
// size, and on a busy machine the server's work per transaction costs more
// than the wait.
const storeWriters = 1

var (
	_ command.CommandLog     = (*Store)(nil)
	_ query.CommandReadModel = (*Store)(nil)
)

func newSQLStore(writeDB, readDB *sql.DB, dialect sqlDialect, close func() error) *Store {
	s := &Store{writeDB: writeDB, readDB: readDB, dialect: dialect, outboxWritten: make(chan struct{}, 1), close: close}
	s.accepts = groupcommit.New(groupcommit.MaxBatch, storeWriters, &s.batches, s.acceptBatch)
	return s
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

// Ping checks that the store answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.writeDB.PingContext(ctx)
}

// Close waits for the writes in flight, then closes what the store opened; a
// pool handed to it stays open.
func (s *Store) Close() error {
	s.batches.Wait()
	if s.close == nil {
		return nil
	}
	return s.close()
}

// inTx runs fn in a transaction, and runs it again when the dialect says the
// failure was a conflict with a concurrent transaction.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
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
		err = s.runTx(ctx, fn)
		if err == nil || s.dialect.retryable == nil || !s.dialect.retryable(err) {
			return err
		}
	}
	return err
}

func (s *Store) runTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.writeDB.BeginTx(ctx, &sql.TxOptions{Isolation: s.dialect.isolation})
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// InEventTx runs fn in a transaction with an event publisher bound to it: the
// events fn publishes are written into the outbox and exist if, and only if,
// the transaction commits. The relay is woken once it has.
func (s *Store) InEventTx(ctx context.Context, newEventBus EventBusFactory, fn func(tx *sql.Tx, events command.EventPublisher) error) error {
	var wrote bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		outbox := &outboxPublisher{}
		events, err := newEventBus(outbox)
		if err != nil {
			return err
		}
		if err := fn(tx, events); err != nil {
			return err
		}
		wrote = len(outbox.rows) > 0
		return writeOutbox(ctx, tx, outbox.rows)
	})
	if err == nil && wrote {
		s.notifyOutbox()
	}
	return err
}

func (s *Store) notifyOutbox() {
	select {
	case s.outboxWritten <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// execAll runs statements in tx, in order; where the connections allow it,
// in one round trip.
func (s *Store) execAll(ctx context.Context, tx *sql.Tx, statements ...statement) error {
	if len(statements) == 0 {
		return nil
	}
	if !s.dialect.multiStatements {
		for _, st := range statements {
			if _, err := tx.ExecContext(ctx, st.query, st.args...); err != nil {
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
		query.WriteString(st.query)
		args = append(args, st.args...)
	}
	_, err := tx.ExecContext(ctx, query.String(), args...)
	return err
}
