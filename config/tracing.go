package config

import (
	"net/url"
	"strings"
)

// validateTracingSettings checks the OpenTelemetry settings. The endpoint is
// checked only when tracing is on: its default is harmless when it is off.
func (c Config) validateTracingSettings(bad func(variable string, format string, args ...any)) {
	if !(c.OTelSampleRatio >= 0 && c.OTelSampleRatio <= 1) {
		bad("OTEL_TRACES_SAMPLER_ARG", "must be between 0 and 1, got %v", c.OTelSampleRatio)
	}
	if !c.OTelEnabled {
		return
	}
	u, err := url.Parse(c.OTelEndpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("OTEL_EXPORTER_OTLP_ENDPOINT", "%q must be an http:// or https:// URL of an OTLP/HTTP collector, e.g. http://localhost:4318", c.OTelEndpoint)
	}
	if strings.TrimSpace(c.OTelServiceName) == "" {
		bad("OTEL_SERVICE_NAME", "is empty, but OTEL_ENABLED=true needs a service name")
	}
}
