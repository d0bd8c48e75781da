-- +goose Up
-- The API keys clients authenticate with (AUTH_MODE=apikey), made and revoked
-- with `techradar apikey`. Only a key's SHA-256 is kept, never the key; the
-- hash is what a presented key is looked up by. A revoked key stays, so that
-- its name is not given to another client. last_used_at is written at most
-- about once a minute per key.
CREATE TABLE api_keys (
    id           INTEGER  NOT NULL PRIMARY KEY AUTOINCREMENT,
    name         TEXT     NOT NULL UNIQUE,
    key_hash     BLOB     NOT NULL UNIQUE,
    scopes       TEXT     NOT NULL,
    created_at   DATETIME NOT NULL,
    last_used_at DATETIME,
    revoked_at   DATETIME
);

-- +goose Down
DROP TABLE api_keys;
