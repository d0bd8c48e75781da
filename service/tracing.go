package service

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/techradar/techradar/config"
)

// tracerShutdownTimeout bounds how long a stopping service waits to export the
// spans it still holds.
const tracerShutdownTimeout = 5 * time.Second

// Option changes how New builds a Service.
type Option func(*Service)

// WithTracerProvider traces the service with provider instead of what the
// configuration asks for; the caller shuts the provider down. Tests use it
// with an in-memory exporter.
func WithTracerProvider(provider trace.TracerProvider) Option {
	return func(s *Service) { s.tracing = provider }
}

// setUpTracing builds the OTLP exporter when OTEL_ENABLED is set and no
// provider was given. With tracing off s.tracing stays nil and nothing is
// installed: no middleware, no span, no exporter.
func (s *Service) setUpTracing(ctx context.Context) error {
	if s.tracing != nil || !s.cfg.OTel.Enabled {
		return nil
	}
	provider, err := newTracerProvider(ctx, s.cfg, s.role)
	if err != nil {
		return err
	}
	// The SDK reports export failures through a handler of its own, global to
	// the process, that writes to the standard logger; route them to the
	// service's log instead, where they have its format.
	logger := s.logger
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("OpenTelemetry", slog.Any("error", err))
	}))
	s.tracing = provider
	s.closers = append(s.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), tracerShutdownTimeout)
		defer cancel()
		return provider.Shutdown(ctx)
	})
	return nil
}

// newTracerProvider exports spans in batches to the OTLP/HTTP collector at
// OTEL_EXPORTER_OTLP_ENDPOINT, a base URL as the OpenTelemetry specification
// defines it: spans go to its /v1/traces.
func newTracerProvider(ctx context.Context, cfg config.Config, role config.Role) (*sdktrace.TracerProvider, error) {
	exporter, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(strings.TrimRight(cfg.OTel.Endpoint, "/")+"/v1/traces"))
	if err != nil {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", cfg.OTel.ServiceName),
			attribute.String("techradar.role", string(role)),
		)),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.OTel.SampleRatio))),
	), nil
}
