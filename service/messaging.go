package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/cenkalti/backoff/v5"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/adapters/transport"
	"github.com/techradar/techradar/app"
	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/domain/tech"
	"github.com/techradar/techradar/internal/correlation"
)

// Handler names are consumer-group names on every durable transport: renaming
// one starts a new group that reads its topic from the oldest message kept.
const (
	createTechHandlerName                  = "techradar.create-tech"
	invalidateReadModelOnTechCreatedName   = "techradar.invalidate-tech-read-model.on-tech-created"
	invalidateReadModelOnTechMentionedName = "techradar.invalidate-tech-read-model.on-tech-mentioned"
)

// marshaler names commands and events by their Go type name, without the
// package: moving a type between packages does not change its wire name.
var marshaler = strictJSONMarshaler{cqrs.JSONMarshaler{GenerateName: cqrs.StructName}}

// strictJSONMarshaler marks every decoding failure as such, whatever part of
// the payload it came from (a field's own UnmarshalJSON returns errors of any
// type), so that an undecodable message is poisoned without retries.
type strictJSONMarshaler struct {
	cqrs.JSONMarshaler
}

func (m strictJSONMarshaler) Unmarshal(msg *message.Message, v any) error {
	if err := m.JSONMarshaler.Unmarshal(msg, v); err != nil {
		return &undecodableMessageError{err: err}
	}
	return nil
}

// undecodableMessageError is a payload that does not decode into its type.
type undecodableMessageError struct {
	err error
}

func (e *undecodableMessageError) Error() string { return "undecodable message: " + e.err.Error() }

func (e *undecodableMessageError) Unwrap() error { return e.err }

// topics names the topics of one deployment: TOPIC_PREFIX keeps deployments
// that share a broker apart.
type topics struct {
	prefix string
}

func (t topics) command(commandName string) string { return t.prefix + ".commands." + commandName }

func (t topics) event(eventName string) string { return t.prefix + ".events." + eventName }

func (t topics) poison() string { return t.prefix + ".poison" }

func newCommandBus(publisher message.Publisher, topics topics, logger watermill.LoggerAdapter) (*cqrs.CommandBus, error) {
	return cqrs.NewCommandBusWithConfig(publisher, cqrs.CommandBusConfig{
		GeneratePublishTopic: func(p cqrs.CommandBusGeneratePublishTopicParams) (string, error) {
			return topics.command(p.CommandName), nil
		},
		OnSend: func(p cqrs.CommandBusOnSendParams) error {
			middleware.SetCorrelationID(correlation.ID(p.Message.Context()), p.Message)
			injectTraceContext(p.Message)
			return nil
		},
		Marshaler: marshaler,
		Logger:    logger,
	})
}

// eventBusConfig is shared by the buses that write events into the outbox, so
// that the relayed messages are the ones a direct publish would have made.
func eventBusConfig(topics topics, logger watermill.LoggerAdapter) cqrs.EventBusConfig {
	return cqrs.EventBusConfig{
		GeneratePublishTopic: func(p cqrs.GenerateEventPublishTopicParams) (string, error) {
			return topics.event(p.EventName), nil
		},
		// The router's correlation middleware only reaches messages a handler
		// returns; events published through the bus take the id of the command
		// being handled here.
		OnPublish: func(p cqrs.OnEventSendParams) error {
			id := correlation.ID(p.Message.Context())
			if original := cqrs.OriginalMessageFromCtx(p.Message.Context()); original != nil && id == "" {
				id = middleware.MessageCorrelationID(original)
			}
			middleware.SetCorrelationID(id, p.Message)
			injectTraceContext(p.Message)
			return nil
		},
		Marshaler: marshaler,
		Logger:    logger,
	}
}

func newEventBusFactory(topics topics, logger watermill.LoggerAdapter) sqlstore.EventBusFactory {
	config := eventBusConfig(topics, logger)
	return func(publisher message.Publisher) (command.EventPublisher, error) {
		return cqrs.NewEventBusWithConfig(publisher, config)
	}
}

// routerConfig is what the router needs besides the handlers.
type routerConfig struct {
	closeTimeout   time.Duration
	handlerTimeout time.Duration
	maxRetries     int
	retryBackoff   time.Duration
	poison         message.Publisher
	poisonTopic    string
	// dependenciesUp reports whether the store and the cache answer. A message
	// that still fails while one of them is down is not the message's fault: it
	// goes back to the transport, to be delivered again, instead of the poison
	// topic.
	dependenciesUp func(ctx context.Context) bool
	// inFlight counts the handlers running, for the shutdown to wait on.
	inFlight *inFlightHandlers
}

// unavailableBackoff is the pause before a message that failed while a
// dependency was down goes back to the transport; some transports redeliver at
// once.
const unavailableBackoff = time.Second

func newRouter(cfg routerConfig, logger watermill.LoggerAdapter) (*message.Router, error) {
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.closeTimeout}, logger)
	if err != nil {
		return nil, err
	}
	poison, err := middleware.PoisonQueueWithFilter(detachedPublisher{cfg.poison}, cfg.poisonTopic, func(err error) bool {
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
		if !cfg.dependenciesUp(ctx) {
			<-ctx.Done()
			return false
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	// Outermost first. A message that still fails after its retries goes to the
	// poison topic and is acknowledged, so it never blocks the ones behind it;
	// one that cannot succeed (undecodable, invalid) goes there without retries.
	router.AddMiddleware(
		cfg.inFlight.middleware,
		finishOnShutdown,
		correlationToContext,
		exceptFor(poisonRecorderName, poison),
		middleware.Retry{
			MaxRetries:      cfg.maxRetries,
			InitialInterval: cfg.retryBackoff,
			Multiplier:      2,
			MaxInterval:     5 * time.Second,
			// Each attempt gets the context the message came with: the timeout
			// middleware below cancels the one it made when an attempt ends.
			ResetContextOnRetry: true,
			Logger:              logger,
		}.Middleware,
		stopRetryingWhenPermanent,
		middleware.Timeout(cfg.handlerTimeout),
		middleware.Recoverer,
	)
	return router, nil
}

// detachedPublisher publishes messages with their context detached from
// cancellation. The poison middleware publishes the very message the handler
// got, whose context the timeout middleware has cancelled by then; some
// transports would refuse to publish with it.
type detachedPublisher struct {
	message.Publisher
}

func (p detachedPublisher) Publish(topic string, messages ...*message.Message) error {
	for _, msg := range messages {
		msg.SetContext(context.WithoutCancel(msg.Context()))
	}
	return p.Publisher.Publish(topic, messages...)
}

// stopRetryingWhenPermanent marks the failures no retry can mend so that the
// retry middleware gives up at once. (Retry's ShouldRetry would do the same,
// but asking it advances the backoff, which then grows twice as fast.)
func stopRetryingWhenPermanent(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		produced, err := h(msg)
		if err != nil && isPermanent(err) {
			return produced, backoff.Permanent(err)
		}
		return produced, err
	}
}

// isPermanent tells the failures that no retry can mend: a message that does
// not decode, is not what its topic carries, or breaks a rule.
func isPermanent(err error) bool {
	var (
		undecodableErr *undecodableMessageError
		unexpectedErr  *unexpectedMessageError
	)
	return errors.As(err, &undecodableErr) || errors.As(err, &unexpectedErr) || apperr.CodeOf(err) == apperr.Invalid
}

// unexpectedMessageError is a message on a topic that carries another kind.
type unexpectedMessageError struct {
	got, want string
}

func (e *unexpectedMessageError) Error() string {
	return fmt.Sprintf("message named %q on a topic of %q", e.got, e.want)
}

// requireMessageName refuses messages not named want. Watermill's CQRS
// processors acknowledge such messages silently; refusing them sends them to
// the poison topic, where an operator sees them.
func requireMessageName(want string) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			if got := marshaler.NameFromMessage(msg); got != want {
				return nil, &unexpectedMessageError{got: got, want: want}
			}
			return h(msg)
		}
	}
}

// exceptFor applies mw to every handler but the one named skip.
func exceptFor(skip string, mw message.HandlerMiddleware) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		wrapped := mw(h)
		return func(msg *message.Message) ([]*message.Message, error) {
			if message.HandlerNameFromCtx(msg.Context()) == skip {
				return h(msg)
			}
			return wrapped(msg)
		}
	}
}

// finishOnShutdown detaches the handler from the cancellation of the message's
// context, which some subscribers cancel when they close: a shutdown lets the
// handlers in flight finish (the router waits for them, HANDLER_CLOSE_TIMEOUT)
// instead of failing them halfway. Each attempt stays bounded by HANDLER_TIMEOUT.
func finishOnShutdown(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		msg.SetContext(context.WithoutCancel(msg.Context()))
		return h(msg)
	}
}

// correlationToContext puts the message's correlation id where handlers and
// their log lines find it.
func correlationToContext(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		if id := middleware.MessageCorrelationID(msg); id != "" {
			msg.SetContext(correlation.WithID(msg.Context(), id))
		}
		return h(msg)
	}
}

// addCommandHandlers adapts the application's command handlers to the router.
func addCommandHandlers(router *message.Router, transport transport.Transport, topics topics, application app.Application, logger watermill.LoggerAdapter) error {
	processor, err := cqrs.NewCommandProcessorWithConfig(router, cqrs.CommandProcessorConfig{
		GenerateSubscribeTopic: func(p cqrs.CommandProcessorGenerateSubscribeTopicParams) (string, error) {
			return topics.command(p.CommandName), nil
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
	return addCommandHandlersTo(processor,
		cqrs.NewCommandHandler(createTechHandlerName, plain(application.Commands.CreateTech.Handle)),
		cqrs.NewCommandHandler(sendSMSHandlerName, plain(application.Commands.SendSMS.Handle)),
	)
}

// addEventHandlers adapts the application's event handlers to the router.
func addEventHandlers(router *message.Router, transport transport.Transport, topics topics, application app.Application, logger watermill.LoggerAdapter) error {
	processor, err := cqrs.NewEventProcessorWithConfig(router, cqrs.EventProcessorConfig{
		GenerateSubscribeTopic: func(p cqrs.EventProcessorGenerateSubscribeTopicParams) (string, error) {
			return topics.event(p.EventName), nil
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
	invalidate := application.Events.InvalidateTechReadModel
	return addEventHandlersTo(processor,
		cqrs.NewEventHandler[tech.TechCreated](invalidateReadModelOnTechCreatedName, invalidate.OnTechCreated),
		cqrs.NewEventHandler[tech.TechMentioned](invalidateReadModelOnTechMentionedName, invalidate.OnTechMentioned),
	)
}

// addCommandHandlersTo adds each handler with a guard that poisons messages of
// another kind arriving on its topic.
func addCommandHandlersTo(processor *cqrs.CommandProcessor, handlers ...cqrs.CommandHandler) error {
	for _, h := range handlers {
		added, err := processor.AddHandler(h)
		if err != nil {
			return err
		}
		added.AddMiddleware(requireMessageName(marshaler.Name(h.NewCommand())))
	}
	return nil
}

// addEventHandlersTo is addCommandHandlersTo for events.
func addEventHandlersTo(processor *cqrs.EventProcessor, handlers ...cqrs.EventHandler) error {
	for _, h := range handlers {
		added, err := processor.AddHandler(h)
		if err != nil {
			return err
		}
		added.AddMiddleware(requireMessageName(marshaler.Name(h.NewEvent())))
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
