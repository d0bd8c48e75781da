-- +goose Up
-- What a resend of a command needs: the message the command bus sent (topic,
-- uuid, payload, metadata), when it was last put on the bus (accepted, then
-- each resend) and how many times it was sent again. Commands accepted before
-- this migration have no message and are never resent. Columns added NULL
-- need no backfill.
ALTER TABLE commands
    ADD COLUMN message_topic    VARCHAR(255) NULL,
    ADD COLUMN message_uuid     VARCHAR(64)  NULL,
    ADD COLUMN message_payload  LONGBLOB     NULL,
    ADD COLUMN message_metadata TEXT         NULL,
    ADD COLUMN last_sent_at     DATETIME(6)  NULL,
    ADD COLUMN resends          INT          NOT NULL DEFAULT 0,
    ADD KEY commands_resend_due (status, last_sent_at);

-- +goose Down
ALTER TABLE commands
    DROP KEY commands_resend_due,
    DROP COLUMN resends,
    DROP COLUMN last_sent_at,
    DROP COLUMN message_metadata,
    DROP COLUMN message_payload,
    DROP COLUMN message_uuid,
    DROP COLUMN message_topic;
