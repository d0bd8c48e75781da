package command

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/decorator"
	"github.com/techradar/techradar/domain/access"
)

// NewAPIKey is a key as the store keeps it: never the key itself, its hash.
type NewAPIKey struct {
	Name      string
	Hash      access.KeyHash
	Scopes    []access.Scope
	CreatedAt time.Time
}

// APIKeyStore keeps the API keys.
type APIKeyStore interface {
	// AddAPIKey keeps k, or returns ErrAPIKeyNameTaken when a key of that
	// name is kept already, revoked or not.
	AddAPIKey(ctx context.Context, k NewAPIKey) error
	// RevokeAPIKey marks the key named name revoked at at (a key revoked
	// already keeps its first time); found is false when no key has the name.
	RevokeAPIKey(ctx context.Context, name string, at time.Time) (found bool, err error)
}

// ErrAPIKeyNameTaken is the store's answer to a second key of one name.
var ErrAPIKeyNameTaken = errors.New("an API key of that name exists")

// CreateAPIKey asks for a new key named Name, granting Scopes.
type CreateAPIKey struct {
	Name   string
	Scopes []access.Scope
}

// CreatedAPIKey is the new key. Key is shown this once: only its hash is kept.
type CreatedAPIKey struct {
	Name   string
	Scopes []access.Scope
	Key    string
}

// CreateAPIKeyHandler handles CreateAPIKey.
type CreateAPIKeyHandler decorator.SubmissionHandler[CreateAPIKey, CreatedAPIKey]

type createAPIKeyHandler struct {
	keys APIKeyStore
	now  func() time.Time
}

// NewCreateAPIKeyHandler builds the handler; now may be nil for the wall clock.
func NewCreateAPIKeyHandler(keys APIKeyStore, now func() time.Time, logger *slog.Logger) CreateAPIKeyHandler {
	if keys == nil {
		panic("nil keys")
	}
	if logger == nil {
		panic("nil logger")
	}
	if now == nil {
		now = time.Now
	}
	return decorator.ApplySubmissionDecorators[CreateAPIKey, CreatedAPIKey](createAPIKeyHandler{keys: keys, now: now}, logger)
}

func (h createAPIKeyHandler) Handle(ctx context.Context, cmd CreateAPIKey) (CreatedAPIKey, error) {
	name, err := access.ParseKeyName(cmd.Name)
	if err != nil {
		return CreatedAPIKey{}, apperr.InvalidField("name", "%s", err.Error())
	}
	if len(cmd.Scopes) == 0 {
		return CreatedAPIKey{}, apperr.InvalidField("scopes", "a key needs at least one scope (known: %s)", access.JoinScopes(access.Scopes))
	}
	// The scopes are checked again here, for a caller that did not build them
	// with access.ParseScopes.
	scopes, err := access.ParseScopes(access.JoinScopes(cmd.Scopes))
	if err != nil {
		return CreatedAPIKey{}, apperr.InvalidField("scopes", "%s", err.Error())
	}
	key, err := access.NewAPIKey()
	if err != nil {
		return CreatedAPIKey{}, err
	}
	err = h.keys.AddAPIKey(ctx, NewAPIKey{Name: name, Hash: access.HashAPIKey(key), Scopes: scopes, CreatedAt: h.now().UTC()})
	if errors.Is(err, ErrAPIKeyNameTaken) {
		return CreatedAPIKey{}, apperr.InvalidField("name", "an API key named %q exists already (revoked keys keep their names); choose another name", name)
	}
	if err != nil {
		return CreatedAPIKey{}, apperr.Unavailablef(err, "cannot store the API key")
	}
	return CreatedAPIKey{Name: name, Scopes: scopes, Key: key}, nil
}
