-- +goose Up
-- Every SMS the API accepted and what became of it: the status the API reports,
-- and the record that keeps a redelivered SendSMS from sending twice.
-- sending_until is set while an attempt is under way (see domain/sms).
CREATE TABLE sms_messages (
    id                  TEXT     NOT NULL PRIMARY KEY,
    number              TEXT     NOT NULL,
    text                TEXT     NOT NULL,
    status              TEXT     NOT NULL,
    attempts            INTEGER  NOT NULL,
    provider_message_id TEXT,
    error               TEXT,
    sending_until       DATETIME,
    created_at          DATETIME NOT NULL,
    updated_at          DATETIME NOT NULL
);

-- +goose Down
DROP TABLE sms_messages;
