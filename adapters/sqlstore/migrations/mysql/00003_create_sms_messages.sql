-- +goose Up
-- Every SMS the API accepted and what became of it: the status the API reports,
-- and the record that keeps a redelivered SendSMS from sending twice.
-- sending_until is set while an attempt is under way (see domain/sms).
CREATE TABLE sms_messages (
    id                  VARCHAR(64)  NOT NULL PRIMARY KEY,
    number              VARCHAR(16)  NOT NULL,
    text                TEXT         NOT NULL,
    status              VARCHAR(16)  NOT NULL,
    attempts            INT          NOT NULL,
    provider_message_id VARCHAR(255) NULL,
    error               TEXT         NULL,
    sending_until       DATETIME(6)  NULL,
    created_at          DATETIME(6)  NOT NULL,
    updated_at          DATETIME(6)  NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE sms_messages;
