// Package telemetry holds what techradar exports about itself that is not a
// port's own: the Prometheus registry and the series of the workers'
// background loops, the OpenTelemetry exporter, the profiles' listener, and
// the Redis client's log.
package telemetry

import (
	"context"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/adapters/transport"
)

// Namespace prefixes every series the service exports.
const Namespace = "techradar"

// poisonCountTimeout bounds the query behind the poison gauge, so that a slow
// store cannot stall a scrape.
const poisonCountTimeout = 2 * time.Second

// NewRegistry is one service's registry. Each Service has its own rather
// than Prometheus's global one, so that several services in one process (the
// tests) keep their series apart.
func NewRegistry() *prometheus.Registry {
	registry := prometheus.NewRegistry()
	registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return registry
}

// PoisonCounter is the part of the store the poison gauge reads.
type PoisonCounter interface {
	Count(ctx context.Context) (int, error)
}

// RegisterPoisonGauge exports how many poisoned messages wait for an operator.
// The store is asked at scrape time, so the figure is right whichever process
// poisoned them; a store that does not answer gives NaN, not a stale number.
func RegisterPoisonGauge(registry prometheus.Registerer, store PoisonCounter) error {
	return registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace,
		Name:      "poisoned_messages",
		Help:      "Messages moved to the poison topic and recorded, waiting for an operator (techradar poison list).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), poisonCountTimeout)
		defer cancel()
		n, err := store.Count(ctx)
		if err != nil {
			return math.NaN()
		}
		return float64(n)
	}))
}

// NewResentCommandsCounter counts the commands the resender sent again: each
// is a command a transport lost, or held past COMMAND_RESEND_AFTER.
func NewResentCommandsCounter(registry prometheus.Registerer) (prometheus.Counter, error) {
	resent := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace,
		Name:      "commands_resent_total",
		Help:      "Pending commands sent again from the command log after COMMAND_RESEND_AFTER, in case the transport lost them.",
	})
	return resent, registry.Register(resent)
}

// MaintenanceMetrics count what the workers' maintenance removes.
type MaintenanceMetrics struct {
	// Retained counts the store's rows deleted by the retention, by kind:
	// commands or sms.
	Retained *prometheus.CounterVec
	// TransportRemoved counts the transport's messages removed once every
	// group had handled them, or dropped by a cap.
	TransportRemoved prometheus.Counter
	// StreamDropped counts the entries a cap on a stream's length dropped
	// before some group had read them, by topic.
	StreamDropped *prometheus.CounterVec
}

func NewMaintenanceMetrics(registry prometheus.Registerer) (MaintenanceMetrics, error) {
	m := MaintenanceMetrics{
		Retained: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "retention_deleted_total",
			Help:      "Rows the retention deleted from the store, by kind: commands (COMMAND_RETENTION) or sms (SMS_RETENTION).",
		}, []string{"kind"}),
		TransportRemoved: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "transport_messages_removed_total",
			Help:      "Messages the transport's cleaning removed (Redis Streams, SQL).",
		}),
		StreamDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "stream_entries_dropped_total",
			Help:      "Stream entries REDISSTREAM_MAX_LEN dropped before some consumer group had read them: messages lost.",
		}, []string{"topic"}),
	}
	for _, c := range []prometheus.Collector{m.Retained, m.TransportRemoved, m.StreamDropped} {
		if err := registry.Register(c); err != nil {
			return m, err
		}
	}
	return m, nil
}

func (m MaintenanceMetrics) RetentionCleaned(report sqlstore.RetentionReport) {
	m.Retained.WithLabelValues("commands").Add(float64(report.Commands))
	m.Retained.WithLabelValues("sms").Add(float64(report.SMS))
}

func (m MaintenanceMetrics) TransportCleaned(report transport.CleanReport) {
	for _, n := range report.Removed {
		m.TransportRemoved.Add(float64(n))
	}
	for topic, n := range report.Dropped {
		m.StreamDropped.WithLabelValues(topic).Add(float64(n))
	}
}
