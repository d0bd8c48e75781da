package config

import (
	"net/url"
	"strings"

	"github.com/techradar/techradar/internal/settings"
)

// OTelConfig is the OpenTelemetry tracing's, under the variables the
// OpenTelemetry SDKs read.
type OTelConfig struct {
	Enabled     bool    `name:"enabled" env:"ENABLED" default:"false" help:"Export OpenTelemetry traces of HTTP requests, commands and events over OTLP/HTTP. Off (the default), no tracing code runs."`
	Endpoint    string  `name:"exporter-otlp-endpoint" env:"EXPORTER_OTLP_ENDPOINT" default:"http://localhost:4318" help:"Base URL of the OTLP/HTTP collector; spans go to its /v1/traces (OTEL_ENABLED=true)."`
	ServiceName string  `name:"service-name" env:"SERVICE_NAME" default:"techradar" help:"service.name of the exported spans (OTEL_ENABLED=true)."`
	SampleRatio float64 `name:"traces-sampler-arg" env:"TRACES_SAMPLER_ARG" default:"1" help:"Fraction of new traces recorded, from 0 to 1; a request that arrives traced keeps its caller's decision (OTEL_ENABLED=true)."`
}

// Check reports every setting out of range, naming its variable. The endpoint
// is checked only when tracing is on: its default is harmless when it is off.
func (c OTelConfig) Check() error {
	var p settings.Problems
	if !(c.SampleRatio >= 0 && c.SampleRatio <= 1) {
		p.Add("OTEL_TRACES_SAMPLER_ARG", "must be between 0 and 1, got %v", c.SampleRatio)
	}
	if !c.Enabled {
		return p.Err()
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.Add("OTEL_EXPORTER_OTLP_ENDPOINT", "%q must be an http:// or https:// URL of an OTLP/HTTP collector, e.g. http://localhost:4318", c.Endpoint)
	}
	if strings.TrimSpace(c.ServiceName) == "" {
		p.Add("OTEL_SERVICE_NAME", "is empty, but OTEL_ENABLED=true needs a service name")
	}
	return p.Err()
}
