-- +goose Up
-- A tech's id is derived from its name key alone (tech.IDForKey), so the
-- primary key already keeps the keys unique, and the store finds a tech of
-- a key by its id. The unique index on the key was a second index a new
-- tech lands in at random, checked on every insert.
ALTER TABLE techs DROP KEY techs_name_key;

-- +goose Down
ALTER TABLE techs ADD UNIQUE KEY techs_name_key (name_key);
