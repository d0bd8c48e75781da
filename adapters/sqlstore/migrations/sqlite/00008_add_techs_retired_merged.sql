-- +goose Up
-- A retired tech is hidden from the list; a merged one too, and its row is
-- then the alias of the tech it was merged into: a later mention of its name
-- counts for merged_into. Columns added NULL: no backfill, no rewrite.
ALTER TABLE techs ADD COLUMN retired_at DATETIME NULL;
ALTER TABLE techs ADD COLUMN retired_reason TEXT NULL;
ALTER TABLE techs ADD COLUMN merged_into TEXT NULL;
ALTER TABLE techs ADD COLUMN merged_at DATETIME NULL;
CREATE INDEX techs_merged_into ON techs (merged_into);

-- +goose Down
DROP INDEX techs_merged_into;
ALTER TABLE techs DROP COLUMN merged_at;
ALTER TABLE techs DROP COLUMN merged_into;
ALTER TABLE techs DROP COLUMN retired_reason;
ALTER TABLE techs DROP COLUMN retired_at;
