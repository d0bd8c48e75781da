// Package tracecontext is the one way techradar carries a trace across a
// process boundary, in HTTP headers and in message metadata alike.
package tracecontext

import "go.opentelemetry.io/otel/propagation"

// Propagator writes and reads W3C Trace Context and Baggage, which every
// OpenTelemetry SDK reads.
var Propagator propagation.TextMapPropagator = propagation.NewCompositeTextMapPropagator(
	propagation.TraceContext{}, propagation.Baggage{},
)
