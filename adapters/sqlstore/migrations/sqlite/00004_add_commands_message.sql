-- +goose Up
-- What a resend of a command needs: the message the command bus sent (topic,
-- uuid, payload, metadata), when it was last put on the bus (accepted, then
-- each resend) and how many times it was sent again. Commands accepted before
-- this migration have no message and are never resent.
ALTER TABLE commands ADD COLUMN message_topic TEXT NULL;
ALTER TABLE commands ADD COLUMN message_uuid TEXT NULL;
ALTER TABLE commands ADD COLUMN message_payload BLOB NULL;
ALTER TABLE commands ADD COLUMN message_metadata TEXT NULL;
ALTER TABLE commands ADD COLUMN last_sent_at DATETIME NULL;
ALTER TABLE commands ADD COLUMN resends INTEGER NOT NULL DEFAULT 0;
CREATE INDEX commands_resend_due ON commands (status, last_sent_at);

-- +goose Down
DROP INDEX commands_resend_due;
ALTER TABLE commands DROP COLUMN resends;
ALTER TABLE commands DROP COLUMN last_sent_at;
ALTER TABLE commands DROP COLUMN message_metadata;
ALTER TABLE commands DROP COLUMN message_payload;
ALTER TABLE commands DROP COLUMN message_uuid;
ALTER TABLE commands DROP COLUMN message_topic;
