package adapters

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
)

// The command log: every command the API accepted, and what became of it.

// ClaimCommand is the first step of applying a command in tx: it records the
// command if it is new and locks its row, so that two deliveries of one command
// take turns, and reports whether it is still pending. Only a pending command
// may be applied; MarkProcessed, in the same transaction, closes it.
func (s *SQLStore) ClaimCommand(ctx context.Context, tx *sql.Tx, id string) (pending bool, err error) {
	now := time.Now().UTC()
	if _, err := tx.ExecContext(ctx, s.dialect.insertCommandIfAbsent, id, command.StatusPending, now, now); err != nil {
		return false, fmt.Errorf("recording command: %w", err)
	}
	var status command.Status
	if err := tx.QueryRowContext(ctx, "SELECT status FROM commands WHERE id = ?"+s.dialect.forUpdate, id).Scan(&status); err != nil {
		return false, fmt.Errorf("reading command: %w", err)
	}
	return status == command.StatusPending, nil
}

// MarkProcessed records in tx that the command was applied, and to what.
func (s *SQLStore) MarkProcessed(ctx context.Context, tx *sql.Tx, id, subjectID string) error {
	if _, err := tx.ExecContext(ctx, "UPDATE commands SET status = ?, tech_id = ?, updated_at = ? WHERE id = ?",
		command.StatusProcessed, subjectID, time.Now().UTC(), id); err != nil {
		return fmt.Errorf("marking command processed: %w", err)
	}
	return nil
}

func (s *SQLStore) Accept(ctx context.Context, id string, at time.Time) (command.Status, bool, error) {
	res, err := s.writeDB.ExecContext(ctx, s.dialect.insertCommandIfAbsent, id, command.StatusPending, at.UTC(), at.UTC())
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
	if err := s.writeDB.QueryRowContext(ctx, "SELECT status FROM commands WHERE id = ?", id).Scan(&status); err != nil {
		return "", false, err
	}
	return status, false, nil
}

func (s *SQLStore) Forget(ctx context.Context, id string) error {
	_, err := s.writeDB.ExecContext(ctx, "DELETE FROM commands WHERE id = ? AND status = ?", id, command.StatusPending)
	return err
}

func (s *SQLStore) MarkFailed(ctx context.Context, id string, reason string) error {
	now := time.Now().UTC()
	_, err := s.writeDB.ExecContext(ctx, s.dialect.markFailed, id, command.StatusFailed, reason, now, now)
	return err
}

// ReopenFailed puts a failed command back to pending, so that it is applied when
// it is delivered again: what requeuing a poisoned command needs.
func (s *SQLStore) ReopenFailed(ctx context.Context, id string) error {
	_, err := s.writeDB.ExecContext(ctx, "UPDATE commands SET status = ?, error = NULL, updated_at = ? WHERE id = ? AND status = ?",
		command.StatusPending, time.Now().UTC(), id, command.StatusFailed)
	return err
}

func (s *SQLStore) CommandReport(ctx context.Context, id string) (query.CommandReport, error) {
	var (
		report         query.CommandReport
		techID, reason sql.NullString
	)
	err := s.readDB.QueryRowContext(ctx, "SELECT id, status, tech_id, error FROM commands WHERE id = ?", id).
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
