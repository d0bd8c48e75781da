// Package service wires techradar together: it builds the adapters the
// configuration names, the application on top of them, the Watermill router and
// the HTTP server, and runs and stops them in the right order.
package service

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/trace"

	"github.com/techradar/techradar/adapters/cache"
	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/adapters/transport"
	"github.com/techradar/techradar/app"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/event"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/domain/tech"
	"github.com/techradar/techradar/internal/mysqldb"
	"github.com/techradar/techradar/ports/httpapi"
)

// Service is one techradar process in one role.
type Service struct {
	cfg    config.Config
	role   config.Role
	logger *slog.Logger

	store     *sqlstore.Store
	transport transport.Transport
	router    *message.Router
	http      *http.Server
	listener  net.Listener
	metrics   *prometheus.Registry
	tracing   trace.TracerProvider

	// closers release what New opened, last opened first.
	closers []func() error

	runCtx      context.Context
	cancelRun   context.CancelFunc
	cancelRelay context.CancelFunc
	relayDone   chan struct{}
	routerErr   chan error
	httpErr     chan error
	inFlight    *inFlightHandlers
	closeOnce   sync.Once
	closeErr    error
}

// New builds the service; nothing runs until Start. cfg must have passed
// Validate for role.
func New(ctx context.Context, cfg config.Config, role config.Role, logger *slog.Logger, opts ...Option) (*Service, error) {
	s := &Service{cfg: cfg, role: role, logger: logger, routerErr: make(chan error, 1), httpErr: make(chan error, 1), inFlight: newInFlightHandlers()}
	for _, opt := range opts {
		opt(s)
	}
	if err := s.build(ctx); err != nil {
		return nil, errors.Join(err, s.closeAll())
	}
	return s, nil
}

func (s *Service) build(ctx context.Context) error {
	cfg, role, logger := s.cfg, s.role, s.logger
	topics := topics{prefix: cfg.TopicPrefix}

	wmLogger := newWatermillLogger(logger.With(slog.String("component", "watermill")))
	var checks []httpapi.DependencyCheck
	s.metrics = newMetricsRegistry()
	if err := s.setUpTracing(ctx); err != nil {
		return err
	}

	policy, err := tech.NewThresholdPolicy(cfg.Priority.MediumAt, cfg.Priority.HighAt)
	if err != nil {
		return err
	}

	if s.store, err = s.openStore(ctx); err != nil {
		return err
	}
	// Every flow writes its events through the same bus configuration.
	newEventBus := newEventBusFactory(topics, wmLogger)
	techs, err := sqlstore.NewTechRepository(s.store, newEventBus)
	if err != nil {
		return err
	}
	sms, err := newSMSFlow(s.store, newEventBus, cfg)
	if err != nil {
		return err
	}
	checks = append(checks, httpapi.DependencyCheck{Name: "store (" + cfg.Store + ")", Check: s.store.Ping})
	if err := registerPoisonGauge(s.metrics, s.store); err != nil {
		return err
	}

	if s.transport, err = NewTransport(cfg, wmLogger); err != nil {
		return err
	}
	s.closers = append(s.closers, s.transport.Close)
	checks = append(checks, httpapi.DependencyCheck{Name: "transport (" + cfg.Transport + ")", Check: s.transport.Ping})

	cache, err := s.openCache()
	if err != nil {
		return err
	}
	if cache, err = newMeteredCache(cache, s.metrics); err != nil {
		return err
	}
	checks = append(checks, httpapi.DependencyCheck{Name: "cache (" + cfg.Cache + ")", Check: cache.Ping})

	commandBus, err := newCommandBus(s.transport.Publisher(), topics, wmLogger)
	if err != nil {
		return err
	}
	application := newApplication(s.store, techs, sms, cache, commandBus, policy, role, logger)

	if role.RunsWorkers() {
		s.router, err = newRouter(routerConfig{
			closeTimeout:   cfg.Handlers.CloseTimeout,
			handlerTimeout: cfg.Handlers.Timeout,
			maxRetries:     cfg.Handlers.MaxRetries,
			retryBackoff:   cfg.Handlers.RetryBackoff,
			poison:         s.transport.Publisher(),
			poisonTopic:    topics.poison(),
			inFlight:       s.inFlight,
			dependenciesUp: func(ctx context.Context) bool { return s.store.Ping(ctx) == nil && cache.Ping(ctx) == nil },
		}, wmLogger)
		if err != nil {
			return err
		}
		addRouterMetrics(s.router, s.metrics)
		addRouterTracing(s.router, s.tracing)
		if err := addPoisonRecorder(s.router, s.transport, poisonRecorder{store: s.store, topics: topics, logger: logger}); err != nil {
			return err
		}
		if err := addCommandHandlers(s.router, s.transport, topics, application, wmLogger); err != nil {
			return err
		}
		if err := addEventHandlers(s.router, s.transport, topics, application, wmLogger); err != nil {
			return err
		}
	}

	s.http = &http.Server{
		Handler:           httpapi.NewHTTPHandler(application, checks, logger, httpapi.WithMetrics(s.metrics), httpapi.WithTracing(s.tracing, tracePropagator)),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	return nil
}

// newApplication builds the use cases the role runs; the others stay nil.
func newApplication(
	store *sqlstore.Store,
	techs *sqlstore.TechRepository,
	sms smsFlow,
	cache readModelCache,
	bus command.CommandBus,
	policy tech.PriorityPolicy,
	role config.Role,
	logger *slog.Logger,
) app.Application {
	var a app.Application
	if role.RunsAPI() {
		a.Commands.SubmitCreateTech = command.NewSubmitCreateTechHandler(store, bus, nil, logger)
		a.Queries.ListTechs, a.Queries.TechByID = query.NewTechQueries(techs, cache, logger)
		a.Queries.CommandStatus = query.NewCommandStatusHandler(store, logger)
		a.Commands.SubmitSendSMS = command.NewSubmitSendSMSHandler(sms.messages, bus, nil, logger)
		a.Queries.SMSStatus = query.NewSMSStatusHandler(sms.messages, logger)
	}
	if role.RunsWorkers() {
		a.Commands.CreateTech = command.NewCreateTechHandler(techs, store, policy, nil, logger)
		a.Events.InvalidateTechReadModel = event.NewInvalidateTechReadModel(cache)
		a.Commands.SendSMS = command.NewSendSMSHandler(sms.messages, sms.provider, sms.config, nil, logger)
	}
	return a
}

type readModelCache interface {
	query.ReadModelCache
	Ping(ctx context.Context) error
}

func (s *Service) openStore(ctx context.Context) (*sqlstore.Store, error) {
	switch s.cfg.Store {
	case config.StoreSQLite:
		store, err := sqlstore.OpenSQLite(ctx, s.cfg.SQLite.Path)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, store.Close)
		return store, nil
	case config.StoreMySQL:
		db, err := s.mysql()
		if err != nil {
			return nil, err
		}
		return sqlstore.NewMySQL(ctx, db)
	default:
		return nil, fmt.Errorf("STORE: unknown store %q", s.cfg.Store)
	}
}

func (s *Service) mysql() (*sql.DB, error) {
	db, err := mysqldb.Open(s.cfg.MySQL.DSN, mysqldb.PoolConfig{
		MaxOpenConns:    s.cfg.MySQL.MaxOpenConns,
		MaxIdleConns:    s.cfg.MySQL.MaxOpenConns,
		ConnMaxLifetime: 5 * time.Minute,
	})
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, db.Close)
	return db, nil
}

func (s *Service) openCache() (readModelCache, error) {
	switch s.cfg.Cache {
	case config.CacheMemory:
		return cache.NewMemory(0), nil
	case config.CacheRedis:
		client := redis.NewClient(redisOptions(s.cfg.Redis))
		s.closers = append(s.closers, client.Close)
		return cache.NewRedis(client, s.cfg.RedisCache)
	default:
		return nil, fmt.Errorf("CACHE: %q is not available in this build", s.cfg.Cache)
	}
}

// Start runs the message handlers and the outbox relay, then opens the HTTP
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

		var relayCtx context.Context
		relayCtx, s.cancelRelay = context.WithCancel(s.runCtx)
		s.relayDone = make(chan struct{})
		go func() {
			defer close(s.relayDone)
			_ = s.store.RelayOutbox(relayCtx, s.transport.Publisher(), sqlstore.OutboxRelayConfig{PollInterval: s.cfg.Outbox.PollInterval}, s.logger)
		}()
	}

	if err := s.startPprof(); err != nil {
		return fmt.Errorf("PPROF_ADDR: %w", err)
	}
	listener, err := net.Listen("tcp", s.cfg.HTTP.Addr)
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
// those in flight, stops the outbox relay (what it has not relayed stays in the
// outbox for the next start), lets the router finish the messages in flight,
// and closes the publishers and the store last.
func (s *Service) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.listener != nil {
			ctx, cancel := context.WithTimeout(context.Background(), s.cfg.HTTP.ShutdownTimeout)
			if err := s.http.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("HTTP shutdown: %w", err))
			}
			cancel()
		}
		if s.relayDone != nil {
			s.cancelRelay()
			<-s.relayDone
		}
		if s.router != nil {
			if err := s.router.Close(); err != nil {
				errs = append(errs, fmt.Errorf("router close: %w", err))
			}
			if !s.inFlight.closeAndWait(s.cfg.Handlers.CloseTimeout) {
				errs = append(errs, fmt.Errorf("handlers still running after %s", s.cfg.Handlers.CloseTimeout))
			}
		}
		if s.cancelRun != nil {
			s.cancelRun()
		}
		errs = append(errs, s.closeAll())
		s.closeErr = errors.Join(errs...)
		if s.closeErr == nil {
			s.logger.Info("techradar stopped")
		}
	})
	return s.closeErr
}

func (s *Service) closeAll() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	s.closers = nil
	return errors.Join(errs...)
}
