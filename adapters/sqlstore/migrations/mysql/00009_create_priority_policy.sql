-- +goose Up
-- The priority policy the stored priorities were computed with. One row;
-- medium_at 0 is no policy (no valid one has it), so that the first start
-- re-ranks every tech whatever thresholds computed them before. reranked is
-- 0 while a re-ranking to the row's policy is under way, claimed (by a
-- conditional update on version) until claimed_until.
CREATE TABLE priority_policy (
    id            TINYINT     NOT NULL PRIMARY KEY,
    medium_at     INT         NOT NULL,
    high_at       INT         NOT NULL,
    reranked      TINYINT     NOT NULL,
    claimed_until DATETIME(6) NULL,
    version       BIGINT      NOT NULL,
    updated_at    DATETIME(6) NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
INSERT INTO priority_policy (id, medium_at, high_at, reranked, claimed_until, version, updated_at)
VALUES (1, 0, 0, 0, NULL, 0, CURRENT_TIMESTAMP(6));

-- +goose Down
DROP TABLE priority_policy;
