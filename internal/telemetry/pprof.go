package telemetry

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// StartPprof serves Go's profiles on a listener of their own, apart from the
// API, so that profiling is a deliberate choice of address (PPROF_ADDR);
// stop closes it; without an address nothing runs and stop does nothing.
func StartPprof(addr string, logger *slog.Logger) (stop func() error, err error) {
	if addr == "" {
		return func() error { return nil }, nil
	}
	mux := http.NewServeMux()
	HandlePprof(mux)
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("pprof listener stopped", slog.Any("error", err))
		}
	}()
	logger.Info("profiles served", slog.String("pprof_addr", listener.Addr().String()))
	return server.Close, nil
}

// HandlePprof serves Go's profiles under /debug/pprof/ on mux.
func HandlePprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}
