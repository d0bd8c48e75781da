package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/techradar/techradar/adapters/ratelimit"
	"github.com/techradar/techradar/app/limit"
	"github.com/techradar/techradar/internal/telemetry"
	"github.com/techradar/techradar/ports/httpapi"
)

// accessControl builds the API's CORS, trusted proxies and limiters. The
// limiters count in Redis when one is configured, so that every process
// spends one budget, and in the process otherwise.
func (s *Service) accessControl() (httpapi.AccessControl, error) {
	cfg := s.cfg.Limits
	a := httpapi.AccessControl{AllowedOrigins: cfg.CORSAllowedOrigins, TrustedProxies: cfg.TrustedProxyNets()}
	requests, perNumber := cfg.Requests(), cfg.SMSPerNumber()
	if requests.IsZero() && perNumber.IsZero() {
		return a, nil
	}

	newMemory := func(r limit.Rate, _ string) (limit.Limiter, error) {
		return ratelimit.NewMemory(r, ratelimit.DefaultMaxKeys)
	}
	newLimiter, newFallback := newMemory, func(limit.Rate, string) (limit.Limiter, error) { return nil, nil }
	if s.cfg.Redis.Addr != "" {
		// A client of its own with no retries, whose reads and writes time
		// out with the limiter's wait and with the request's context: a
		// limiter that does not answer within httpapi.LimiterTimeout hands
		// the request to the process's own limiter (see httpapi.AccessControl),
		// and must not hold it longer.
		options := redisOptions(s.cfg.Redis)
		options.MaxRetries = -1
		options.ContextTimeoutEnabled = true
		options.ReadTimeout, options.WriteTimeout = httpapi.LimiterTimeout, httpapi.LimiterTimeout
		client := redis.NewClient(options)
		s.closers = append(s.closers, client.Close)
		newLimiter = func(r limit.Rate, name string) (limit.Limiter, error) {
			return ratelimit.NewRedis(client, r, s.cfg.TopicPrefix+":ratelimit:"+name+":")
		}
		newFallback = newMemory
	}
	var err error
	if !requests.IsZero() {
		if a.Requests, err = newLimiter(requests, "requests"); err != nil {
			return a, fmt.Errorf("RATE_LIMIT: %w", err)
		}
		if a.RequestsFallback, err = newFallback(requests, "requests"); err != nil {
			return a, fmt.Errorf("RATE_LIMIT: %w", err)
		}
	}
	if !perNumber.IsZero() {
		if a.SMSPerNumber, err = newLimiter(perNumber, "sms-number"); err != nil {
			return a, fmt.Errorf("SMS_NUMBER_LIMIT: %w", err)
		}
		if a.SMSPerNumberFallback, err = newFallback(perNumber, "sms-number"); err != nil {
			return a, fmt.Errorf("SMS_NUMBER_LIMIT: %w", err)
		}
	}
	return a, nil
}

// adminListener serves /metrics and the profiles on ADMIN_ADDR, apart from
// the API, so that operators reach them without a key and the public never.
type adminListener struct {
	server   *http.Server
	listener net.Listener
}

// startAdmin opens ADMIN_ADDR, if set.
func (s *Service) startAdmin() error {
	if s.cfg.Limits.AdminAddr == "" {
		return nil
	}
	listener, err := net.Listen("tcp", s.cfg.Limits.AdminAddr)
	if err != nil {
		return fmt.Errorf("ADMIN_ADDR: %w", err)
	}
	s.admin = adminListener{
		server:   &http.Server{Handler: telemetry.AdminHandler(s.metrics), ReadHeaderTimeout: 10 * time.Second},
		listener: listener,
	}
	server := s.admin.server
	go func() {
		if err := server.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("admin listener stopped", slog.Any("error", err))
		}
	}()
	s.logger.Info("admin listener started", slog.String("admin_addr", listener.Addr().String()))
	s.warnIfAdminOpen(listener.Addr())
	return nil
}

// stopAdmin waits HTTP_SHUTDOWN_TIMEOUT for the admin requests in flight (a
// CPU profile takes as long as it was asked to), then closes their connections.
func (s *Service) stopAdmin() error {
	if s.admin.server == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := s.admin.server.Shutdown(ctx); err != nil {
		s.logger.Warn("shutdown cut short", slog.String("step", "admin requests in flight"), slog.Any("error", err))
		return errors.Join(fmt.Errorf("admin listener shutdown: %w", err), s.admin.server.Close())
	}
	return nil
}

// AdminAddr is the address of the admin listener, once started; "" when
// ADMIN_ADDR is not set.
func (s *Service) AdminAddr() string {
	if s.admin.listener == nil {
		return ""
	}
	return s.admin.listener.Addr().String()
}

// stopHTTPAndAdmin stops both listeners at once, so that the shutdown still
// takes at most HTTP_SHUTDOWN_TIMEOUT for them.
func (s *Service) stopHTTPAndAdmin() error {
	adminStopped := make(chan error, 1)
	go func() { adminStopped <- s.stopAdmin() }()
	err := s.stopHTTP()
	return errors.Join(err, <-adminStopped)
}
