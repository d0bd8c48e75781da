package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/app/command"
)

// CommandResenderConfig tunes the resender of pending commands.
type CommandResenderConfig struct {
	// ResendAfter is how long a command stays pending after it was last sent
	// before it is sent again: longer than a transport takes to redeliver a
	// message on its own, or healthy commands are sent twice.
	ResendAfter time.Duration
	// Interval is how often the resender looks for commands due; by default
	// a quarter of ResendAfter, between 100ms and 15s.
	Interval time.Duration
	// BatchSize is how many commands one round claims at most.
	BatchSize int
	// PublishTimeout bounds the wait for one publish: a round whose publish
	// does not answer ends there, and its commands are due again later.
	PublishTimeout time.Duration
	// OnResent, when set, is told of every command published again (the
	// metrics count them).
	OnResent func(ResentCommand)
}

func (c *CommandResenderConfig) setDefaults() {
	if c.ResendAfter <= 0 {
		c.ResendAfter = time.Minute
	}
	if c.Interval <= 0 {
		c.Interval = min(max(c.ResendAfter/4, 100*time.Millisecond), 15*time.Second)
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = 10 * time.Second
	}
}

// ResentCommand is a command published again: its id, its topic, and how many
// times it was resent, this time included.
type ResentCommand struct {
	ID      string
	Topic   string
	Resends int
}

// CommandResender sends again the commands still pending ResendAfter after
// they were last sent, from the message the CommandLog kept when it accepted
// them: what brings back a command the transport lost (a broker restarted
// empty, a topic recreated, rows deleted). A command sent twice is applied
// once, as every redelivery is.
//
// Each round claims the commands due and moves their last send to now in one
// transaction (MySQL skips the rows another resender or a handler holds;
// SQLite lets one writer in at a time), then publishes them: however many
// workers run it, a command is resent at most once per ResendAfter.
type CommandResender struct {
	db        *DB
	publisher message.Publisher
	config    CommandResenderConfig
	logger    *slog.Logger
}

// NewCommandResender resends the pending commands of db on publisher.
func NewCommandResender(db *DB, publisher message.Publisher, config CommandResenderConfig, logger *slog.Logger) (*CommandResender, error) {
	switch {
	case db == nil:
		return nil, errors.New("nil db")
	case publisher == nil:
		return nil, errors.New("nil publisher")
	case logger == nil:
		return nil, errors.New("nil logger")
	}
	config.setDefaults()
	return &CommandResender{db: db, publisher: publisher, config: config, logger: logger}, nil
}

// Run resends the commands due every Interval until ctx is done; a full
// round is followed by the next at once. A failed round is logged and tried
// again at the next interval.
func (r *CommandResender) Run(ctx context.Context) error {
	for {
		resent, err := r.ResendDue(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			r.logger.WarnContext(ctx, "resending pending commands failed, retrying", slog.Any("error", err), slog.Duration("retry_in", r.config.Interval))
		case resent == r.config.BatchSize:
			continue // more may be due
		}
		timer := time.NewTimer(r.config.Interval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
	}
}

// ResendDue runs one round: it claims up to BatchSize commands due and
// publishes each again, and reports how many it claimed. A publish that
// fails ends the round; what it claimed and did not publish is due again
// ResendAfter later.
func (r *CommandResender) ResendDue(ctx context.Context) (int, error) {
	due, err := r.claimDue(ctx, time.Now().UTC())
	if err != nil {
		return 0, fmt.Errorf("claiming pending commands: %w", err)
	}
	for _, c := range due {
		msg, err := c.message()
		if err != nil {
			// A message that cannot be rebuilt never will be: the others go on.
			r.logger.ErrorContext(ctx, "pending command not resent", slog.String("command_id", c.ID), slog.Any("error", err))
			continue
		}
		if err := r.publish(ctx, c.Topic, msg); err != nil {
			return len(due), fmt.Errorf("resending command %s: %w", c.ID, err)
		}
		r.logger.InfoContext(ctx, "pending command resent", slog.String("command_id", c.ID), slog.String("topic", c.Topic), slog.Int("resends", c.Resends))
		if r.config.OnResent != nil {
			r.config.OnResent(ResentCommand{ID: c.ID, Topic: c.Topic, Resends: c.Resends})
		}
	}
	return len(due), nil
}

// dueCommand is a pending command claimed for a resend, and its message.
type dueCommand struct {
	keptMessage
	ID      string
	Resends int
}

// claimDue takes the pending commands last sent ResendAfter before now or
// earlier, oldest first, and records them as sent now, in one transaction.
// A pending command's updated_at is when it was last sent: every write that
// sends one (the accept, a kept message, a resend, a requeue) sets it with
// last_sent_at, so the commands due are found through the (status,
// updated_at) index the retention uses, and a command's row is in one
// index that leads with its status, not two.
func (r *CommandResender) claimDue(ctx context.Context, now time.Time) ([]dueCommand, error) {
	var due []dueCommand
	err := r.db.inTx(ctx, func(tx *sql.Tx) error {
		due = due[:0]
		d := r.db.sqlDialect()
		// #nosec G202 -- only constant SQL, placeholders and the dialect's constant clauses are joined; values go as arguments
		rows, err := r.db.query(ctx, tx,
			"SELECT id, message_topic, message_uuid, message_payload, message_metadata, resends FROM commands "+
				"WHERE status = ? AND updated_at <= ? AND message_topic IS NOT NULL ORDER BY updated_at LIMIT ?"+d.ForUpdate+d.SkipLocked,
			command.StatusPending, now.Add(-r.config.ResendAfter), r.config.BatchSize)
		if err != nil {
			return err
		}
		for rows.Next() {
			var c dueCommand
			if err := rows.Scan(&c.ID, &c.Topic, &c.UUID, &c.Payload, &c.Metadata, &c.Resends); err != nil {
				_ = rows.Close() // the error above is the one reported
				return err
			}
			c.Resends++
			due = append(due, c)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil || len(due) == 0 {
			return err
		}
		args := []any{now, now}
		for _, c := range due {
			args = append(args, c.ID)
		}
		// #nosec G202 -- only constant SQL, placeholders and the dialect's constant clauses are joined; values go as arguments
		_, err = r.db.exec(ctx, tx, "UPDATE commands SET updated_at = ?, last_sent_at = ?, resends = resends + 1 WHERE id IN "+placeholderList(len(due)), args...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return due, nil
}

// publish publishes msg on topic, waiting PublishTimeout at most: a
// transport that hangs must hang neither the resender nor the shutdown.
func (r *CommandResender) publish(ctx context.Context, topic string, msg *message.Message) error {
	published := make(chan error, 1)
	go func() { published <- r.publisher.Publish(topic, msg) }()
	timer := time.NewTimer(r.config.PublishTimeout)
	defer timer.Stop()
	select {
	case err := <-published:
		return err
	case <-timer.C:
		return fmt.Errorf("publishing to %s: no answer within %s", topic, r.config.PublishTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}
