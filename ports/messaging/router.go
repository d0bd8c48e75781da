package messaging

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/techradar/techradar/app"
)

// Transport is what the router needs of a pub/sub backend.
type Transport interface {
	Publisher() message.Publisher
	// Subscriber subscribes as consumerGroup; the router closes it.
	Subscriber(consumerGroup string) (message.Subscriber, error)
}

// RouterConfig is what the router needs besides the handlers.
type RouterConfig struct {
	Topics         Topics
	CloseTimeout   time.Duration
	HandlerTimeout time.Duration
	MaxRetries     int
	RetryBackoff   time.Duration
	// DependenciesUp reports whether the store and the cache answer. A message
	// that still fails while one of them is down is not the message's fault: it
	// goes back to the transport, to be delivered again, instead of the poison
	// topic.
	DependenciesUp func(ctx context.Context) bool
	// Metrics, when set, gets the handlers' execution times, as
	// techradar_handler_execution_time_seconds{handler_name, success}.
	Metrics prometheus.Registerer
	// Tracing, when set, runs every handler in a span.
	Tracing trace.TracerProvider
}

// metricsNamespace prefixes every series techradar exports.
const metricsNamespace = "techradar"

// unavailableBackoff is the pause before a message that failed while a
// dependency was down goes back to the transport; some transports redeliver at
// once.
const unavailableBackoff = time.Second

// Router runs the application's message handlers, each subscribed as its own
// consumer group.
type Router struct {
	router       *message.Router
	inFlight     *inFlightHandlers
	closeTimeout time.Duration
}

// NewRouter builds the router of every flow's handlers on application, which
// must hold the workers' use cases.
func NewRouter(cfg RouterConfig, transport Transport, application app.Application, logger watermill.LoggerAdapter) (*Router, error) {
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.CloseTimeout}, logger)
	if err != nil {
		return nil, err
	}
	r := &Router{router: router, inFlight: newInFlightHandlers(), closeTimeout: cfg.CloseTimeout}
	if err := r.addMiddleware(cfg, transport.Publisher(), logger); err != nil {
		return nil, err
	}
	if err := addPoisonRecorder(router, transport, cfg.Topics, application); err != nil {
		return nil, err
	}
	if err := addFlows(router, transport, cfg.Topics, application, logger); err != nil {
		return nil, err
	}
	return r, nil
}

// addMiddleware installs what every handler runs in. Outermost first. A
// message that still fails after its retries goes to the poison topic and is
// acknowledged, so it never blocks the ones behind it; one that cannot succeed
// (undecodable, invalid) goes there without retries.
func (r *Router) addMiddleware(cfg RouterConfig, publisher message.Publisher, logger watermill.LoggerAdapter) error {
	poison, err := middleware.PoisonQueueWithFilter(detachedPublisher{publisher}, cfg.Topics.Poison(), func(err error) bool {
		if isPermanent(err) {
			return true
		}
		if errors.Is(err, context.Canceled) {
			// The process is shutting down under the handler: the message goes
			// back to the transport for another worker, or for this one's restart.
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), unavailableBackoff)
		defer cancel()
		if !cfg.DependenciesUp(ctx) {
			<-ctx.Done()
			return false
		}
		return true
	})
	if err != nil {
		return err
	}
	r.router.AddMiddleware(
		r.inFlight.middleware,
		finishOnShutdown,
		correlationToContext,
		exceptFor(poisonRecorderName, poison),
		middleware.Retry{
			MaxRetries:      cfg.MaxRetries,
			InitialInterval: cfg.RetryBackoff,
			Multiplier:      2,
			MaxInterval:     5 * time.Second,
			// Each attempt gets the context the message came with: the timeout
			// middleware below cancels the one it made when an attempt ends.
			ResetContextOnRetry: true,
			Logger:              logger,
		}.Middleware,
		stopRetryingWhenPermanent,
		middleware.Timeout(cfg.HandlerTimeout),
		middleware.Recoverer,
	)
	if cfg.Metrics != nil {
		// Only Watermill's handler middleware, not the subscriber and publisher
		// decorators of AddPrometheusRouterMetrics: the subscriber decorator
		// hands messages on through a goroutine of its own, and a message in
		// that hand-over when the router closes can start its handler after
		// Router.Close has stopped waiting for handlers, so the handler runs
		// against a closed store.
		r.router.AddMiddleware(metrics.NewPrometheusMetricsBuilder(cfg.Metrics, metricsNamespace, "").NewRouterMiddleware().Middleware)
	}
	if cfg.Tracing != nil {
		r.router.AddMiddleware(traceHandler(cfg.Tracing.Tracer(tracerName)))
	}
	return nil
}

// Run runs the handlers until ctx is done or Close is called.
func (r *Router) Run(ctx context.Context) error { return r.router.Run(ctx) }

// Running is closed once every handler is subscribed.
func (r *Router) Running() chan struct{} { return r.router.Running() }

// Close stops the subscriptions and waits, up to the close timeout, for the
// handlers in flight: only then may the store and the publishers close. The
// library's wait and the wait for the handlers it no longer sees share the
// one close timeout.
func (r *Router) Close() error {
	began := time.Now()
	err := r.router.Close()
	if !r.inFlight.closeAndWait(r.closeTimeout - time.Since(began)) {
		err = errors.Join(err, fmt.Errorf("handlers still running after %s", r.closeTimeout))
	}
	return err
}

// flow is the handlers one flow adds to the router.
type flow struct {
	commandHandlers func(app.Application) []cqrs.CommandHandler
	eventHandlers   func(app.Application) []cqrs.EventHandler
}

// flows are techradar's flows, each in a file of its own.
var flows = []flow{techFlow, smsFlow}

// addFlows adapts the application's command and event handlers to the router,
// each with a guard that poisons messages of another kind arriving on its topic.
func addFlows(router *message.Router, transport Transport, topics Topics, application app.Application, logger watermill.LoggerAdapter) error {
	commands, err := cqrs.NewCommandProcessorWithConfig(router, cqrs.CommandProcessorConfig{
		GenerateSubscribeTopic: func(p cqrs.CommandProcessorGenerateSubscribeTopicParams) (string, error) {
			return topics.Command(p.CommandName), nil
		},
		SubscriberConstructor: func(p cqrs.CommandProcessorSubscriberConstructorParams) (message.Subscriber, error) {
			return transport.Subscriber(p.HandlerName)
		},
		Marshaler: marshaler,
		Logger:    logger,
	})
	if err != nil {
		return err
	}
	events, err := cqrs.NewEventProcessorWithConfig(router, cqrs.EventProcessorConfig{
		GenerateSubscribeTopic: func(p cqrs.EventProcessorGenerateSubscribeTopicParams) (string, error) {
			return topics.Event(p.EventName), nil
		},
		SubscriberConstructor: func(p cqrs.EventProcessorSubscriberConstructorParams) (message.Subscriber, error) {
			return transport.Subscriber(p.HandlerName)
		},
		Marshaler: marshaler,
		Logger:    logger,
	})
	if err != nil {
		return err
	}
	for _, f := range flows {
		for _, h := range f.commandHandlers(application) {
			added, err := commands.AddHandler(h)
			if err != nil {
				return err
			}
			added.AddMiddleware(requireMessageName(marshaler.Name(h.NewCommand())))
		}
		for _, h := range f.eventHandlers(application) {
			added, err := events.AddHandler(h)
			if err != nil {
				return err
			}
			added.AddMiddleware(requireMessageName(marshaler.Name(h.NewEvent())))
		}
	}
	return nil
}

// plain adapts an application handler, which takes its command by value, to the
// pointer Watermill decodes into.
func plain[C any](handle func(context.Context, C) error) func(context.Context, *C) error {
	return func(ctx context.Context, cmd *C) error {
		if cmd == nil {
			return fmt.Errorf("nil %T", cmd)
		}
		return handle(ctx, *cmd)
	}
}
