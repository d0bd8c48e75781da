package httpapi

import (
	"log/slog"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/github.com/labstack/echo/otelecho"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// HTTPOption adds an optional concern, such as metrics, to the HTTP handler.
type HTTPOption func(*httpOptions)

type httpOptions struct {
	metrics    *prometheus.Registry
	tracing    trace.TracerProvider
	propagator propagation.TextMapPropagator
	access     AccessControl
	apiKeys    *apiKeyAccess
}

// WithMetrics records every request in registry and serves registry at
// /metrics. A registry of the caller's, not Prometheus's global one, keeps the
// series of several services in one process apart.
func WithMetrics(registry *prometheus.Registry) HTTPOption {
	return func(o *httpOptions) { o.metrics = registry }
}

// WithTracing starts a span for every request, as a child of the trace the
// request carries in its headers (read with propagator), if any. The span is
// in the request's context, where the command bus finds it. A nil provider
// leaves tracing out.
func WithTracing(provider trace.TracerProvider, propagator propagation.TextMapPropagator) HTTPOption {
	return func(o *httpOptions) { o.tracing, o.propagator = provider, propagator }
}

func collectHTTPOptions(opts []HTTPOption) httpOptions {
	var o httpOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// applyHTTPOptions installs the options' middleware and routes. It runs before
// any other middleware, so that what it measures includes them all and sees the
// status the error handler finally wrote. An option that cannot be installed is
// logged and left out: the API works without it.
func applyHTTPOptions(e *echo.Echo, o httpOptions, logger *slog.Logger) {
	if o.tracing != nil {
		e.Use(otelecho.Middleware("techradar", otelecho.WithTracerProvider(o.tracing), otelecho.WithPropagators(o.propagator)))
	}
	if o.metrics != nil {
		m, err := newHTTPMetrics(o.metrics)
		if err != nil {
			logger.Error("HTTP metrics left out", slog.Any("error", err))
		} else {
			e.Use(m.middleware)
			e.GET(MetricsPath, metricsHandler(o.metrics))
		}
	}
}
