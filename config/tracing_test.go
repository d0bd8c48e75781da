package config_test

import (
	"math"
	"strings"
	"testing"

	"github.com/techradar/techradar/config"
)

func TestTracingSettings(t *testing.T) {
	t.Parallel()

	if c := config.Default(); c.OTelEnabled {
		t.Fatal("tracing is on by default")
	}
	tests := []struct {
		name   string
		change func(*config.Config)
		want   string // the variable the error must name; "" for none
	}{
		{"off ignores the endpoint", func(c *config.Config) { c.OTelEndpoint = "not a url" }, ""},
		{"on with the default endpoint", func(c *config.Config) { c.OTelEnabled = true }, ""},
		{"on with an https endpoint", func(c *config.Config) {
			c.OTelEnabled, c.OTelEndpoint = true, "https://collector.example:4318"
		}, ""},
		{"endpoint without scheme", func(c *config.Config) { c.OTelEnabled, c.OTelEndpoint = true, "localhost:4318" }, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"grpc scheme", func(c *config.Config) { c.OTelEnabled, c.OTelEndpoint = true, "grpc://localhost:4317" }, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"empty service name", func(c *config.Config) { c.OTelEnabled, c.OTelServiceName = true, " " }, "OTEL_SERVICE_NAME"},
		{"ratio above one", func(c *config.Config) { c.OTelSampleRatio = 1.5 }, "OTEL_TRACES_SAMPLER_ARG"},
		{"ratio NaN", func(c *config.Config) { c.OTelSampleRatio = math.NaN() }, "OTEL_TRACES_SAMPLER_ARG"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			tt.change(&c)
			err := c.Validate(config.RoleServe)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v does not name %s", err, tt.want)
			}
		})
	}
}
