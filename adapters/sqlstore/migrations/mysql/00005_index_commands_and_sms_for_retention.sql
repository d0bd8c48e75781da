-- +goose Up
-- The retention deletes closed commands and final SMS records once they are
-- old enough: it looks them up by status and age through these indexes instead
-- of scanning the tables. InnoDB builds them in place, writes going on.
CREATE INDEX commands_status_updated_at ON commands (status, updated_at) ALGORITHM = INPLACE LOCK = NONE;
CREATE INDEX sms_messages_status_updated_at ON sms_messages (status, updated_at) ALGORITHM = INPLACE LOCK = NONE;

-- +goose Down
DROP INDEX sms_messages_status_updated_at ON sms_messages;
DROP INDEX commands_status_updated_at ON commands;
