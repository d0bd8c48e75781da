package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/domain/access"
)

// APIKeyStore keeps the API keys in the api_keys table: each key's name, the
// SHA-256 of the key (never the key), its scopes, and when it was made, last
// used and revoked.
type APIKeyStore struct {
	db *DB
}

var (
	_ command.APIKeyStore    = (*APIKeyStore)(nil)
	_ query.APIKeysReadModel = (*APIKeyStore)(nil)
	_ query.APIKeyLookup     = (*APIKeyStore)(nil)
)

// NewAPIKeyStore is the key store kept in db.
func NewAPIKeyStore(db *DB) (*APIKeyStore, error) {
	if db == nil {
		return nil, errors.New("nil db")
	}
	return &APIKeyStore{db: db}, nil
}

// AddAPIKey keeps k; a name kept already is command.ErrAPIKeyNameTaken.
func (s *APIKeyStore) AddAPIKey(ctx context.Context, k command.NewAPIKey) error {
	_, err := s.db.writer().ExecContext(ctx,
		"INSERT INTO api_keys (name, key_hash, scopes, created_at) VALUES (?, ?, ?, ?)",
		k.Name, k.Hash[:], access.JoinScopes(k.Scopes), k.CreatedAt.UTC())
	if err == nil {
		return nil
	}
	// The unique index refused it, or something else did: the name's
	// presence tells which, in the same words on both databases.
	var exists int
	if lookErr := s.db.reader().QueryRowContext(ctx, "SELECT COUNT(*) FROM api_keys WHERE name = ?", k.Name).Scan(&exists); lookErr == nil && exists > 0 {
		return command.ErrAPIKeyNameTaken
	}
	return err
}

// RevokeAPIKey marks the key named name revoked at at, unless it is revoked
// already; found is false when no key has the name.
func (s *APIKeyStore) RevokeAPIKey(ctx context.Context, name string, at time.Time) (bool, error) {
	_, err := s.db.writer().ExecContext(ctx,
		"UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", at.UTC(), name)
	if err != nil {
		return false, err
	}
	// Rows affected cannot tell an unknown name from a key revoked before.
	var exists int
	if err := s.db.writer().QueryRowContext(ctx, "SELECT COUNT(*) FROM api_keys WHERE name = ?", name).Scan(&exists); err != nil {
		return false, err
	}
	return exists > 0, nil
}

// APIKeys returns up to limit keys, by name.
func (s *APIKeyStore) APIKeys(ctx context.Context, limit int) ([]query.APIKey, error) {
	rows, err := s.db.reader().QueryContext(ctx,
		"SELECT name, scopes, created_at, last_used_at, revoked_at FROM api_keys ORDER BY name LIMIT ?", limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []query.APIKey
	for rows.Next() {
		var (
			k                   query.APIKey
			scopes              string
			created             sqlTime
			lastUsed, revokedAt nullSQLTime
		)
		if err := rows.Scan(&k.Name, &scopes, &created, &lastUsed, &revokedAt); err != nil {
			return nil, err
		}
		k.Scopes, k.CreatedAt, k.LastUsedAt, k.RevokedAt = storedScopes(scopes), created.Time, lastUsed.Time, revokedAt.Time
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// APIKeyByHash returns the key whose hash is hash, through the unique index
// on the hash.
func (s *APIKeyStore) APIKeyByHash(ctx context.Context, hash access.KeyHash) (query.StoredAPIKey, bool, error) {
	var (
		k         query.StoredAPIKey
		stored    []byte
		scopes    string
		lastUsed  nullSQLTime
		revokedAt nullSQLTime
	)
	err := s.db.reader().QueryRowContext(ctx,
		"SELECT name, key_hash, scopes, last_used_at, revoked_at FROM api_keys WHERE key_hash = ?", hash[:]).
		Scan(&k.Name, &stored, &scopes, &lastUsed, &revokedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return query.StoredAPIKey{}, false, nil
	}
	if err != nil {
		return query.StoredAPIKey{}, false, err
	}
	if len(stored) != len(k.Hash) {
		return query.StoredAPIKey{}, false, nil
	}
	copy(k.Hash[:], stored)
	k.Scopes, k.LastUsedAt, k.Revoked = storedScopes(scopes), lastUsed.Time, !revokedAt.IsZero()
	return k, true, nil
}

// MarkAPIKeyUsed records the key's use at at, unless a use at or after
// notBefore is recorded already: of processes racing for one key, one writes.
func (s *APIKeyStore) MarkAPIKeyUsed(ctx context.Context, name string, at, notBefore time.Time) error {
	_, err := s.db.writer().ExecContext(ctx,
		"UPDATE api_keys SET last_used_at = ? WHERE name = ? AND (last_used_at IS NULL OR last_used_at < ?)",
		at.UTC(), name, notBefore.UTC())
	return err
}

// storedScopes reads the scopes column. A scope this version does not know
// (written by a newer one) grants nothing here, rather than failing the key.
func storedScopes(column string) []access.Scope {
	var scopes []access.Scope
	for _, part := range strings.Split(column, ",") {
		if scope := access.Scope(part); slices.Contains(access.Scopes, scope) {
			scopes = append(scopes, scope)
		}
	}
	return scopes
}
