package service

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/adapters/transport"
	"github.com/techradar/techradar/internal/telemetry"
)

// maintenanceWorkers are what every worker runs beside the router to keep
// state bounded: the store's retention and, on the transports that keep
// messages, their cleaning, every RETENTION_INTERVAL. Each is written so that
// every worker may run it at once. GoChannel keeps nothing and Kafka's broker
// applies its own retention: they get no cleaning.
func maintenanceWorkers(db *sqlstore.DB, tr transport.Transport, cfg sqlstore.RetentionConfig, registry prometheus.Registerer, logger *slog.Logger) ([]backgroundWorker, error) {
	metrics, err := telemetry.NewMaintenanceMetrics(registry)
	if err != nil {
		return nil, err
	}
	retention, err := sqlstore.NewRetention(db, cfg, logger, metrics.RetentionCleaned)
	if err != nil {
		return nil, err
	}
	workers := []backgroundWorker{{name: "store retention", run: retention.Run}}
	if maintainer, ok := tr.(transport.Maintainer); ok {
		workers = append(workers, backgroundWorker{name: "transport cleaning", run: func(ctx context.Context) error {
			return transport.RunCleaning(ctx, maintainer, cfg.Interval, metrics.TransportCleaned, logger)
		}})
	}
	return workers, nil
}
