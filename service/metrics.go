package service

import (
	"context"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metricsNamespace prefixes every series the service exports.
const metricsNamespace = "techradar"

// poisonCountTimeout bounds the query behind the poison gauge, so that a slow
// store cannot stall a scrape.
const poisonCountTimeout = 2 * time.Second

// newMetricsRegistry is one service's registry. Each Service has its own rather
// than Prometheus's global one, so that several services in one process (the
// tests) keep their series apart.
func newMetricsRegistry() *prometheus.Registry {
	registry := prometheus.NewRegistry()
	registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return registry
}

// poisonCounter is the part of the store the poison gauge reads.
type poisonCounter interface {
	Count(ctx context.Context) (int, error)
}

// registerPoisonGauge exports how many poisoned messages wait for an operator.
// The store is asked at scrape time, so the figure is right whichever process
// poisoned them; a store that does not answer gives NaN, not a stale number.
func registerPoisonGauge(registry prometheus.Registerer, store poisonCounter) error {
	return registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: metricsNamespace,
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

// newResentCommandsCounter counts the commands the resender sent again: each
// is a command a transport lost, or held past COMMAND_RESEND_AFTER.
func newResentCommandsCounter(registry prometheus.Registerer) (prometheus.Counter, error) {
	resent := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: metricsNamespace,
		Name:      "commands_resent_total",
		Help:      "Pending commands sent again from the command log after COMMAND_RESEND_AFTER, in case the transport lost them.",
	})
	return resent, registry.Register(resent)
}

// meteredCache counts what the read-model cache answers: a hit, a miss, or an
// error (the read then goes to the store), and how often it is invalidated.
type meteredCache struct {
	readModelCache
	hits, misses, errors prometheus.Counter
	invalidations        prometheus.Counter
	invalidationErrors   prometheus.Counter
}

func newMeteredCache(cache readModelCache, registry prometheus.Registerer) (*meteredCache, error) {
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace,
		Subsystem: "read_model_cache",
		Name:      "lookups_total",
		Help:      "Read-model cache lookups, by result: hit, miss, or error (answered from the store).",
	}, []string{"result"})
	invalidations := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metricsNamespace,
		Subsystem: "read_model_cache",
		Name:      "invalidations_total",
		Help:      "Read-model cache invalidations, by result: ok or error.",
	}, []string{"result"})
	for _, c := range []prometheus.Collector{lookups, invalidations} {
		if err := registry.Register(c); err != nil {
			return nil, err
		}
	}
	return &meteredCache{
		readModelCache:     cache,
		hits:               lookups.WithLabelValues("hit"),
		misses:             lookups.WithLabelValues("miss"),
		errors:             lookups.WithLabelValues("error"),
		invalidations:      invalidations.WithLabelValues("ok"),
		invalidationErrors: invalidations.WithLabelValues("error"),
	}, nil
}

func (c *meteredCache) Get(ctx context.Context, key string) ([]byte, uint64, bool, error) {
	value, generation, found, err := c.readModelCache.Get(ctx, key)
	switch {
	case err != nil:
		c.errors.Inc()
	case found:
		c.hits.Inc()
	default:
		c.misses.Inc()
	}
	return value, generation, found, err
}

func (c *meteredCache) Invalidate(ctx context.Context) error {
	err := c.readModelCache.Invalidate(ctx)
	if err != nil {
		c.invalidationErrors.Inc()
	} else {
		c.invalidations.Inc()
	}
	return err
}

// maintenanceMetrics count what the workers' maintenance removes.
type maintenanceMetrics struct {
	// retained counts the store's rows deleted by the retention, by kind:
	// commands or sms.
	retained *prometheus.CounterVec
	// transportRemoved counts the transport's messages removed once every
	// group had handled them, or dropped by a cap.
	transportRemoved prometheus.Counter
	// streamDropped counts the entries a cap on a stream's length dropped
	// before some group had read them, by topic.
	streamDropped *prometheus.CounterVec
}

func newMaintenanceMetrics(registry prometheus.Registerer) (maintenanceMetrics, error) {
	m := maintenanceMetrics{
		retained: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Name:      "retention_deleted_total",
			Help:      "Rows the retention deleted from the store, by kind: commands (COMMAND_RETENTION) or sms (SMS_RETENTION).",
		}, []string{"kind"}),
		transportRemoved: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Name:      "transport_messages_removed_total",
			Help:      "Messages the transport's cleaning removed (Redis Streams, SQL).",
		}),
		streamDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace,
			Name:      "stream_entries_dropped_total",
			Help:      "Stream entries REDISSTREAM_MAX_LEN dropped before some consumer group had read them: messages lost.",
		}, []string{"topic"}),
	}
	for _, c := range []prometheus.Collector{m.retained, m.transportRemoved, m.streamDropped} {
		if err := registry.Register(c); err != nil {
			return m, err
		}
	}
	return m, nil
}
