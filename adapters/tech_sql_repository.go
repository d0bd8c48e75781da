package adapters

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/pressly/goose/v3"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/domain/tech"
)

//go:embed migrations
var migrations embed.FS

// EventBusFactory builds an event bus that publishes through publisher. The
// repositories use it to write events into their outbox with exactly the topics,
// names and metadata the real event bus would give them.
type EventBusFactory func(publisher message.Publisher) (command.EventPublisher, error)

// sqlDialect is what differs between the SQL stores; everything else is shared.
type sqlDialect struct {
	name string
	// isolation is the level of every transaction. MySQL runs read committed, so
	// that a locking read of a missing row takes no gap lock to deadlock on.
	isolation sql.IsolationLevel
	// insertCommandIfAbsent inserts (id, status, accepted_at, updated_at) unless id exists.
	insertCommandIfAbsent string
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
	// retryable reports errors after which the whole transaction may be run again
	// (deadlocks, a unique key taken by a concurrent transaction).
	retryable func(error) bool
}

// techSQLRepository implements the tech and command ports on a SQL database.
// TechSQLiteRepository and TechMySQLRepository give it its dialect.
type techSQLRepository struct {
	writeDB     *sql.DB
	readDB      *sql.DB
	dialect     sqlDialect
	newEventBus EventBusFactory
	// outboxWritten wakes the outbox relay of this process after a commit that
	// wrote events, so that they are relayed at once rather than at the next poll.
	outboxWritten chan struct{}
}

var (
	_ command.TechRepository = (*techSQLRepository)(nil)
	_ command.CommandLog     = (*techSQLRepository)(nil)
	_ query.TechReadModel    = (*techSQLRepository)(nil)
	_ query.CommandReadModel = (*techSQLRepository)(nil)
)

func newTechSQLRepository(writeDB, readDB *sql.DB, dialect sqlDialect, newEventBus EventBusFactory) *techSQLRepository {
	return &techSQLRepository{
		writeDB:       writeDB,
		readDB:        readDB,
		dialect:       dialect,
		newEventBus:   newEventBus,
		outboxWritten: make(chan struct{}, 1),
	}
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
func (r *techSQLRepository) Ping(ctx context.Context) error {
	return r.writeDB.PingContext(ctx)
}

// inTx runs fn in a transaction, and runs it again when the dialect says the
// failure was a conflict with a concurrent transaction.
func (r *techSQLRepository) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
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
		err = r.runTx(ctx, fn)
		if err == nil || r.dialect.retryable == nil || !r.dialect.retryable(err) {
			return err
		}
	}
	return err
}

func (r *techSQLRepository) runTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := r.writeDB.BeginTx(ctx, &sql.TxOptions{Isolation: r.dialect.isolation})
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func (r *techSQLRepository) MentionTech(ctx context.Context, commandID string, key string, mention command.MentionFunc) (bool, error) {
	var applied, wroteEvents bool
	err := r.inTx(ctx, func(tx *sql.Tx) error {
		applied, wroteEvents = false, false
		now := time.Now().UTC()

		// The command row is inserted first, so that there is always a row to lock:
		// two deliveries of one command serialize on it.
		if _, err := tx.ExecContext(ctx, r.dialect.insertCommandIfAbsent, commandID, command.StatusPending, now, now); err != nil {
			return fmt.Errorf("recording command: %w", err)
		}
		var status command.Status
		if err := tx.QueryRowContext(ctx, "SELECT status FROM commands WHERE id = ?"+r.dialect.forUpdate, commandID).Scan(&status); err != nil {
			return fmt.Errorf("reading command: %w", err)
		}
		if status != command.StatusPending {
			return nil
		}

		current, err := scanTech(tx.QueryRowContext(ctx, "SELECT "+techColumns+" FROM techs WHERE name_key = ?"+r.dialect.forUpdate, key))
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("reading tech: %w", err)
		}
		var currentTech *tech.Tech
		if err == nil {
			currentTech = &current
		}

		outbox := &outboxPublisher{tx: tx, ctx: ctx}
		events, err := r.newEventBus(outbox)
		if err != nil {
			return err
		}
		next, err := mention(ctx, currentTech, events)
		if err != nil {
			return err
		}
		if next.Key != key {
			return fmt.Errorf("mention changed the tech's key from %q to %q", key, next.Key)
		}

		if currentTech == nil {
			_, err = tx.ExecContext(ctx,
				"INSERT INTO techs (id, name_key, name, mentions, priority, priority_rank, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
				next.ID, next.Key, next.Name, next.Mentions, next.Priority, next.Priority.Rank(), next.CreatedAt, next.UpdatedAt)
		} else {
			_, err = tx.ExecContext(ctx,
				"UPDATE techs SET mentions = ?, priority = ?, priority_rank = ?, updated_at = ? WHERE id = ?",
				next.Mentions, next.Priority, next.Priority.Rank(), next.UpdatedAt, next.ID)
		}
		if err != nil {
			return fmt.Errorf("storing tech: %w", err)
		}

		if _, err := tx.ExecContext(ctx, "UPDATE commands SET status = ?, tech_id = ?, updated_at = ? WHERE id = ?",
			command.StatusProcessed, next.ID, now, commandID); err != nil {
			return fmt.Errorf("marking command processed: %w", err)
		}
		applied, wroteEvents = true, outbox.written > 0
		return nil
	})
	if err != nil {
		return false, err
	}
	if wroteEvents {
		r.notifyOutbox()
	}
	return applied, nil
}

func (r *techSQLRepository) notifyOutbox() {
	select {
	case r.outboxWritten <- struct{}{}:
	default: // a wake-up is pending already
	}
}

func (r *techSQLRepository) Accept(ctx context.Context, id string, at time.Time) (command.Status, bool, error) {
	res, err := r.writeDB.ExecContext(ctx, r.dialect.insertCommandIfAbsent, id, command.StatusPending, at.UTC(), at.UTC())
	if err != nil {
		return "", false, err
	}
	inserted, err := res.RowsAffected()
	if err != nil {
		return "", false, err
	}
	if inserted > 0 {
		return command.StatusPending, true, nil
	}
	var status command.Status
	if err := r.writeDB.QueryRowContext(ctx, "SELECT status FROM commands WHERE id = ?", id).Scan(&status); err != nil {
		return "", false, err
	}
	return status, false, nil
}

func (r *techSQLRepository) Forget(ctx context.Context, id string) error {
	_, err := r.writeDB.ExecContext(ctx, "DELETE FROM commands WHERE id = ? AND status = ?", id, command.StatusPending)
	return err
}

func (r *techSQLRepository) MarkFailed(ctx context.Context, id string, reason string) error {
	now := time.Now().UTC()
	_, err := r.writeDB.ExecContext(ctx, r.dialect.markFailed, id, command.StatusFailed, reason, now, now)
	return err
}

// ReopenFailed puts a failed command back to pending, so that it is applied when
// it is delivered again: what requeuing a poisoned command needs.
func (r *techSQLRepository) ReopenFailed(ctx context.Context, id string) error {
	_, err := r.writeDB.ExecContext(ctx, "UPDATE commands SET status = ?, error = NULL, updated_at = ? WHERE id = ? AND status = ?",
		command.StatusPending, time.Now().UTC(), id, command.StatusFailed)
	return err
}

func (r *techSQLRepository) CommandReport(ctx context.Context, id string) (query.CommandReport, error) {
	var (
		report         query.CommandReport
		techID, reason sql.NullString
	)
	err := r.readDB.QueryRowContext(ctx, "SELECT id, status, tech_id, error FROM commands WHERE id = ?", id).
		Scan(&report.CommandID, &report.Status, &techID, &reason)
	if errors.Is(err, sql.ErrNoRows) {
		return query.CommandReport{}, apperr.NotFoundf("no command with id %q", id)
	}
	if err != nil {
		return query.CommandReport{}, err
	}
	report.TechID, report.Error = techID.String, reason.String
	return report, nil
}

const techColumns = "id, name_key, name, mentions, priority, created_at, updated_at"

func (r *techSQLRepository) ListTechs(ctx context.Context, limit int, after *query.Cursor) ([]query.Tech, error) {
	q := "SELECT " + techColumns + " FROM techs"
	var args []any
	if after != nil {
		q += " WHERE priority_rank < ? OR (priority_rank = ? AND mentions < ?) OR (priority_rank = ? AND mentions = ? AND name_key > ?)"
		args = append(args, after.PriorityRank, after.PriorityRank, after.Mentions, after.PriorityRank, after.Mentions, after.Key)
	}
	q += " ORDER BY priority_rank DESC, mentions DESC, name_key LIMIT ?"
	args = append(args, limit)

	rows, err := r.readDB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()

	techs := make([]query.Tech, 0, limit)
	for rows.Next() {
		t, err := scanTech(rows)
		if err != nil {
			return nil, err
		}
		techs = append(techs, toQueryTech(t))
	}
	return techs, rows.Err()
}

func (r *techSQLRepository) TechByID(ctx context.Context, id string) (query.Tech, error) {
	t, err := scanTech(r.readDB.QueryRowContext(ctx, "SELECT "+techColumns+" FROM techs WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return query.Tech{}, apperr.NotFoundf("no tech with id %q", id)
	}
	if err != nil {
		return query.Tech{}, err
	}
	return toQueryTech(t), nil
}

func toQueryTech(t tech.Tech) query.Tech {
	return query.Tech{ID: t.ID, Name: t.Name, Key: t.Key, Mentions: t.Mentions, Priority: t.Priority, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

type rowScanner interface {
	Scan(dest ...any) error
}

func scanTech(row rowScanner) (tech.Tech, error) {
	var (
		t                    tech.Tech
		priority             string
		createdAt, updatedAt sqlTime
	)
	if err := row.Scan(&t.ID, &t.Key, &t.Name, &t.Mentions, &priority, &createdAt, &updatedAt); err != nil {
		return tech.Tech{}, err
	}
	p, err := tech.ParsePriority(priority)
	if err != nil {
		return tech.Tech{}, err
	}
	t.Priority, t.CreatedAt, t.UpdatedAt = p, createdAt.Time, updatedAt.Time
	return t, nil
}

// sqlTime scans the time types of both drivers: time.Time from MySQL, and from
// SQLite either time.Time or the text it stored.
type sqlTime struct{ time.Time }

var sqliteTimeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999",
}

func (t *sqlTime) Scan(src any) error {
	var text string
	switch v := src.(type) {
	case time.Time:
		t.Time = v.UTC()
		return nil
	case string:
		text = v
	case []byte:
		text = string(v)
	default:
		return fmt.Errorf("cannot scan %T into a time", src)
	}
	for _, layout := range sqliteTimeLayouts {
		if parsed, err := time.Parse(layout, text); err == nil {
			t.Time = parsed.UTC()
			return nil
		}
	}
	return fmt.Errorf("cannot parse time %q", text)
}

// outboxPublisher is a watermill publisher that writes messages into the outbox
// table as part of a transaction: they exist if, and only if, it commits.
type outboxPublisher struct {
	tx      *sql.Tx
	ctx     context.Context
	written int
}

func (p *outboxPublisher) Publish(topic string, messages ...*message.Message) error {
	for _, msg := range messages {
		metadata, err := json.Marshal(msg.Metadata)
		if err != nil {
			return err
		}
		if _, err := p.tx.ExecContext(p.ctx,
			"INSERT INTO outbox (topic, uuid, payload, metadata, created_at) VALUES (?, ?, ?, ?, ?)",
			topic, msg.UUID, []byte(msg.Payload), string(metadata), time.Now().UTC()); err != nil {
			return fmt.Errorf("writing event to the outbox: %w", err)
		}
		p.written++
	}
	return nil
}

func (p *outboxPublisher) Close() error { return nil }

// OutboxRelayConfig tunes the relay that moves events from the outbox to the
// event bus.
type OutboxRelayConfig struct {
	// BatchSize is how many events one round relays at most.
	BatchSize int
	// PollInterval is how often the relay looks for events written by other
	// processes; events of this process wake it at once.
	PollInterval time.Duration
	// MaxBackoff bounds the wait after a failed round.
	MaxBackoff time.Duration
}

func (c *OutboxRelayConfig) setDefaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 500 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Second
	}
}

// RelayOutbox publishes the events of the outbox on publisher, oldest first,
// deleting each batch once published, until ctx is done. An event is deleted only
// after its publish succeeded, so a crash at any point leads to a second publish,
// never to none: event handlers must be idempotent.
func (r *techSQLRepository) RelayOutbox(ctx context.Context, publisher message.Publisher, config OutboxRelayConfig, logger *slog.Logger) error {
	config.setDefaults()
	backoff := time.Duration(0)
	for {
		relayed, err := r.relayOutboxBatch(ctx, publisher, config.BatchSize)
		wait := config.PollInterval
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			backoff = min(max(2*backoff, 50*time.Millisecond), config.MaxBackoff)
			wait = backoff
			logger.WarnContext(ctx, "outbox relay failed, retrying", slog.Any("error", err), slog.Duration("retry_in", wait))
		case relayed == config.BatchSize:
			backoff = 0
			continue // more may be waiting
		default:
			backoff = 0
		}

		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-r.outboxWritten:
			timer.Stop()
		case <-timer.C:
		}
	}
}

type outboxRow struct {
	id  int64
	msg *message.Message
	to  string
}

func (r *techSQLRepository) relayOutboxBatch(ctx context.Context, publisher message.Publisher, batchSize int) (int, error) {
	tx, err := r.writeDB.BeginTx(ctx, &sql.TxOptions{Isolation: r.dialect.isolation})
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()

	// Where the dialect can, rows being relayed by another process are skipped
	// rather than waited for or relayed twice.
	rows, err := tx.QueryContext(ctx, "SELECT id, topic, uuid, payload, metadata FROM outbox ORDER BY id LIMIT ?"+r.dialect.forUpdate+r.dialect.skipLocked, batchSize)
	if err != nil {
		return 0, err
	}
	var batch []outboxRow
	for rows.Next() {
		var (
			row      outboxRow
			uuid     string
			payload  []byte
			metadata string
		)
		if err := rows.Scan(&row.id, &row.to, &uuid, &payload, &metadata); err != nil {
			rows.Close()
			return 0, err
		}
		row.msg = message.NewMessage(uuid, payload)
		if err := json.Unmarshal([]byte(metadata), &row.msg.Metadata); err != nil {
			rows.Close()
			return 0, fmt.Errorf("outbox row %d: bad metadata: %w", row.id, err)
		}
		batch = append(batch, row)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(batch) == 0 {
		return 0, nil
	}

	ids := make([]any, len(batch))
	for i, row := range batch {
		if err := publisher.Publish(row.to, row.msg); err != nil {
			return 0, fmt.Errorf("publishing outbox row %d to %s: %w", row.id, row.to, err)
		}
		ids[i] = row.id
	}
	placeholders := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
	if _, err := tx.ExecContext(ctx, "DELETE FROM outbox WHERE id IN ("+placeholders+")", ids...); err != nil {
		return 0, err
	}
	return len(batch), tx.Commit()
}
