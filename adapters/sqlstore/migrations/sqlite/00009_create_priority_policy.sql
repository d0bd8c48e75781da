-- +goose Up
-- The priority policy the stored priorities were computed with. One row;
-- medium_at 0 is no policy (no valid one has it), so that the first start
-- re-ranks every tech whatever thresholds computed them before. reranked is
-- 0 while a re-ranking to the row's policy is under way, claimed (by a
-- conditional update on version) until claimed_until.
CREATE TABLE priority_policy (
    id            INTEGER  NOT NULL PRIMARY KEY,
    medium_at     INTEGER  NOT NULL,
    high_at       INTEGER  NOT NULL,
    reranked      INTEGER  NOT NULL,
    claimed_until DATETIME NULL,
    version       INTEGER  NOT NULL,
    updated_at    DATETIME NOT NULL
);
INSERT INTO priority_policy (id, medium_at, high_at, reranked, claimed_until, version, updated_at)
VALUES (1, 0, 0, 0, NULL, 0, CURRENT_TIMESTAMP);

-- +goose Down
DROP TABLE priority_policy;
