package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MetricsPath is where the Prometheus metrics are served.
const MetricsPath = "/metrics"

// unmatchedRoute labels requests that matched no route: the raw path would let
// any client create series without bound.
const unmatchedRoute = "unmatched"

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

func newHTTPMetrics(registry prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "techradar",
			Subsystem: "http",
			Name:      "requests_total",
			Help:      "HTTP requests answered, by method, route template and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "techradar",
			Subsystem: "http",
			Name:      "request_duration_seconds",
			Help:      "Time to answer an HTTP request, by method and route template.",
			// From a cached read (well under a millisecond) to a slow write
			// that waits for the store.
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "techradar",
			Subsystem: "http",
			Name:      "requests_in_flight",
			Help:      "HTTP requests being answered.",
		}),
	}
	var err error
	if m.requests, err = register(registry, m.requests); err != nil {
		return nil, err
	}
	if m.duration, err = register(registry, m.duration); err != nil {
		return nil, err
	}
	if m.inFlight, err = register(registry, m.inFlight); err != nil {
		return nil, err
	}
	return m, nil
}

// register adds c to registry, or answers the collector registered before under
// the same name: a second handler on one registry shares the first one's series.
func register[C prometheus.Collector](registry prometheus.Registerer, c C) (C, error) {
	err := registry.Register(c)
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}

// knownMethods bounds the method label: a client may send any token as a method.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true, http.MethodPatch: true,
	http.MethodDelete: true, http.MethodOptions: true, http.MethodConnect: true, http.MethodTrace: true,
}

func (m *httpMetrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		m.inFlight.Inc()
		defer m.inFlight.Dec()

		if err := next(c); err != nil {
			// Written here, the status below is the one the client gets.
			c.Error(err)
		}

		route := c.Path()
		if route == "" || route == "/*" {
			route = unmatchedRoute
		}
		method := c.Request().Method
		if !knownMethods[method] {
			method = "other"
		}
		m.requests.WithLabelValues(method, route, strconv.Itoa(c.Response().Status)).Inc()
		m.duration.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
		return nil
	}
}

func metricsHandler(registry *prometheus.Registry) echo.HandlerFunc {
	handler := promhttp.HandlerFor(registry, promhttp.HandlerOpts{
		// One failing collector (the poison count while the store is down) must
		// not hide every other series.
		ErrorHandling:     promhttp.ContinueOnError,
		Registry:          registry,
		EnableOpenMetrics: true,
	})
	return echo.WrapHandler(handler)
}
