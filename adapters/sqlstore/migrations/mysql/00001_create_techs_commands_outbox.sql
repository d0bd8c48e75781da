-- +goose Up
CREATE TABLE techs (
    id            CHAR(36)     NOT NULL PRIMARY KEY,
    name_key      VARCHAR(400) NOT NULL,
    name          VARCHAR(400) NOT NULL,
    mentions      INT          NOT NULL,
    priority      VARCHAR(16)  NOT NULL,
    priority_rank TINYINT      NOT NULL,
    created_at    DATETIME(6)  NOT NULL,
    updated_at    DATETIME(6)  NOT NULL,
    UNIQUE KEY techs_name_key (name_key),
    KEY techs_list_order (priority_rank DESC, mentions DESC, name_key)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Every command the API accepted, and what became of it. A command is applied
-- only while it is pending here, in the transaction that marks it processed.
CREATE TABLE commands (
    id          VARCHAR(64)  NOT NULL PRIMARY KEY,
    status      VARCHAR(16)  NOT NULL,
    tech_id     CHAR(36)     NULL,
    error       TEXT         NULL,
    accepted_at DATETIME(6)  NOT NULL,
    updated_at  DATETIME(6)  NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Events written in the transaction that caused them, relayed to the event bus
-- after commit.
CREATE TABLE outbox (
    id         BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    topic      VARCHAR(255) NOT NULL,
    uuid       VARCHAR(64)  NOT NULL,
    payload    LONGBLOB     NOT NULL,
    metadata   TEXT         NOT NULL,
    created_at DATETIME(6)  NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE outbox;
DROP TABLE commands;
DROP TABLE techs;
