-- +goose Up
-- The relay deletes the rows of the events it published from memory by
-- their uuid, many in one statement.
CREATE INDEX outbox_uuid ON outbox (uuid);

-- +goose Down
DROP INDEX outbox_uuid;
