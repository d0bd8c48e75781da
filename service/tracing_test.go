package service_test

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/internal/correlation"
	"github.com/techradar/techradar/service"
)

// startTraced is start with the service's spans recorded in memory.
func startTraced(t *testing.T, cfg config.Config) (*running, *tracetest.InMemoryExporter) {
	t.Helper()
	exporter := tracetest.NewInMemoryExporter()
	provider := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	t.Cleanup(func() { _ = provider.Shutdown(context.Background()) })

	logger := slog.New(correlation.NewLogHandler(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: testLogLevel})))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc, err := service.New(ctx, cfg, config.RoleServe, logger, service.WithTracerProvider(provider))
	if err != nil {
		t.Fatalf("service.New: %v", err)
	}
	if err := svc.Start(ctx); err != nil {
		_ = svc.Close()
		t.Fatalf("Start: %v", err)
	}
	r := &running{t: t, svc: svc, baseURL: "http://" + svc.HTTPAddr()}
	t.Cleanup(func() { r.stop() })
	return r, exporter
}

// TestTracingFollowsACommand checks that one POST makes one trace: the HTTP
// span, the command handler's span as its child (through the command
// message's metadata), and the event handler's span as the command handler's
// child (through the outbox and the event message's metadata).
func TestTracingFollowsACommand(t *testing.T) {
	t.Parallel()
	app, exporter := startTraced(t, embeddedConfig(t))

	// The caller's trace, sent in the request's headers, is the parent of it all.
	callerTrace := "4bf92f3577b34da6a3ce929d0e0e4736"
	const requestID = "traced-request-1"
	accepted := app.postTech("OpenTelemetry", map[string]string{
		"traceparent":  "00-" + callerTrace + "-00f067aa0ba902b7-01",
		"X-Request-ID": requestID,
	})
	app.waitProcessed(accepted.CommandID)

	const (
		commandHandler = "techradar.create-tech"
		eventHandler   = "techradar.invalidate-tech-read-model.on-tech-created"
	)
	spanNamed := func(name string) (tracetest.SpanStub, bool) {
		for _, s := range exporter.GetSpans() {
			if s.Name == name && s.SpanContext.TraceID().String() == callerTrace {
				return s, true
			}
		}
		return tracetest.SpanStub{}, false
	}
	eventually(t, 10*time.Second, func() bool { _, ok := spanNamed(eventHandler); return ok }, "the event handler's span never ended")

	httpSpan, ok := spanNamed(http.MethodPost + " /api/techs")
	if !ok {
		t.Fatalf("no HTTP span in the caller's trace; spans: %v", spanNames(exporter))
	}
	commandSpan, ok := spanNamed(commandHandler)
	if !ok {
		t.Fatalf("no span of %s in the caller's trace; spans: %v", commandHandler, spanNames(exporter))
	}
	eventSpan, _ := spanNamed(eventHandler)

	if httpSpan.SpanKind != trace.SpanKindServer || httpSpan.Parent.SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("HTTP span: kind %v, parent %s; want a server span under the caller's", httpSpan.SpanKind, httpSpan.Parent.SpanID())
	}
	if commandSpan.Parent.SpanID() != httpSpan.SpanContext.SpanID() {
		t.Errorf("the command handler's span has parent %s, not the HTTP span %s", commandSpan.Parent.SpanID(), httpSpan.SpanContext.SpanID())
	}
	if eventSpan.Parent.SpanID() != commandSpan.SpanContext.SpanID() {
		t.Errorf("the event handler's span has parent %s, not the command handler's span %s", eventSpan.Parent.SpanID(), commandSpan.SpanContext.SpanID())
	}
	for _, s := range []tracetest.SpanStub{commandSpan, eventSpan} {
		if s.SpanKind != trace.SpanKindConsumer || !hasAttribute(s, "messaging.message.id") {
			t.Errorf("span %s: kind %v, attributes %v", s.Name, s.SpanKind, s.Attributes)
		}
	}
	if !hasAttributeValue(commandSpan, "techradar.correlation_id", requestID) {
		t.Errorf("the command handler's span does not carry the correlation id %q: %v", requestID, commandSpan.Attributes)
	}
}

// TestTracingOffByDefault checks that with the default configuration a request
// that arrives traced is served as any other.
func TestTracingOffByDefault(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t)
	if cfg.OTel.Enabled {
		t.Fatal("OTEL_ENABLED is on by default")
	}
	app := start(t, cfg, config.RoleServe)
	a := app.postTech("Untraced", map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
	if report := app.waitProcessed(a.CommandID); report.Status != "processed" {
		t.Fatalf("command = %+v", report)
	}
}

func spanNames(exporter *tracetest.InMemoryExporter) []string {
	var names []string
	for _, s := range exporter.GetSpans() {
		names = append(names, s.Name+" ("+s.SpanContext.TraceID().String()+")")
	}
	return names
}

func hasAttribute(s tracetest.SpanStub, key string) bool {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key && kv.Value.String() != "" {
			return true
		}
	}
	return false
}

func hasAttributeValue(s tracetest.SpanStub, key, value string) bool {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key && kv.Value.String() == value {
			return true
		}
	}
	return false
}
