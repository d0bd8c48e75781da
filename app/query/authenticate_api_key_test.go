package query_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/domain/access"
)

// keyLookupInMemory is the key store's look-up in a map, counting its calls.
type keyLookupInMemory struct {
	mu              sync.Mutex
	keys            map[access.KeyHash]query.StoredAPIKey
	lookups, writes int
}

func (m *keyLookupInMemory) APIKeyByHash(_ context.Context, hash access.KeyHash) (query.StoredAPIKey, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lookups++
	k, ok := m.keys[hash]
	return k, ok, nil
}

func (m *keyLookupInMemory) MarkAPIKeyUsed(_ context.Context, name string, at, notBefore time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for hash, k := range m.keys {
		if k.Name == name && (k.LastUsedAt.IsZero() || k.LastUsedAt.Before(notBefore)) {
			k.LastUsedAt = at
			m.keys[hash] = k
			m.writes++
		}
	}
	return nil
}

func TestAuthenticateAPIKey(t *testing.T) {
	t.Parallel()
	key, _ := access.NewAPIKey()
	hash := access.HashAPIKey(key)
	store := &keyLookupInMemory{keys: map[access.KeyHash]query.StoredAPIKey{
		hash: {Name: "ci", Hash: hash, Scopes: []access.Scope{access.TechsRead}},
	}}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	authenticate := query.NewAuthenticateAPIKeyHandler(store, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	ask := func(key string) (access.Principal, error) {
		return authenticate.Handle(ctx, query.AuthenticateAPIKey{Key: key})
	}

	for _, bad := range []string{"", "trk_", "Bearer " + key, key + "x", key[:len(key)-1] + "!"} {
		if _, err := ask(bad); !errors.Is(err, query.ErrUnauthenticated) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if store.lookups != 0 {
		t.Fatalf("malformed keys were looked up %d times", store.lookups)
	}

	if p, err := ask(key); err != nil || p.KeyName != "ci" || !p.Can(access.TechsRead) {
		t.Fatalf("authenticated as %+v, %v", p, err)
	}
	// Within the cache's few seconds, the store is not asked again; every
	// second a request, for a minute and a half, writes "last used" twice.
	for range 90 {
		now = now.Add(time.Second)
		if _, err := ask(key); err != nil {
			t.Fatal(err)
		}
	}
	if store.lookups > 90/2 || store.writes != 2 {
		t.Fatalf("%d look-ups and %d writes of last used for 91 requests in 90 s", store.lookups, store.writes)
	}

	// Revoked in the store: refused once the cache's entry is past, which is
	// within the 5 seconds revocation promises.
	store.mu.Lock()
	k := store.keys[hash]
	k.Revoked = true
	store.keys[hash] = k
	store.mu.Unlock()
	now = now.Add(5 * time.Second)
	if _, err := ask(key); !errors.Is(err, query.ErrUnauthenticated) {
		t.Fatalf("a key revoked 5 s ago: %v", err)
	}
}

// TestUnknownKeysAreCachedForASecond: a key the store does not have is
// refused without a look-up for a second, then looked up again, so that a
// key created meanwhile is accepted once that second is past.
func TestUnknownKeysAreCachedForASecond(t *testing.T) {
	t.Parallel()
	store := &keyLookupInMemory{keys: map[access.KeyHash]query.StoredAPIKey{}}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	authenticate := query.NewAuthenticateAPIKeyHandler(store, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	ask := func(key string) error {
		_, err := authenticate.Handle(context.Background(), query.AuthenticateAPIKey{Key: key})
		return err
	}
	principalOf := func(key string) (access.Principal, error) {
		return authenticate.Handle(context.Background(), query.AuthenticateAPIKey{Key: key})
	}
	key, _ := access.NewAPIKey()
	for range 10 {
		if err := ask(key); !errors.Is(err, query.ErrUnauthenticated) {
			t.Fatalf("an unknown key: %v", err)
		}
	}
	if store.lookups != 1 {
		t.Fatalf("an unknown key asked 10 times within a second: %d look-ups, want 1", store.lookups)
	}

	// Created now: accepted once the refusal is a second old.
	hash := access.HashAPIKey(key)
	store.mu.Lock()
	store.keys[hash] = query.StoredAPIKey{Name: "new", Hash: hash, Scopes: []access.Scope{access.TechsRead}}
	store.mu.Unlock()
	now = now.Add(time.Second)
	if p, err := principalOf(key); err != nil || p.KeyName != "new" {
		t.Fatalf("a key created a second after its refusal: %+v, %v", p, err)
	}

	// The table is bounded: past its size it starts over, and every unknown
	// key is refused all the same.
	for range 10_001 {
		other, _ := access.NewAPIKey()
		if err := ask(other); !errors.Is(err, query.ErrUnauthenticated) {
			t.Fatalf("a random key: %v", err)
		}
	}
}
