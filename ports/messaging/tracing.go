package messaging

import (
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/techradar/techradar/internal/tracecontext"
)

// tracerName names the spans techradar starts itself, around message handlers.
// It is the instrumentation scope trace backends show and filter on, so it
// keeps the name it had before this code moved here from package service.
const tracerName = "github.com/techradar/techradar/service"

// injectTraceContext writes the trace of the message's context into its
// metadata, where the handler that receives it, in this process or another,
// continues the trace. A context without a span writes nothing.
func injectTraceContext(msg *message.Message) {
	if msg.Metadata == nil {
		msg.Metadata = message.Metadata{}
	}
	tracecontext.Propagator.Inject(msg.Context(), propagation.MapCarrier(msg.Metadata))
}

// traceHandler starts one span per handling attempt, the child of the span
// that sent or published its message, so that retries show as spans of their
// own.
func traceHandler(tracer trace.Tracer) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			ctx := tracecontext.Propagator.Extract(msg.Context(), propagation.MapCarrier(msg.Metadata))
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
