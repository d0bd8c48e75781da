-- +goose Up
-- The API keys clients authenticate with (AUTH_MODE=apikey), made and revoked
-- with `techradar apikey`. Only a key's SHA-256 is kept, never the key; the
-- hash is what a presented key is looked up by. A revoked key stays, so that
-- its name is not given to another client. last_used_at is written at most
-- about once a minute per key.
CREATE TABLE api_keys (
    id           BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name         VARCHAR(64)  NOT NULL,
    key_hash     BINARY(32)   NOT NULL,
    scopes       VARCHAR(255) NOT NULL,
    created_at   DATETIME(6)  NOT NULL,
    last_used_at DATETIME(6)  NULL,
    revoked_at   DATETIME(6)  NULL,
    UNIQUE KEY api_keys_name (name),
    UNIQUE KEY api_keys_key_hash (key_hash)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE api_keys;
