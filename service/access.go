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

// warnIfOpenToAll warns, once at start, when HTTP_ADDR asks for no key and
// listens beyond this machine: the API's roles serve writes and SMS there, and
// a worker its /metrics.
func (s *Service) warnIfOpenToAll(addr net.Addr) {
	if s.cfg.Auth.RequiresKeys() || isLoopback(addr) {
		return
	}
	switch {
	case s.role.RunsAPI():
		s.logger.Warn("AUTH_MODE=off and HTTP_ADDR listens beyond loopback: anyone who reaches " + addr.String() +
			" can write techs and send SMS; set AUTH_MODE=apikey, or listen on 127.0.0.1")
	case s.role.RunsWorkers():
		s.logger.Warn("AUTH_MODE=off and HTTP_ADDR listens beyond loopback: anyone who reaches " + addr.String() +
			" can read the worker's /metrics; set AUTH_MODE=apikey, or listen on 127.0.0.1")
	}
}

// warnIfAdminOpen warns, once at start, when ADMIN_ADDR listens beyond this
// machine: it never asks for a key, and its profiles and metrics tell about
// the process and every client's traffic.
func (s *Service) warnIfAdminOpen(addr net.Addr) {
	if isLoopback(addr) {
		return
	}
	s.logger.Warn("ADMIN_ADDR listens beyond loopback: anyone who reaches " + addr.String() +
		" can read /metrics and /debug/pprof/ without a key; listen on 127.0.0.1, or keep it behind a firewall")
}

func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
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
