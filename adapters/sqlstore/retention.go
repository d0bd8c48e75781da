package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/domain/sms"
	"github.com/techradar/techradar/internal/periodic"
	"github.com/techradar/techradar/internal/settings"
)

// RetentionConfig says how long the store keeps what is over, and how much
// one round of the retention deletes.
//
// Its tags make it the retention settings, whose variables carry no common
// prefix; Interval is also how often the transport is cleaned.
type RetentionConfig struct {
	// Interval is how often a worker runs a round.
	Interval time.Duration `name:"retention-interval" env:"RETENTION_INTERVAL" default:"1m" help:"How often each worker deletes old commands and SMS records and removes the transport's messages every group has handled."`
	// Commands is how long a processed or failed command is kept after it was
	// closed. A pending command is kept however old it is.
	Commands time.Duration `name:"command-retention" env:"COMMAND_RETENTION" default:"168h" help:"How long a processed or failed command is kept (its status answers GET /api/commands/{id} until then); pending ones are kept until done."`
	// SMS is how long an SMS record is kept once it is sent or failed. A
	// queued one is kept however old it is.
	//lint:ignore ST1011 SMS names the records kept, not milliseconds
	SMS time.Duration `name:"sms-retention" env:"SMS_RETENTION" default:"720h" help:"How long an SMS record is kept once sent or failed; queued ones are kept until done."`
	// BatchSize is the most rows one DELETE removes: a statement holds the
	// locks of those rows only, and only for as long as it runs.
	BatchSize int `kong:"-"`
	// MaxBatches is the most DELETEs one round runs per table and status, so
	// that a round stays short; what is left waits for the next round.
	MaxBatches int `kong:"-"`
}

// Check reports every setting out of range, naming its variable.
func (c RetentionConfig) Check() error {
	var p settings.Problems
	p.Positive("RETENTION_INTERVAL", c.Interval)
	p.Positive("COMMAND_RETENTION", c.Commands)
	p.Positive("SMS_RETENTION", c.SMS)
	return p.Err()
}

func (c *RetentionConfig) setDefaults() {
	if c.Interval <= 0 {
		c.Interval = time.Minute
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 1000
	}
	if c.MaxBatches <= 0 {
		c.MaxBatches = 100
	}
}

// RetentionReport is what one round of the retention deleted.
type RetentionReport struct {
	Commands, SMS int64
	// Unfinished is set when a table had more to delete than the round's
	// MaxBatches allowed.
	Unfinished bool
}

// Retention deletes the commands and SMS records kept longer than their
// retention. Every worker runs it, at once if it happens: each batch is
// looked up without locks and deleted by id in a statement of its own, with
// the conditions checked again, so that two rounds at once only delete a
// row once, and a row that changed since the lookup (a failed command
// requeued) is left alone.
type Retention struct {
	db     *DB
	config RetentionConfig
	// cleaned, when set, is told of every round's report.
	cleaned func(RetentionReport)
	logger  *slog.Logger
}

// Run runs a round every Interval until ctx is done; each round's report goes
// to cleaned, if set, and the rounds that deleted something are logged.
func (r *Retention) Run(ctx context.Context) error {
	periodic.Run(ctx, r.config.Interval, func(ctx context.Context) error {
		report, err := r.Clean(ctx, time.Now())
		if r.cleaned != nil {
			r.cleaned(report)
		}
		if report.Commands > 0 || report.SMS > 0 {
			r.logger.InfoContext(ctx, "retention deleted old records", slog.Int64("commands", report.Commands),
				slog.Int64("sms", report.SMS), slog.Bool("more_left", report.Unfinished))
		}
		return err
	}, func(err error) {
		r.logger.WarnContext(ctx, "retention round failed", slog.Any("error", err))
	})
	return nil
}

// expiringRows are the rows of a table that may go once old enough: those in
// one of statuses, aged by updated_at, the time they got there.
type expiringRows struct {
	table    string
	statuses []string
}

var (
	closedCommands = expiringRows{table: "commands", statuses: []string{string(command.StatusProcessed), string(command.StatusFailed)}}
	finalSMS       = expiringRows{table: "sms_messages", statuses: []string{string(sms.StatusSent), string(sms.StatusFailed)}}
)

// NewRetention is the retention of db; config's zero interval and batch
// settings take their defaults. cleaned, if not nil, is told of every round
// Run runs.
func NewRetention(db *DB, config RetentionConfig, logger *slog.Logger, cleaned func(RetentionReport)) (*Retention, error) {
	switch {
	case db == nil:
		return nil, errors.New("nil db")
	case logger == nil:
		return nil, errors.New("nil logger")
	case config.Commands <= 0 || config.SMS <= 0:
		return nil, fmt.Errorf("retention: the commands' (%s) and the SMS records' (%s) must be positive", config.Commands, config.SMS)
	}
	config.setDefaults()
	return &Retention{db: db, config: config, cleaned: cleaned, logger: logger}, nil
}

// Clean runs one round: it deletes the commands closed before now less the
// commands' retention and the SMS records final before now less theirs.
func (r *Retention) Clean(ctx context.Context, now time.Time) (RetentionReport, error) {
	var (
		report                RetentionReport
		commandsLeft, smsLeft bool
		err                   error
	)
	report.Commands, commandsLeft, err = r.deleteExpired(ctx, closedCommands, now.Add(-r.config.Commands))
	if err != nil {
		return report, fmt.Errorf("deleting old commands: %w", err)
	}
	report.SMS, smsLeft, err = r.deleteExpired(ctx, finalSMS, now.Add(-r.config.SMS))
	if err != nil {
		return report, fmt.Errorf("deleting old SMS records: %w", err)
	}
	report.Unfinished = commandsLeft || smsLeft
	return report, nil
}

// deleteExpired deletes, batch after batch, the rows that got to their status
// before cutoff, up to the round's MaxBatches per status.
func (r *Retention) deleteExpired(ctx context.Context, rows expiringRows, cutoff time.Time) (deleted int64, unfinished bool, err error) {
	for _, status := range rows.statuses {
		for batch := 0; ; batch++ {
			if batch == r.config.MaxBatches {
				unfinished = true
				break
			}
			found, n, err := r.deleteBatch(ctx, rows.table, status, cutoff)
			deleted += n
			if err != nil {
				return deleted, unfinished, err
			}
			if found < r.config.BatchSize {
				break
			}
		}
	}
	return deleted, unfinished, nil
}

// deleteBatch looks up the oldest BatchSize rows of table in status from
// before cutoff, through the (status, updated_at) index, and deletes them.
// The lookup takes no lock; the delete, on its own, locks the rows it
// deletes and no others.
func (r *Retention) deleteBatch(ctx context.Context, table, status string, cutoff time.Time) (found int, deleted int64, err error) {
	cutoff = cutoff.UTC()
	rows, err := r.db.reader().QueryContext(ctx,
		"SELECT id FROM "+table+" WHERE status = ? AND updated_at < ? ORDER BY updated_at LIMIT ?", status, cutoff, r.config.BatchSize)
	if err != nil {
		return 0, 0, err
	}
	args := []any{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			_ = rows.Close() // the error above is the one reported
			return 0, 0, err
		}
		args = append(args, id)
	}
	if err := rows.Close(); err != nil {
		return 0, 0, err
	}
	if err := rows.Err(); err != nil || len(args) == 0 {
		return 0, 0, err
	}
	found = len(args)
	result, err := r.db.writer().ExecContext(ctx,
		"DELETE FROM "+table+" WHERE id IN "+placeholderList(found)+" AND status = ? AND updated_at < ?", append(args, status, cutoff)...)
	if err != nil {
		return found, 0, err
	}
	deleted, err = result.RowsAffected()
	return found, deleted, err
}
