package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/domain/sms"
)

// SMSRepository keeps SMS in a DB, SQLite or MySQL alike, with the commands
// that change them and the events they cause.
type SMSRepository struct {
	db       *DB
	commands *CommandLog
	outbox   *Outbox
}

var (
	_ command.SMSSubmissions = (*SMSRepository)(nil)
	_ command.SMSRepository  = (*SMSRepository)(nil)
	_ query.SMSReadModel     = (*SMSRepository)(nil)
)

// NewSMSRepository keeps SMS in db, claims their commands in commands and
// writes their events to outbox.
func NewSMSRepository(db *DB, commands *CommandLog, outbox *Outbox) (*SMSRepository, error) {
	switch {
	case db == nil:
		return nil, errors.New("nil db")
	case commands == nil:
		return nil, errors.New("nil command log")
	case outbox == nil:
		return nil, errors.New("nil outbox")
	}
	return &SMSRepository{db: db, commands: commands, outbox: outbox}, nil
}

const smsColumns = "id, number, text, status, attempts, provider_message_id, error, sending_until, created_at, updated_at"

func (r *SMSRepository) AddSMS(ctx context.Context, s sms.SMS) (sms.SMS, bool, error) {
	var (
		stored  sms.SMS
		created bool
	)
	err := r.db.inTx(ctx, func(tx *sql.Tx) error {
		created = false
		existing, err := scanSMS(tx.QueryRowContext(ctx, "SELECT "+smsColumns+" FROM sms_messages WHERE id = ?"+r.db.sqlDialect().ForUpdate, s.ID))
		if err == nil {
			stored = existing
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("reading SMS: %w", err)
		}
		// Two submissions of one id at once: the second insert hits the primary
		// key, and the store runs this transaction again, which finds the first.
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO sms_messages ("+smsColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			s.ID, s.Number, s.Text, s.Status, s.Attempts, nullIfEmpty(s.ProviderMessageID), nullIfEmpty(s.Error),
			nullIfZero(s.SendingUntil), s.CreatedAt.UTC(), s.UpdatedAt.UTC()); err != nil {
			return fmt.Errorf("storing SMS: %w", err)
		}
		stored, created = s, true
		return nil
	})
	return stored, created, err
}

func (r *SMSRepository) RemoveUnsentSMS(ctx context.Context, id string) error {
	_, err := r.db.writer().ExecContext(ctx, "DELETE FROM sms_messages WHERE id = ? AND status = ? AND attempts = 0", id, sms.StatusQueued)
	return err
}

// UpdateSMS takes the command's row, then the SMS's, in every transaction that
// changes an SMS: deliveries of one command take turns on them.
func (r *SMSRepository) UpdateSMS(ctx context.Context, id string, update command.SMSUpdate) (bool, error) {
	var (
		applied bool
		batch   *OutboxBatch
	)
	err := r.db.inTx(ctx, func(tx *sql.Tx) error {
		applied, batch = false, nil
		pending, err := r.commands.ClaimCommand(ctx, tx, id)
		if err != nil || !pending {
			return err
		}
		if batch, err = r.outbox.Begin(); err != nil {
			return err
		}
		events := batch.Events()

		current, err := scanSMS(tx.QueryRowContext(ctx, "SELECT "+smsColumns+" FROM sms_messages WHERE id = ?"+r.db.sqlDialect().ForUpdate, id))
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.NotFoundf("no SMS with id %q", id)
		}
		if err != nil {
			return fmt.Errorf("reading SMS: %w", err)
		}

		next := current
		changed, err := update(ctx, &next, events)
		if err != nil {
			return err
		}
		applied = true
		if !changed {
			return r.outbox.Write(ctx, tx, batch)
		}
		if next.ID != current.ID || next.Number != current.Number || next.Text != current.Text {
			return fmt.Errorf("the update of SMS %s changed its id, number or text", id)
		}

		if _, err := tx.ExecContext(ctx,
			"UPDATE sms_messages SET status = ?, attempts = ?, provider_message_id = ?, error = ?, sending_until = ?, updated_at = ? WHERE id = ?",
			next.Status, next.Attempts, nullIfEmpty(next.ProviderMessageID), nullIfEmpty(next.Error), nullIfZero(next.SendingUntil), next.UpdatedAt.UTC(), id); err != nil {
			return fmt.Errorf("storing SMS: %w", err)
		}
		if next.Status.IsFinal() {
			// The command is done; its outcome is the SMS's status, not a tech.
			if err := r.commands.MarkProcessed(ctx, tx, []ProcessedCommand{{CommandID: id}}); err != nil {
				return err
			}
		}
		return r.outbox.Write(ctx, tx, batch)
	})
	if err == nil {
		r.outbox.Committed(batch)
	}
	return applied, err
}

func (r *SMSRepository) SMSReport(ctx context.Context, id string) (query.SMSReport, error) {
	s, err := scanSMS(r.db.reader().QueryRowContext(ctx, "SELECT "+smsColumns+" FROM sms_messages WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return query.SMSReport{}, apperr.NotFoundf("no SMS with id %q", id)
	}
	if err != nil {
		return query.SMSReport{}, err
	}
	report := query.SMSReport{SMSID: s.ID, Status: s.Status, Attempts: s.Attempts, ProviderMessageID: s.ProviderMessageID, Error: s.Error}
	if !s.Status.IsFinal() {
		// A SendSMS that was poisoned leaves its command failed and the SMS as
		// it was: the handler will not touch it again until the message is
		// requeued. The report says so rather than "queued" forever.
		var (
			status string
			reason sql.NullString
		)
		err := r.db.reader().QueryRowContext(ctx, "SELECT status, error FROM commands WHERE id = ?", id).Scan(&status, &reason)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return query.SMSReport{}, err
		}
		if command.Status(status) == command.StatusFailed {
			report.Status, report.Error = sms.StatusFailed, "its command failed: "+reason.String
		}
	}
	return report, nil
}

func scanSMS(row rowScanner) (sms.SMS, error) {
	var (
		s                    sms.SMS
		status               string
		providerID, reason   sql.NullString
		sendingUntil         nullSQLTime
		createdAt, updatedAt sqlTime
	)
	if err := row.Scan(&s.ID, &s.Number, &s.Text, &status, &s.Attempts, &providerID, &reason, &sendingUntil, &createdAt, &updatedAt); err != nil {
		return sms.SMS{}, err
	}
	st, err := sms.ParseStatus(status)
	if err != nil {
		return sms.SMS{}, err
	}
	s.Status, s.ProviderMessageID, s.Error = st, providerID.String, reason.String
	s.SendingUntil, s.CreatedAt, s.UpdatedAt = sendingUntil.Time, createdAt.Time, updatedAt.Time
	return s, nil
}
