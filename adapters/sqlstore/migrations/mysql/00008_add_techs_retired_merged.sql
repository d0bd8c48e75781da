-- +goose Up
-- A retired tech is hidden from the list; a merged one too, and its row is
-- then the alias of the tech it was merged into: a later mention of its name
-- counts for merged_into. Columns added NULL: no backfill, no rewrite.
ALTER TABLE techs
    ADD COLUMN retired_at     DATETIME(6)  NULL,
    ADD COLUMN retired_reason VARCHAR(500) NULL,
    ADD COLUMN merged_into    CHAR(36)     NULL,
    ADD COLUMN merged_at      DATETIME(6)  NULL,
    ADD KEY techs_merged_into (merged_into);

-- +goose Down
ALTER TABLE techs
    DROP KEY techs_merged_into,
    DROP COLUMN merged_at,
    DROP COLUMN merged_into,
    DROP COLUMN retired_reason,
    DROP COLUMN retired_at;
