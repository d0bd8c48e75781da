-- +goose Up
-- Messages that failed for good, kept for operators to read and requeue
-- (`techradar poison`). One row per message and handler: a poison message
-- delivered twice is recorded once.
CREATE TABLE poisoned_messages (
    id          INTEGER  NOT NULL PRIMARY KEY AUTOINCREMENT,
    uuid        TEXT     NOT NULL,
    topic       TEXT     NOT NULL,
    handler     TEXT     NOT NULL,
    reason      TEXT     NOT NULL,
    payload     BLOB     NOT NULL,
    metadata    TEXT     NOT NULL,
    poisoned_at DATETIME NOT NULL,
    UNIQUE (uuid, handler)
);

-- +goose Down
DROP TABLE poisoned_messages;
