package service

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/techradar/techradar/internal/telemetry"
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
	provider, err := telemetry.NewTracerProvider(ctx, s.cfg.OTel, string(s.role))
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
