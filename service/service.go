// Package service wires techradar together: it builds the adapters the
// configuration names, the application on top of them, and the ports that
// drive it (the HTTP server and the message router), and runs and stops them
// in the right order. It holds no logic of its own.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/techradar/techradar/adapters/cache"
	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/adapters/transport"
	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/internal/telemetry"
	"github.com/techradar/techradar/internal/tracecontext"
	"github.com/techradar/techradar/ports/httpapi"
	"github.com/techradar/techradar/ports/messaging"
)

// Service is one techradar process in one role.
type Service struct {
	cfg    config.Config
	role   config.Role
	logger *slog.Logger

	store *sqlstore.DB
	// workers are the loops the worker role runs beside the router: the
	// outbox relay, and the maintenance every worker runs safely at once.
	workers   []backgroundWorker
	transport transport.Transport
	router    *messaging.Router
	http      *http.Server
	listener  net.Listener
	admin     adminListener
	metrics   *prometheus.Registry
	tracing   trace.TracerProvider
	// commandPublisher, when set, is what the commands are sent with: see
	// newCommandPublisher.
	commandPublisher *transport.BatchingPublisher

	// closers release what New opened, last opened first.
	closers closers

	runCtx         context.Context
	cancelRun      context.CancelFunc
	cancelWorkers  context.CancelFunc
	workersRunning runningWorkers
	routerErr      chan error
	httpErr        chan error
	transportClose sync.Once
	closeOnce      sync.Once
	closeErr       error
}

// New builds the service; nothing runs until Start. cfg must have passed
// Validate for role.
func New(ctx context.Context, cfg config.Config, role config.Role, logger *slog.Logger, opts ...Option) (*Service, error) {
	s := &Service{cfg: cfg, role: role, logger: logger, routerErr: make(chan error, 1), httpErr: make(chan error, 1)}
	for _, opt := range opts {
		opt(s)
	}
	if err := s.build(ctx); err != nil {
		return nil, errors.Join(err, s.closeAll())
	}
	return s, nil
}

func (s *Service) build(ctx context.Context) error {
	cfg := s.cfg
	s.metrics = telemetry.NewRegistry()
	if err := s.setUpTracing(ctx); err != nil {
		return err
	}
	b, err := s.buildBackends(ctx)
	if err != nil {
		return err
	}
	s.store = b.db
	if err := telemetry.RegisterPoisonGauge(s.metrics, b.poison); err != nil {
		return err
	}
	if b.cache, err = cache.NewMetered(b.cache, s.metrics); err != nil {
		return err
	}
	application := newApplication(b, s.role, s.logger)

	if s.role.RunsWorkers() {
		s.router, err = messaging.NewRouter(messaging.RouterConfig{
			Topics:         b.topics,
			CloseTimeout:   cfg.Handlers.CloseTimeout,
			HandlerTimeout: cfg.Handlers.Timeout,
			MaxRetries:     cfg.Handlers.MaxRetries,
			RetryBackoff:   cfg.Handlers.RetryBackoff,
			DependenciesUp: func(ctx context.Context) bool { return s.store.Ping(ctx) == nil && b.cache.Ping(ctx) == nil },
			Metrics:        s.metrics,
			Tracing:        s.tracing,
		}, s.transport, application, b.wmLogger)
		if err != nil {
			return err
		}
		relayConfig := cfg.Outbox
		// Where the relay's publish runs the event handlers, one after the
		// other, and each waits for Redis: measured, embedded+redis hot50
		// went from 2,168–2,528 to 2,932–2,991 commands/s. With the memory
		// cache the handlers wait for nothing, and running them side by side
		// cost 35–45 µs more a command.
		relayConfig.PublishEachAlone = deliversBeforeSendReturns(s.transport) && cfg.Cache == config.CacheRedis
		relay, err := sqlstore.NewOutboxRelay(b.db, b.outbox, s.transport.Publisher(), relayConfig, s.logger)
		if err != nil {
			return err
		}
		s.workers = append(s.workers, backgroundWorker{name: "outbox relay", run: relay.Run})
		resender, err := newCommandResender(b.db, s.commandsPublisher(), cfg.Resend, s.metrics, s.logger)
		if err != nil {
			return err
		}
		s.workers = append(s.workers, backgroundWorker{name: "command resender", run: resender.Run})
		maintenance, err := maintenanceWorkers(b.db, s.transport, cfg.Retention, s.metrics, s.logger)
		if err != nil {
			return err
		}
		s.workers = append(s.workers, maintenance...)
		s.workers = append(s.workers, rerankWorker(b.techs, s.logger))
	}

	checks := []httpapi.DependencyCheck{
		{Name: "store (" + cfg.Store + ")", Check: s.store.Ping},
		{Name: "transport (" + cfg.Transport + ")", Check: s.transport.Ping},
		{Name: "cache (" + cfg.Cache + ")", Check: b.cache.Ping},
	}
	httpOptions, err := s.accessOptions(b.db)
	if err != nil {
		return err
	}
	access, err := s.accessControl()
	if err != nil {
		return err
	}
	s.http = &http.Server{
		Handler:           httpapi.NewHTTPHandler(application, checks, s.logger, append(httpOptions, httpapi.WithMetrics(s.metrics), httpapi.WithTracing(s.tracing, tracecontext.Propagator), httpapi.WithAccessControl(access))...),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	return nil
}

// backgroundWorker is a loop that runs until its context is done.
type backgroundWorker struct {
	name string
	run  func(ctx context.Context) error
}

// Start runs the message handlers and the background workers, then opens the HTTP
// listener; it returns once all of them are serving. The handlers run first so
// that nothing is published before its subscribers exist.
func (s *Service) Start(ctx context.Context) error {
	s.runCtx, s.cancelRun = context.WithCancel(context.WithoutCancel(ctx))

	if s.router != nil {
		go func() { s.routerErr <- s.router.Run(s.runCtx) }()
		select {
		case <-s.router.Running():
		case err := <-s.routerErr:
			return fmt.Errorf("message router: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}

		var workersCtx context.Context
		workersCtx, s.cancelWorkers = context.WithCancel(s.runCtx)
		for _, w := range s.workers {
			s.workersRunning.start(w.name, func() {
				if err := w.run(workersCtx); err != nil {
					s.logger.Error("background worker stopped", slog.String("worker", w.name), slog.Any("error", err))
				}
			})
		}
	}

	stopPprof, err := telemetry.StartPprof(s.cfg.Pprof.Addr, s.logger)
	if err != nil {
		return fmt.Errorf("PPROF_ADDR: %w", err)
	}
	s.closers = append(s.closers, stopPprof)
	if err := s.startAdmin(); err != nil {
		return err
	}
	listener, err := net.Listen("tcp", s.cfg.HTTPAddr(s.role))
	if err != nil {
		return fmt.Errorf("HTTP_ADDR: %w", err)
	}
	s.listener = listener
	go func() {
		if err := s.http.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.httpErr <- err
		}
	}()
	s.logger.Info("techradar started", slog.String("role", string(s.role)), slog.String("http_addr", listener.Addr().String()),
		slog.String("transport", s.cfg.Transport), slog.String("store", s.cfg.Store), slog.String("cache", s.cfg.Cache))
	s.warnIfOpenToAll(listener.Addr())
	return nil
}

// HTTPAddr is the address the HTTP server listens on, once started.
func (s *Service) HTTPAddr() string {
	if s.listener == nil {
		return ""
	}
	return s.listener.Addr().String()
}

// Publisher publishes on the service's transport: for tools and tests that put
// messages on its topics from the inside, where the transport is in-process.
func (s *Service) Publisher() message.Publisher { return s.transport.Publisher() }

// Failed delivers an error if the router or the HTTP server stops on its own.
func (s *Service) Failed() <-chan error {
	failed := make(chan error, 1)
	go func() {
		select {
		case err := <-s.routerErr:
			failed <- fmt.Errorf("message router stopped: %w", err)
		case err := <-s.httpErr:
			failed <- fmt.Errorf("HTTP server stopped: %w", err)
		}
	}()
	return failed
}

// Close stops the service gracefully: it stops accepting requests and waits for
// those in flight, stops the background workers (what the outbox relay has not relayed stays in the
// outbox for the next start), lets the router finish the messages in flight,
// and closes the publishers and the store last.
//
// The whole of it takes at most HTTP_SHUTDOWN_TIMEOUT + HANDLER_CLOSE_TIMEOUT,
// whatever dependency is down or hangs: each wait has its deadline, and what
// is cut short is logged and reported in the error. Nothing accepted is lost
// by it; what was unfinished is durable and taken up at the next start.
func (s *Service) Close() error {
	s.closeOnce.Do(func() {
		began := time.Now()
		handlerClose := s.cfg.Handlers.CloseTimeout
		deadline := began.Add(s.cfg.HTTP.ShutdownTimeout + handlerClose)

		errs := []error{s.stopHTTPAndAdmin()}
		routerDeadline := time.Now().Add(handlerClose - closersReserve(handlerClose))
		errs = append(errs, s.stopHandlers(routerDeadline, deadline))
		if s.cancelRun != nil {
			s.cancelRun()
		}
		errs = append(errs, s.finishBy(deadline, "closing the store and the clients", s.closeAll))
		s.closeErr = errors.Join(errs...)
		if s.closeErr != nil {
			s.logger.Warn("techradar stopped; the shutdown was cut short", slog.Duration("took", time.Since(began)), slog.Any("error", s.closeErr))
			return
		}
		s.logger.Info("techradar stopped", slog.Duration("took", time.Since(began)))
	})
	return s.closeErr
}

func (s *Service) closeAll() error { return s.closers.closeAll() }

// closers release what was opened, last opened first.
type closers []func() error

func (c *closers) closeAll() error {
	var errs []error
	for i := len(*c) - 1; i >= 0; i-- {
		if err := (*c)[i](); err != nil {
			errs = append(errs, err)
		}
	}
	*c = nil
	return errors.Join(errs...)
}
