package service

import (
	"context"
	"log/slog"
	"testing"

	"github.com/techradar/techradar/config"
)

// TestTracingOffInstallsNothing: with OTEL_ENABLED unset there is no provider
// and no exporter to close (ports/messaging checks that a message sent without
// a span gets no trace metadata).
func TestTracingOffInstallsNothing(t *testing.T) {
	t.Parallel()
	s := &Service{cfg: config.Default(), role: config.RoleServe}
	if err := s.setUpTracing(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.tracing != nil || len(s.closers) != 0 {
		t.Fatalf("tracing off built provider %v and %d closers", s.tracing, len(s.closers))
	}
}

// TestTracingOnBuildsTheExporter: with OTEL_ENABLED the service builds an OTLP
// exporter, without reaching the collector, and closes it on the way out.
func TestTracingOnBuildsTheExporter(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.OTel.Enabled = true
	cfg.OTel.Endpoint = "http://127.0.0.1:1" // nothing listens: nothing must be sent before spans exist
	s := &Service{cfg: cfg, role: config.RoleServe, logger: slog.New(slog.DiscardHandler)}
	if err := s.setUpTracing(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.tracing == nil || len(s.closers) != 1 {
		t.Fatalf("tracing on built provider %v and %d closers", s.tracing, len(s.closers))
	}
	if err := s.closeAll(); err != nil {
		t.Fatalf("closing a provider that exported nothing: %v", err)
	}
}
