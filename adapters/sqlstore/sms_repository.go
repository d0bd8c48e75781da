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
	db      *DB
	applier *CommandApplier
}

var (
	_ command.SMSSubmissions = (*SMSRepository)(nil)
	_ command.SMSRepository  = (*SMSRepository)(nil)
	_ query.SMSReadModel     = (*SMSRepository)(nil)
)

// NewSMSRepository keeps SMS in db, claims their commands in commands and
// writes their events to outbox.
func NewSMSRepository(db *DB, commands *CommandLog, outbox *Outbox) (*SMSRepository, error) {
	applier, err := NewCommandApplier(db, commands, outbox)
	if err != nil {
		return nil, err
	}
	return &SMSRepository{db: db, applier: applier}, nil
}

const smsColumns = "id, number, text, status, attempts, provider_message_id, error, sending_until, created_at, updated_at"

func (r *SMSRepository) AddSMS(ctx context.Context, s sms.SMS) (sms.SMS, bool, error) {
	var (
		stored  sms.SMS
		created bool
	)
	err := r.db.inTx(ctx, func(tx *sql.Tx) error {
		created = false
		existing, err := scanSMS(r.db.queryRow(ctx, tx, "SELECT "+smsColumns+" FROM sms_messages WHERE id = ?"+r.db.sqlDialect().ForUpdate, s.ID))
		if err == nil {
			stored = existing
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("reading SMS: %w", err)
		}
		// Two submissions of one id at once: the second insert hits the primary
		// key, and the store runs this transaction again, which finds the first.
		if _, err := r.db.exec(ctx, tx,
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

// UpdateSMS applies the SendSMS command id to the SMS of the same id: the
// command's row is taken, then the SMS's, in every transaction that changes
// an SMS, so that deliveries of one command take turns on them. The command
// is done once the SMS is sent or failed.
func (r *SMSRepository) UpdateSMS(ctx context.Context, id string, update command.SMSUpdate) (bool, error) {
	return r.applier.ApplyCommand(ctx, id, func(tx *sql.Tx, events command.EventPublisher) (Outcome, error) {
		current, err := scanSMS(r.db.queryRow(ctx, tx, "SELECT "+smsColumns+" FROM sms_messages WHERE id = ?"+r.db.sqlDialect().ForUpdate, id))
		if errors.Is(err, sql.ErrNoRows) {
			return Outcome{}, apperr.NotFoundf("no SMS with id %q", id)
		}
		if err != nil {
			return Outcome{}, fmt.Errorf("reading SMS: %w", err)
		}

		next := current
		changed, err := update(ctx, &next, events)
		if err != nil || !changed {
			return Outcome{}, err
		}
		if next.ID != current.ID || next.Number != current.Number || next.Text != current.Text {
			return Outcome{}, fmt.Errorf("the update of SMS %s changed its id, number or text", id)
		}
		if _, err := r.db.exec(ctx, tx,
			"UPDATE sms_messages SET status = ?, attempts = ?, provider_message_id = ?, error = ?, sending_until = ?, updated_at = ? WHERE id = ?",
			next.Status, next.Attempts, nullIfEmpty(next.ProviderMessageID), nullIfEmpty(next.Error), nullIfZero(next.SendingUntil), next.UpdatedAt.UTC(), id); err != nil {
			return Outcome{}, fmt.Errorf("storing SMS: %w", err)
		}
		// The command's outcome is the SMS's status, not an aggregate id.
		return Outcome{Done: next.Status.IsFinal()}, nil
	})
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
