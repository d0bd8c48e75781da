-- +goose Up
-- A tech's id is derived from its name key alone (tech.IDForKey), so the
-- primary key already keeps the keys unique, and the store finds a tech of
-- a key by its id. The unique index on the key was a second index a new
-- tech lands in at random: one more page written for every new name.
-- SQLite drops a column's UNIQUE only by rebuilding the table.
CREATE TABLE techs_rebuilt (
    id             TEXT     NOT NULL PRIMARY KEY,
    name_key       TEXT     NOT NULL,
    name           TEXT     NOT NULL,
    mentions       INTEGER  NOT NULL,
    priority       TEXT     NOT NULL,
    priority_rank  INTEGER  NOT NULL,
    created_at     DATETIME NOT NULL,
    updated_at     DATETIME NOT NULL,
    retired_at     DATETIME NULL,
    retired_reason TEXT     NULL,
    merged_into    TEXT     NULL,
    merged_at      DATETIME NULL
);
INSERT INTO techs_rebuilt (id, name_key, name, mentions, priority, priority_rank, created_at, updated_at, retired_at, retired_reason, merged_into, merged_at)
SELECT id, name_key, name, mentions, priority, priority_rank, created_at, updated_at, retired_at, retired_reason, merged_into, merged_at FROM techs;
DROP TABLE techs;
ALTER TABLE techs_rebuilt RENAME TO techs;
CREATE INDEX techs_list_order ON techs (priority_rank DESC, mentions DESC, name_key);
CREATE INDEX techs_merged_into ON techs (merged_into);

-- +goose Down
CREATE UNIQUE INDEX techs_name_key ON techs (name_key);
