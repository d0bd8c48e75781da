-- +goose Up
-- Messages that failed for good, kept for operators to read and requeue
-- (`techradar poison`). One row per message and handler: a poison message
-- delivered twice is recorded once.
CREATE TABLE poisoned_messages (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    uuid        VARCHAR(64)  NOT NULL,
    topic       VARCHAR(255) NOT NULL,
    handler     VARCHAR(255) NOT NULL,
    reason      TEXT         NOT NULL,
    payload     LONGBLOB     NOT NULL,
    metadata    TEXT         NOT NULL,
    poisoned_at DATETIME(6)  NOT NULL,
    UNIQUE KEY poisoned_messages_uuid_handler (uuid, handler)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE poisoned_messages;
