package messaging

import (
	"bytes"
	"context"
	"maps"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"go.opentelemetry.io/otel/trace"

	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/internal/correlation"
)

// TestCommandEncoderMakesWhatTheBusSends: the message the command log keeps
// for a resend is the one the command bus publishes, topic, payload and
// metadata (correlation id, trace context) alike.
func TestCommandEncoderMakesWhatTheBusSends(t *testing.T) {
	t.Parallel()
	topics := Topics{Prefix: "techradar"}
	ctx := correlation.WithID(context.Background(), "req-7")
	ctx = trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3},
		SpanID:     trace.SpanID{4, 5, 6},
		TraceFlags: trace.FlagsSampled,
	}))
	cmd := command.CreateTech{CommandID: "c-1", Name: "Kafka", RequestedAt: time.Unix(1700000000, 0).UTC()}

	var sent keptMessages
	bus, err := NewCommandBus(&sent, topics, watermill.NopLogger{})
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Send(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	topic, msg, err := NewCommandEncoder(topics, watermill.NopLogger{})(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}

	want := sent.messages[0]
	if topic != sent.topic || topic != "techradar.commands.CreateTech" || !bytes.Equal(msg.Payload, want.Payload) || !maps.Equal(msg.Metadata, want.Metadata) {
		t.Fatalf("encoded %s %s %v, the bus sent %s %s %v", topic, msg.Payload, msg.Metadata, sent.topic, want.Payload, want.Metadata)
	}
	if middleware.MessageCorrelationID(msg) != "req-7" || msg.Metadata.Get("traceparent") == "" || msg.UUID == "" {
		t.Fatalf("metadata %v, uuid %q", msg.Metadata, msg.UUID)
	}
}
