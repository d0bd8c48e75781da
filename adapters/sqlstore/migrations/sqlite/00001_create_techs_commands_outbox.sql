-- +goose Up
CREATE TABLE techs (
    id            TEXT     NOT NULL PRIMARY KEY,
    name_key      TEXT     NOT NULL UNIQUE,
    name          TEXT     NOT NULL,
    mentions      INTEGER  NOT NULL,
    priority      TEXT     NOT NULL,
    priority_rank INTEGER  NOT NULL,
    created_at    DATETIME NOT NULL,
    updated_at    DATETIME NOT NULL
);
CREATE INDEX techs_list_order ON techs (priority_rank DESC, mentions DESC, name_key);

-- Every command the API accepted, and what became of it. A command is applied
-- only while it is pending here, in the transaction that marks it processed.
CREATE TABLE commands (
    id          TEXT     NOT NULL PRIMARY KEY,
    status      TEXT     NOT NULL,
    tech_id     TEXT,
    error       TEXT,
    accepted_at DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL
);

-- Events written in the transaction that caused them, relayed to the event bus
-- after commit.
CREATE TABLE outbox (
    id         INTEGER  NOT NULL PRIMARY KEY AUTOINCREMENT,
    topic      TEXT     NOT NULL,
    uuid       TEXT     NOT NULL,
    payload    BLOB     NOT NULL,
    metadata   TEXT     NOT NULL,
    created_at DATETIME NOT NULL
);

-- +goose Down
DROP TABLE outbox;
DROP TABLE commands;
DROP TABLE techs;
