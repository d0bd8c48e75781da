package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/internal/groupcommit"
)

// CommandLog is every command the API accepted, and what became of it:
// pending, processed (and the aggregate it changed) or failed (and why).
//
// The API records a command as it accepts it (Accept, with a group commit:
// the commands accepted while the database is busy are recorded in one
// transaction); a handler claims it in the transaction that applies it
// (ClaimCommands) and closes it there (MarkProcessed); CommandApplier puts the
// two around a change.
type CommandLog struct {
	db      *DB
	accepts *groupcommit.Committer[*acceptCall]
	// encode, when set, makes the message kept beside each accepted command.
	encode CommandEncoder
	// sendInTx, when set, sends each command in the transaction that
	// records it (WithSendInTransaction).
	sendInTx PublishInTransaction
	// settled, when set, remembers the commands this process processed
	// lately (WithSettledOutcomes).
	settled *settledOutcomes
}

var (
	_ command.CommandLog     = (*CommandLog)(nil)
	_ command.FailedCommands = (*CommandLog)(nil)
	_ query.CommandReadModel = (*CommandLog)(nil)
)

// NewCommandLog is the command log kept in db.
func NewCommandLog(db *DB, opts ...CommandLogOption) (*CommandLog, error) {
	if db == nil {
		return nil, errors.New("nil db")
	}
	l := &CommandLog{db: db}
	for _, opt := range opts {
		opt(l)
	}
	switch {
	case l.sendInTx != nil && l.encode == nil:
		return nil, errors.New("sending commands in the transaction that records them needs the command encoder")
	case l.sendInTx != nil && l.settled != nil:
		// Such a transport's submissions send before they record.
		return nil, errors.New("commands cannot be sent in the transaction that records them on a transport that delivers before the send returns")
	}
	l.accepts = newGroupCommit(db, l.acceptBatch)
	return l, nil
}

// ClaimCommands is the first step of applying commands in tx: it records
// those that are new and locks their rows, in id order, so that two deliveries
// of one command take turns, and reports which are still pending. Only a
// pending command may be applied; MarkProcessed, in the same transaction,
// closes it.
func (l *CommandLog) ClaimCommands(ctx context.Context, tx *sql.Tx, ids []string) (pending map[string]bool, err error) {
	claim := l.claim(ids)
	if len(claim.ids) == 0 {
		return map[string]bool{}, nil
	}
	if err := l.db.queryAll(ctx, tx, claim.statusRead()); err != nil {
		return nil, err
	}
	return claim.finish(ctx, tx)
}

// commandClaim is ClaimCommands in two steps, so that its locking read can
// share a round trip with another (DB.queryAll): the read, then finish.
type commandClaim struct {
	log      *CommandLog
	ids      []string
	statuses map[string]command.Status
}

func (l *CommandLog) claim(ids []string) *commandClaim {
	ids = sortedUnique(ids)
	return &commandClaim{log: l, ids: ids, statuses: make(map[string]command.Status, len(ids))}
}

// statusRead reads the statuses of the commands recorded and locks their
// rows; there must be at least one id.
func (c *commandClaim) statusRead() rowsRead {
	return c.log.lockingStatusRead(c.ids, c.statuses)
}

// finish records the commands the read did not find and reports which
// commands are pending. The API recorded most commands when it accepted
// them: only the others are inserted here (a mention sent without a key on a
// transport that delivers before the send returns, which the API records
// only if this transaction did not; one sent by another producer, or before
// the API recorded commands).
func (c *commandClaim) finish(ctx context.Context, tx *sql.Tx) (map[string]bool, error) {
	l, statuses := c.log, c.statuses
	var missing []string
	for _, id := range c.ids {
		if _, ok := statuses[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		now := time.Now().UTC()
		args := make([]any, 0, 4*len(missing))
		for _, id := range missing {
			args = append(args, id, command.StatusPending, now, now)
		}
		// #nosec G202 -- only constant SQL, placeholders and the dialect's constant clauses are joined; values go as arguments
		res, err := l.db.exec(ctx, tx,
			"INSERT INTO commands (id, status, accepted_at, updated_at) VALUES "+placeholderRows(len(missing), 4)+l.db.sqlDialect().IgnoreDuplicateCommand,
			args...)
		if err != nil {
			return nil, fmt.Errorf("recording commands: %w", err)
		}
		if inserted, err := res.RowsAffected(); err == nil && inserted == int64(len(missing)) {
			// Every one is this transaction's own row, pending and locked
			// until it ends: nothing to read back.
			for _, id := range missing {
				statuses[id] = command.StatusPending
			}
		} else {
			// A concurrent transaction recorded some meanwhile: read
			// (and lock) what they hold now.
			inserted, err := l.lockCommands(ctx, tx, missing)
			if err != nil {
				return nil, err
			}
			maps.Copy(statuses, inserted)
		}
	}
	pending := make(map[string]bool, len(statuses))
	for id, status := range statuses {
		pending[id] = status == command.StatusPending
	}
	return pending, nil
}

// lockCommands reads the status of each of ids that is recorded and locks
// their rows for the transaction, in id order.
func (l *CommandLog) lockCommands(ctx context.Context, tx *sql.Tx, ids []string) (map[string]command.Status, error) {
	statuses := make(map[string]command.Status, len(ids))
	if err := l.db.queryAll(ctx, tx, l.lockingStatusRead(ids, statuses)); err != nil {
		return nil, err
	}
	return statuses, nil
}

// lockingStatusRead is the read of lockCommands, into statuses.
func (l *CommandLog) lockingStatusRead(ids []string, statuses map[string]command.Status) rowsRead {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	query := "SELECT id, status FROM commands WHERE id IN " + placeholderList(len(ids)) + " ORDER BY id" + l.db.sqlDialect().ForUpdate // #nosec G202 -- only constant SQL, placeholders and the dialect's constant clauses are joined; values go as arguments
	return rowsRead{statement{query, args}, "reading commands", func(rows *sql.Rows) error {
		for rows.Next() {
			var (
				id     string
				status command.Status
			)
			if err := rows.Scan(&id, &status); err != nil {
				return err
			}
			statuses[id] = status
		}
		return nil
	}}
}

// ClaimCommand is ClaimCommands for one command.
func (l *CommandLog) ClaimCommand(ctx context.Context, tx *sql.Tx, id string) (pending bool, err error) {
	claimed, err := l.ClaimCommands(ctx, tx, []string{id})
	return claimed[id], err
}

// ProcessedCommand is a command applied, and the id of the aggregate it
// changed ("" for none).
type ProcessedCommand struct {
	CommandID, AggregateID string
}

// MarkProcessed records in tx that the commands were applied, and to what.
func (l *CommandLog) MarkProcessed(ctx context.Context, tx *sql.Tx, commands []ProcessedCommand) error {
	if len(commands) == 0 {
		return nil
	}
	update := l.processedStatement(commands)
	if _, err := l.db.exec(ctx, tx, update.Query, update.Args...); err != nil {
		return fmt.Errorf("marking commands processed: %w", err)
	}
	return nil
}

// processedStatement is the statement that marks commands processed, for a
// write of several statements; there must be at least one.
func (l *CommandLog) processedStatement(commands []ProcessedCommand) statement {
	var (
		subject strings.Builder
		args    = make([]any, 0, 3*len(commands)+2)
		ids     = make([]any, 0, len(commands))
	)
	subject.WriteString("CASE id")
	for _, c := range commands {
		subject.WriteString(" WHEN ? THEN ?")
		args = append(args, c.CommandID, c.AggregateID)
		ids = append(ids, c.CommandID)
	}
	subject.WriteString(" END")
	args = append(append(args, command.StatusProcessed, time.Now().UTC()), ids...)
	return statement{"UPDATE commands SET tech_id = " + subject.String() + ", status = ?, updated_at = ? WHERE id IN " + placeholderList(len(ids)), args}
}

func (l *CommandLog) Forget(ctx context.Context, id string) error {
	_, err := l.db.writer().ExecContext(ctx, "DELETE FROM commands WHERE id = ? AND status = ?", id, command.StatusPending)
	return err
}

func (l *CommandLog) MarkFailed(ctx context.Context, id string, reason string) error {
	now := time.Now().UTC()
	_, err := l.db.writer().ExecContext(ctx, l.db.sqlDialect().MarkFailed, id, command.StatusFailed, reason, now, now)
	return err
}

// markFailedInTx records in tx that the claimed command id failed, and why.
func (l *CommandLog) markFailedInTx(ctx context.Context, tx *sql.Tx, id string, reason string) error {
	if _, err := l.db.exec(ctx, tx, "UPDATE commands SET status = ?, error = ?, updated_at = ? WHERE id = ?",
		command.StatusFailed, reason, time.Now().UTC(), id); err != nil {
		return fmt.Errorf("marking the command failed: %w", err)
	}
	return nil
}

// ReopenFailed puts a failed command back to pending, so that it is applied when
// it is delivered again: what requeuing a poisoned command needs. The requeue
// sends it, so it counts as sent now: it is not resent before it is due.
func (l *CommandLog) ReopenFailed(ctx context.Context, id string) error {
	now := time.Now().UTC()
	_, err := l.db.writer().ExecContext(ctx, "UPDATE commands SET status = ?, error = NULL, updated_at = ?, last_sent_at = ? WHERE id = ? AND status = ?",
		command.StatusPending, now, now, id, command.StatusFailed)
	return err
}

func (l *CommandLog) CommandReport(ctx context.Context, id string) (query.CommandReport, error) {
	var (
		report         query.CommandReport
		techID, reason sql.NullString
	)
	// Read for every submission on a transport that delivers before the
	// send returns, and by every client polling a command.
	stmt, err := l.db.readStatement(ctx, "SELECT id, status, tech_id, error FROM commands WHERE id = ?")
	if err != nil {
		return query.CommandReport{}, err
	}
	err = stmt.QueryRowContext(ctx, id).Scan(&report.CommandID, &report.Status, &techID, &reason)
	if errors.Is(err, sql.ErrNoRows) {
		return query.CommandReport{}, apperr.NotFoundf("no command with id %q", id)
	}
	if err != nil {
		return query.CommandReport{}, err
	}
	report.TechID, report.Error = techID.String, reason.String
	return report, nil
}
