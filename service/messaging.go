package service

import (
	"context"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/techradar/techradar/adapters"
	"github.com/techradar/techradar/app"
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
var marshaler = cqrs.JSONMarshaler{GenerateName: cqrs.StructName}

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
			return nil
		},
		Marshaler: marshaler,
		Logger:    logger,
	}
}

func newEventBusFactory(topics topics, logger watermill.LoggerAdapter) adapters.EventBusFactory {
	config := eventBusConfig(topics, logger)
	return func(publisher message.Publisher) (command.EventPublisher, error) {
		return cqrs.NewEventBusWithConfig(publisher, config)
	}
}

// routerConfig is what the router needs besides the handlers.
type routerConfig struct {
	closeTimeout time.Duration
	poison       message.Publisher
	poisonTopic  string
}

func newRouter(cfg routerConfig, logger watermill.LoggerAdapter) (*message.Router, error) {
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.closeTimeout}, logger)
	if err != nil {
		return nil, err
	}
	poison, err := middleware.PoisonQueue(cfg.poison, cfg.poisonTopic)
	if err != nil {
		return nil, err
	}
	// Outermost first: a message that still fails after its retries goes to the
	// poison topic and is acknowledged, so it never blocks the ones behind it.
	router.AddMiddleware(
		correlationToContext,
		poison,
		middleware.Retry{
			MaxRetries:      5,
			InitialInterval: 100 * time.Millisecond,
			Multiplier:      2,
			MaxInterval:     2 * time.Second,
			Logger:          logger,
		}.Middleware,
		middleware.Recoverer,
	)
	return router, nil
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
func addCommandHandlers(router *message.Router, transport adapters.Transport, topics topics, application app.Application, logger watermill.LoggerAdapter) error {
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
	return processor.AddHandlers(
		cqrs.NewCommandHandler(createTechHandlerName, plain(application.Commands.CreateTech.Handle)),
	)
}

// addEventHandlers adapts the application's event handlers to the router.
func addEventHandlers(router *message.Router, transport adapters.Transport, topics topics, application app.Application, logger watermill.LoggerAdapter) error {
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
	return processor.AddHandlers(
		cqrs.NewEventHandler[tech.TechCreated](invalidateReadModelOnTechCreatedName, invalidate.OnTechCreated),
		cqrs.NewEventHandler[tech.TechMentioned](invalidateReadModelOnTechMentionedName, invalidate.OnTechMentioned),
	)
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
