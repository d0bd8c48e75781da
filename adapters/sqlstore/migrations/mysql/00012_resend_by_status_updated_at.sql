-- +goose Up
-- A pending command's updated_at is now when it was last sent (accepted,
-- kept, resent or requeued), so the resender finds the commands due through
-- the retention's (status, updated_at) index. The index on (status,
-- last_sent_at) was a second index leading with the status: every command
-- moved in both when it was processed. Pending commands sent again before
-- this migration take their last send as updated_at. Pending commands
-- accepted before migration 00004 keep no message and are never resent;
-- the resender now passes over them in the index, a fixed number.
UPDATE commands SET updated_at = last_sent_at
    WHERE status = 'pending' AND last_sent_at IS NOT NULL AND last_sent_at <> updated_at;
ALTER TABLE commands DROP KEY commands_resend_due;

-- +goose Down
ALTER TABLE commands ADD KEY commands_resend_due (status, last_sent_at);
