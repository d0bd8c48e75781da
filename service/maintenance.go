package service

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/adapters/transport"
	"github.com/techradar/techradar/config"
)

// maintenance is what every worker runs beside the router to keep state
// bounded: the store's retention and, on the transports that keep messages,
// their cleaning. Each is a round of short steps, run every
// RETENTION_INTERVAL; every worker runs them, and the rounds are written so
// that two at once do no harm.
type maintenance struct {
	retention *sqlstore.Retention
	// transport is nil where the transport keeps nothing to clean (GoChannel)
	// or cleans itself (Kafka, whose broker applies its retention).
	transport transport.Maintainer
	interval  time.Duration
	metrics   maintenanceMetrics
	logger    *slog.Logger
}

func newMaintenance(db *sqlstore.DB, tr transport.Transport, cfg config.RetentionConfig, registry prometheus.Registerer, logger *slog.Logger) (*maintenance, error) {
	retention, err := sqlstore.NewRetention(db, sqlstore.RetentionConfig{Commands: cfg.Commands, SMS: cfg.SMS})
	if err != nil {
		return nil, err
	}
	metrics, err := newMaintenanceMetrics(registry)
	if err != nil {
		return nil, err
	}
	maintainer, _ := tr.(transport.Maintainer)
	return &maintenance{retention: retention, transport: maintainer, interval: cfg.Interval, metrics: metrics, logger: logger}, nil
}

// storeRetention deletes the commands and SMS records past their retention,
// until ctx is done.
func (m *maintenance) storeRetention(ctx context.Context) error {
	return m.every(ctx, "store retention", func(ctx context.Context) error {
		report, err := m.retention.Clean(ctx, time.Now())
		m.metrics.retained.WithLabelValues("commands").Add(float64(report.Commands))
		m.metrics.retained.WithLabelValues("sms").Add(float64(report.SMS))
		if report.Commands > 0 || report.SMS > 0 {
			m.logger.InfoContext(ctx, "retention deleted old records", slog.Int64("commands", report.Commands), slog.Int64("sms", report.SMS),
				slog.Bool("more_left", report.Unfinished))
		}
		return err
	})
}

// transportCleaning removes the transport's messages every group has
// handled, until ctx is done; on a transport with nothing to clean it returns
// at once. Entries a cap dropped unread are lost messages: an error, each time.
func (m *maintenance) transportCleaning(ctx context.Context) error {
	if m.transport == nil {
		return nil
	}
	return m.every(ctx, "transport cleaning", m.cleanTransport)
}

func (m *maintenance) cleanTransport(ctx context.Context) error {
	report, err := m.transport.Clean(ctx)
	var removed int64
	for _, n := range report.Removed {
		removed += n
	}
	m.metrics.transportRemoved.Add(float64(removed))
	if removed > 0 {
		m.logger.InfoContext(ctx, "transport cleaning removed handled messages", slog.Int64("messages", removed), slog.Int("topics", len(report.Removed)))
	}
	for topic, n := range report.Dropped {
		m.metrics.streamDropped.WithLabelValues(topic).Add(float64(n))
		m.logger.ErrorContext(ctx, "REDISSTREAM_MAX_LEN dropped entries a consumer group had not read: those messages are lost",
			slog.String("topic", topic), slog.Int64("entries", n))
	}
	return err
}

// every runs round every interval until ctx is done. The first round comes
// after a random part of the interval, so that workers started together do
// not all clean at once. A failed round is logged; the next one tries again.
func (m *maintenance) every(ctx context.Context, name string, round func(ctx context.Context) error) error {
	timer := time.NewTimer(rand.N(m.interval))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		if err := round(ctx); err != nil && ctx.Err() == nil {
			m.logger.WarnContext(ctx, "maintenance round failed", slog.String("maintenance", name), slog.Any("error", err))
		}
		timer.Reset(m.interval)
	}
}
