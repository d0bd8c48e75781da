package service

import (
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/internal/telemetry"
)

// newCommandResender is the worker's loop that sends again, from the command
// log of db, the commands still pending COMMAND_RESEND_AFTER after they were
// sent, counting each in the metrics.
func newCommandResender(db *sqlstore.DB, publisher message.Publisher, cfg config.ResendConfig, metrics prometheus.Registerer, logger *slog.Logger) (*sqlstore.CommandResender, error) {
	resent, err := telemetry.NewResentCommandsCounter(metrics)
	if err != nil {
		return nil, err
	}
	return sqlstore.NewCommandResender(db, publisher, sqlstore.CommandResenderConfig{
		ResendAfter: cfg.After,
		OnResent:    func(sqlstore.ResentCommand) { resent.Inc() },
	}, logger)
}
