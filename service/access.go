package service

import (
	"log/slog"
	"net"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/app"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/ports/httpapi"
)

// accessOptions are the HTTP options of AUTH_MODE: with apikey, the API
// authenticates keys against the store, each process caching what it found
// for a few seconds.
func (s *Service) accessOptions(db *sqlstore.DB) ([]httpapi.HTTPOption, error) {
	if !s.cfg.Auth.RequiresKeys() {
		return nil, nil
	}
	keys, err := sqlstore.NewAPIKeyStore(db)
	if err != nil {
		return nil, err
	}
	authenticate := query.NewAuthenticateAPIKeyHandler(keys, nil, s.logger)
	return []httpapi.HTTPOption{httpapi.WithAPIKeys(authenticate, s.cfg.Auth.PublicReads)}, nil
}

// warnIfOpenToAll warns, once at start, when the API asks for no key and
// listens beyond this machine.
func (s *Service) warnIfOpenToAll(addr net.Addr) {
	if s.cfg.Auth.RequiresKeys() || !s.role.RunsAPI() {
		return
	}
	if tcp, ok := addr.(*net.TCPAddr); ok && tcp.IP.IsLoopback() {
		return
	}
	s.logger.Warn("AUTH_MODE=off and HTTP_ADDR listens beyond loopback: anyone who reaches " + addr.String() +
		" can write techs and send SMS; set AUTH_MODE=apikey, or listen on 127.0.0.1")
}

// addAPIKeyAdmin adds the operator's key use cases (`techradar apikey`) on
// the store db.
func addAPIKeyAdmin(a *app.Application, db *sqlstore.DB, logger *slog.Logger) error {
	keys, err := sqlstore.NewAPIKeyStore(db)
	if err != nil {
		return err
	}
	a.Commands.CreateAPIKey = command.NewCreateAPIKeyHandler(keys, nil, logger)
	a.Commands.RevokeAPIKey = command.NewRevokeAPIKeyHandler(keys, nil, logger)
	a.Queries.APIKeys = query.NewAPIKeysHandler(keys, logger)
	return nil
}
