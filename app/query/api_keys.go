package query

import (
	"context"
	"log/slog"
	"time"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/decorator"
	"github.com/techradar/techradar/domain/access"
)

// APIKeys lists up to Limit API keys, by name.
type APIKeys struct {
	Limit int
}

// APIKey is what an operator sees of a key: never the key, nor its hash.
// LastUsedAt is at most about a minute behind (see AuthenticateAPIKey), and
// zero for a key never used; RevokedAt is zero for a key in use.
type APIKey struct {
	Name       string
	Scopes     []access.Scope
	CreatedAt  time.Time
	LastUsedAt time.Time
	RevokedAt  time.Time
}

// APIKeysReadModel reads the kept keys.
type APIKeysReadModel interface {
	APIKeys(ctx context.Context, limit int) ([]APIKey, error)
}

// APIKeysHandler answers APIKeys.
type APIKeysHandler decorator.QueryHandler[APIKeys, []APIKey]

type apiKeysHandler struct {
	readModel APIKeysReadModel
}

func NewAPIKeysHandler(readModel APIKeysReadModel, logger *slog.Logger) APIKeysHandler {
	if readModel == nil {
		panic("nil read model")
	}
	return decorator.ApplyQueryDecorators[APIKeys, []APIKey](apiKeysHandler{readModel: readModel}, logger)
}

// maxAPIKeysListed bounds one list.
const maxAPIKeysListed = 10_000

func (h apiKeysHandler) Handle(ctx context.Context, q APIKeys) ([]APIKey, error) {
	if q.Limit < 0 || q.Limit > maxAPIKeysListed {
		return nil, apperr.InvalidField("limit", "limit must be between 0 and %d, got %d", maxAPIKeysListed, q.Limit)
	}
	return h.readModel.APIKeys(ctx, q.Limit)
}
