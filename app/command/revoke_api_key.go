package command

import (
	"context"
	"log/slog"
	"time"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/decorator"
)

// RevokeAPIKey withdraws the key named Name for good. Every process refuses
// it within 5 seconds (see query.AuthenticateAPIKey).
type RevokeAPIKey struct {
	Name string
}

// RevokeAPIKeyHandler handles RevokeAPIKey. Revoking a revoked key again
// changes nothing; an unknown name is apperr.NotFound.
type RevokeAPIKeyHandler decorator.CommandHandler[RevokeAPIKey]

type revokeAPIKeyHandler struct {
	keys APIKeyStore
	now  func() time.Time
}

// NewRevokeAPIKeyHandler builds the handler; now may be nil for the wall clock.
func NewRevokeAPIKeyHandler(keys APIKeyStore, now func() time.Time, logger *slog.Logger) RevokeAPIKeyHandler {
	if keys == nil {
		panic("nil keys")
	}
	if logger == nil {
		panic("nil logger")
	}
	if now == nil {
		now = time.Now
	}
	return decorator.ApplyCommandDecorators[RevokeAPIKey](revokeAPIKeyHandler{keys: keys, now: now}, logger)
}

func (h revokeAPIKeyHandler) Handle(ctx context.Context, cmd RevokeAPIKey) error {
	if cmd.Name == "" {
		return apperr.InvalidField("name", "name the key to revoke")
	}
	found, err := h.keys.RevokeAPIKey(ctx, cmd.Name, h.now().UTC())
	if err != nil {
		return apperr.Unavailablef(err, "cannot revoke the API key")
	}
	if !found {
		return apperr.NotFoundf("no API key is named %q (see `techradar apikey list`)", cmd.Name)
	}
	return nil
}
