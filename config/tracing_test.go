package config_test

import (
	"math"
	"strings"
	"testing"

	"github.com/techradar/techradar/config"
)

func TestTracingSettings(t *testing.T) {
	t.Parallel()

	if c := config.Default(); c.OTel.Enabled {
		t.Fatal("tracing is on by default")
	}
	tests := []struct {
		name   string
		change func(*config.Config)
		want   string // the variable the error must name; "" for none
	}{
		{"off ignores the endpoint", func(c *config.Config) { c.OTel.Endpoint = "not a url" }, ""},
		{"on with the default endpoint", func(c *config.Config) { c.OTel.Enabled = true }, ""},
		{"on with an https endpoint", func(c *config.Config) {
			c.OTel.Enabled, c.OTel.Endpoint = true, "https://collector.example:4318"
		}, ""},
		{"endpoint without scheme", func(c *config.Config) { c.OTel.Enabled, c.OTel.Endpoint = true, "localhost:4318" }, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"grpc scheme", func(c *config.Config) { c.OTel.Enabled, c.OTel.Endpoint = true, "grpc://localhost:4317" }, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"empty service name", func(c *config.Config) { c.OTel.Enabled, c.OTel.ServiceName = true, " " }, "OTEL_SERVICE_NAME"},
		{"ratio above one", func(c *config.Config) { c.OTel.SampleRatio = 1.5 }, "OTEL_TRACES_SAMPLER_ARG"},
		{"ratio NaN", func(c *config.Config) { c.OTel.SampleRatio = math.NaN() }, "OTEL_TRACES_SAMPLER_ARG"},
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
