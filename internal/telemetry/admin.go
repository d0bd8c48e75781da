package telemetry

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AdminHandler is what the operators' listener (ADMIN_ADDR) serves: the
// metrics of registry at /metrics and Go's profiles under /debug/pprof/.
func AdminHandler(registry *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{
		// One failing collector must not hide every other series.
		ErrorHandling:     promhttp.ContinueOnError,
		Registry:          registry,
		EnableOpenMetrics: true,
	}))
	HandlePprof(mux)
	return mux
}
