package query

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/decorator"
	"github.com/techradar/techradar/domain/access"
)

// AuthenticateAPIKey asks who presents Key.
type AuthenticateAPIKey struct {
	Key string
}

// StoredAPIKey is a key as the store keeps it, found by its hash.
type StoredAPIKey struct {
	Name       string
	Hash       access.KeyHash
	Scopes     []access.Scope
	LastUsedAt time.Time
	Revoked    bool
}

// APIKeyLookup finds keys by their hash and records their use.
type APIKeyLookup interface {
	// APIKeyByHash returns the key whose hash is hash; found is false when
	// there is none.
	APIKeyByHash(ctx context.Context, hash access.KeyHash) (key StoredAPIKey, found bool, err error)
	// MarkAPIKeyUsed sets the key's last use to at, unless it is at or after
	// notBefore already (another process recorded it): a conditional write,
	// so that processes racing for one key write once.
	MarkAPIKeyUsed(ctx context.Context, name string, at, notBefore time.Time) error
}

// ErrUnauthenticated answers a key that is unknown, revoked or malformed.
// It does not tell which: a caller probing keys learns nothing.
var ErrUnauthenticated = &apperr.Error{Code: apperr.NotFound, Message: "the API key is unknown or revoked"}

// AuthenticateAPIKeyHandler answers AuthenticateAPIKey with the principal the
// key stands for, or ErrUnauthenticated.
type AuthenticateAPIKeyHandler decorator.QueryHandler[AuthenticateAPIKey, access.Principal]

const (
	// authenticationCachedFor is how long a process trusts a key it found
	// valid without asking the store again. A key revoked in any process is
	// refused everywhere within 5 seconds: this, plus the time of a look-up
	// and of the revocation's commit, with room to spare.
	authenticationCachedFor = 3 * time.Second
	// maxCachedAuthentications bounds the cache. A full cache is emptied
	// rather than tracked by age: every key is then looked up again once,
	// which is cheap, and the cache needs no ordering.
	maxCachedAuthentications = 10_000
	// unknownCachedFor is how long a process refuses a key the store did not
	// have (or had revoked) without asking it again: a flood of random keys
	// then costs one look-up per key and second at most, while a key just
	// created is accepted within that second.
	unknownCachedFor = time.Second
	// lastUsedResolution is how stale a key's last use may be: recording
	// every use would write on every request; once a minute is enough to
	// tell a key in use from one forgotten.
	lastUsedResolution = time.Minute
)

type authenticateAPIKeyHandler struct {
	keys   APIKeyLookup
	now    func() time.Time
	logger *slog.Logger
	cache  *authenticationCache
	// unknown holds the hashes refused lately, until when; bounded by
	// maxCachedAuthentications, emptied when full like cache.
	unknown *refusalCache
}

// NewAuthenticateAPIKeyHandler builds the handler; now may be nil for the
// wall clock. Each handler caches what it found for a few seconds: build one
// per process.
func NewAuthenticateAPIKeyHandler(keys APIKeyLookup, now func() time.Time, logger *slog.Logger) AuthenticateAPIKeyHandler {
	if keys == nil {
		panic("nil keys")
	}
	if logger == nil {
		panic("nil logger")
	}
	if now == nil {
		now = time.Now
	}
	cache := &authenticationCache{entries: map[access.KeyHash]cachedPrincipal{}}
	return decorator.ApplyQueryDecorators[AuthenticateAPIKey, access.Principal](
		authenticateAPIKeyHandler{keys: keys, now: now, logger: logger, cache: cache,
			unknown: &refusalCache{until: map[access.KeyHash]time.Time{}}}, logger)
}

func (h authenticateAPIKeyHandler) Handle(ctx context.Context, q AuthenticateAPIKey) (access.Principal, error) {
	if !access.LooksLikeAPIKey(q.Key) {
		return access.Principal{}, ErrUnauthenticated
	}
	hash := access.HashAPIKey(q.Key)
	now := h.now()
	if p, ok := h.cache.get(hash, now); ok {
		return p, nil
	}
	if h.unknown.refused(hash, now) {
		return access.Principal{}, ErrUnauthenticated
	}
	// The look-up by hash is not constant-time, and need not be: what its
	// timing could leak is a hash, of a key no one can guess from it. The
	// comparison of the hashes is, in case a store ever matches loosely.
	stored, found, err := h.keys.APIKeyByHash(ctx, hash)
	if err != nil {
		return access.Principal{}, apperr.Unavailablef(err, "cannot look the API key up")
	}
	if !found || stored.Revoked || !stored.Hash.Equal(hash) {
		h.unknown.refuse(hash, now.Add(unknownCachedFor))
		return access.Principal{}, ErrUnauthenticated
	}
	if stored.LastUsedAt.IsZero() || now.Sub(stored.LastUsedAt) >= lastUsedResolution {
		// A failure here costs a stale "last used" only: the key is valid.
		if err := h.keys.MarkAPIKeyUsed(ctx, stored.Name, now.UTC(), now.Add(-lastUsedResolution).UTC()); err != nil {
			h.logger.WarnContext(ctx, "cannot record an API key's use", slog.String("key", stored.Name), slog.Any("error", err))
		}
	}
	p := access.Principal{KeyName: stored.Name, Scopes: stored.Scopes}
	h.cache.put(hash, p, now.Add(authenticationCachedFor))
	return p, nil
}

type cachedPrincipal struct {
	principal access.Principal
	until     time.Time
}

// authenticationCache keeps the keys found valid, for
// authenticationCachedFor at most, and maxCachedAuthentications of them.
type authenticationCache struct {
	mu      sync.Mutex
	entries map[access.KeyHash]cachedPrincipal
}

func (c *authenticationCache) get(hash access.KeyHash, now time.Time) (access.Principal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[hash]
	if !ok || !now.Before(e.until) {
		return access.Principal{}, false
	}
	return e.principal, true
}

func (c *authenticationCache) put(hash access.KeyHash, p access.Principal, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCachedAuthentications {
		c.entries = make(map[access.KeyHash]cachedPrincipal, maxCachedAuthentications)
	}
	c.entries[hash] = cachedPrincipal{principal: p, until: until}
}

// refusalCache keeps the hashes refused lately, until when, at most
// maxCachedAuthentications of them.
type refusalCache struct {
	mu    sync.Mutex
	until map[access.KeyHash]time.Time
}

func (c *refusalCache) refused(hash access.KeyHash, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	until, ok := c.until[hash]
	return ok && now.Before(until)
}

func (c *refusalCache) refuse(hash access.KeyHash, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.until) >= maxCachedAuthentications {
		c.until = make(map[access.KeyHash]time.Time, maxCachedAuthentications)
	}
	c.until[hash] = until
}
