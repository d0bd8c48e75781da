package service

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/techradar/techradar/config"
)

// tracerName names the spans techradar starts itself, around message handlers.
const tracerName = "github.com/techradar/techradar/service"

// tracerShutdownTimeout bounds how long a stopping service waits to export the
// spans it still holds.
const tracerShutdownTimeout = 5 * time.Second

// tracePropagator carries the trace in HTTP headers and in message metadata:
// W3C Trace Context and Baggage, which every OpenTelemetry SDK reads.
var tracePropagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(
	propagation.TraceContext{}, propagation.Baggage{},
)

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

// injectTraceContext writes the trace of the message's context into its
// metadata, where the handler that receives it, in this process or another,
// continues the trace. A context without a span writes nothing.
func injectTraceContext(msg *message.Message) {
	if msg.Metadata == nil {
		msg.Metadata = message.Metadata{}
	}
	tracePropagator.Inject(msg.Context(), propagation.MapCarrier(msg.Metadata))
}

// addRouterTracing makes every handler run in a span, the child of the span
// that sent or published its message. A nil provider adds nothing.
func addRouterTracing(router *message.Router, provider trace.TracerProvider) {
	if provider == nil {
		return
	}
	router.AddMiddleware(traceHandler(provider.Tracer(tracerName)))
}

// traceHandler starts one span per handling attempt, so that retries show as
// spans of their own.
func traceHandler(tracer trace.Tracer) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			ctx := tracePropagator.Extract(msg.Context(), propagation.MapCarrier(msg.Metadata))
			handler := message.HandlerNameFromCtx(msg.Context())
			ctx, span := tracer.Start(ctx, handler,
				trace.WithSpanKind(trace.SpanKindConsumer),
				trace.WithAttributes(
					attribute.String("messaging.system", "watermill"),
					attribute.String("messaging.operation.type", "process"),
					attribute.String("messaging.destination.name", message.SubscribeTopicFromCtx(msg.Context())),
					attribute.String("messaging.consumer.group.name", handler),
					attribute.String("messaging.message.id", msg.UUID),
					attribute.String("techradar.correlation_id", middleware.MessageCorrelationID(msg)),
				))
			defer span.End()
			msg.SetContext(ctx)

			produced, err := h(msg)
			if err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			return produced, err
		}
	}
}
