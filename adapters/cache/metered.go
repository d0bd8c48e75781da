package cache

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/techradar/techradar/app/query"
)

// ReadModelCache is a read-model cache as a process holds it: the app's port,
// and a ping for /readyz.
type ReadModelCache interface {
	query.ReadModelCache
	Ping(ctx context.Context) error
}

// Metered counts what the read-model cache answers: a hit, a miss, or an
// error (the read then goes to the store), and how often it is invalidated.
type Metered struct {
	ReadModelCache
	hits, misses, errors prometheus.Counter
	invalidations        prometheus.Counter
	invalidationErrors   prometheus.Counter
}

// NewMetered counts what cache answers in registry, under
// techradar_read_model_cache_*.
func NewMetered(cache ReadModelCache, registry prometheus.Registerer) (*Metered, error) {
	lookups := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "techradar",
		Subsystem: "read_model_cache",
		Name:      "lookups_total",
		Help:      "Read-model cache lookups, by result: hit, miss, or error (answered from the store).",
	}, []string{"result"})
	invalidations := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "techradar",
		Subsystem: "read_model_cache",
		Name:      "invalidations_total",
		Help:      "Read-model cache invalidations, by result: ok or error.",
	}, []string{"result"})
	for _, c := range []prometheus.Collector{lookups, invalidations} {
		if err := registry.Register(c); err != nil {
			return nil, err
		}
	}
	return &Metered{
		ReadModelCache:     cache,
		hits:               lookups.WithLabelValues("hit"),
		misses:             lookups.WithLabelValues("miss"),
		errors:             lookups.WithLabelValues("error"),
		invalidations:      invalidations.WithLabelValues("ok"),
		invalidationErrors: invalidations.WithLabelValues("error"),
	}, nil
}

func (c *Metered) Get(ctx context.Context, key string) ([]byte, uint64, bool, error) {
	value, generation, found, err := c.ReadModelCache.Get(ctx, key)
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

func (c *Metered) Invalidate(ctx context.Context) error {
	err := c.ReadModelCache.Invalidate(ctx)
	if err != nil {
		c.invalidationErrors.Inc()
	} else {
		c.invalidations.Inc()
	}
	return err
}
