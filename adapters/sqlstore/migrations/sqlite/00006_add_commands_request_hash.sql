-- +goose Up
-- The fingerprint (SHA-256, hex) of the request a command was accepted for,
-- so that a retry under the same Idempotency-Key is compared with it: the
-- same request is answered as the first was, another one is refused.
-- Commands accepted before this migration have none and match any request.
ALTER TABLE commands ADD COLUMN request_hash TEXT NULL;

-- +goose Down
ALTER TABLE commands DROP COLUMN request_hash;
