// Package messaging is the Watermill port: it turns the messages of the
// transport into calls of the application's handlers, as the HTTP port turns
// requests into calls of its use cases. It names the topics, encodes commands
// and events, builds the command and event buses, and runs the router with the
// middleware every handler gets: correlation ids, retries, the poison queue,
// timeouts, tracing and metrics.
package messaging

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/internal/correlation"
)

// Topics names the topics of one deployment: TOPIC_PREFIX keeps deployments
// that share a broker apart.
type Topics struct {
	Prefix string
}

// Command is the topic of the command named commandName.
func (t Topics) Command(commandName string) string { return t.Prefix + ".commands." + commandName }

// Event is the topic of the event named eventName.
func (t Topics) Event(eventName string) string { return t.Prefix + ".events." + eventName }

// Poison is the topic of the messages the handlers gave up on.
func (t Topics) Poison() string { return t.Prefix + ".poison" }

func (t Topics) isCommand(topic string) bool { return strings.HasPrefix(topic, t.Prefix+".commands.") }

// undecodableMessageError is a payload that does not decode into its type.
type undecodableMessageError struct {
	err error
}

func (e *undecodableMessageError) Error() string { return "undecodable message: " + e.err.Error() }

func (e *undecodableMessageError) Unwrap() error { return e.err }

// unexpectedMessageError is a message on a topic that carries another kind.
type unexpectedMessageError struct {
	got, want string
}

func (e *unexpectedMessageError) Error() string {
	return fmt.Sprintf("message named %q on a topic of %q", e.got, e.want)
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

// NewCommandBus sends commands on their topics, with the correlation id and
// the trace of the context they are sent with.
func NewCommandBus(publisher message.Publisher, topics Topics, logger watermill.LoggerAdapter) (*cqrs.CommandBus, error) {
	return cqrs.NewCommandBusWithConfig(publisher, commandBusConfig(topics, logger))
}

func commandBusConfig(topics Topics, logger watermill.LoggerAdapter) cqrs.CommandBusConfig {
	return cqrs.CommandBusConfig{
		GeneratePublishTopic: func(p cqrs.CommandBusGeneratePublishTopicParams) (string, error) {
			return topics.Command(p.CommandName), nil
		},
		OnSend: func(p cqrs.CommandBusOnSendParams) error {
			middleware.SetCorrelationID(correlation.ID(p.Message.Context()), p.Message)
			injectTraceContext(p.Message)
			return nil
		},
		Marshaler: marshaler,
		Logger:    logger,
	}
}

// NewCommandEncoder makes of a command the message NewCommandBus would
// publish for it, and its topic, by sending it through a bus of the same
// configuration to a publisher that only keeps it: what the command log keeps
// to send a command again.
func NewCommandEncoder(topics Topics, logger watermill.LoggerAdapter) func(ctx context.Context, cmd any) (string, *message.Message, error) {
	config := commandBusConfig(topics, logger)
	return func(ctx context.Context, cmd any) (string, *message.Message, error) {
		var kept keptMessages
		bus, err := cqrs.NewCommandBusWithConfig(&kept, config)
		if err != nil {
			return "", nil, err
		}
		if err := bus.Send(ctx, cmd); err != nil {
			return "", nil, err
		}
		if len(kept.messages) != 1 {
			return "", nil, fmt.Errorf("the command bus made %d messages of one command", len(kept.messages))
		}
		return kept.topic, kept.messages[0], nil
	}
}

// keptMessages is a publisher that keeps what it is given.
type keptMessages struct {
	topic    string
	messages []*message.Message
}

func (k *keptMessages) Publish(topic string, messages ...*message.Message) error {
	k.topic, k.messages = topic, append(k.messages, messages...)
	return nil
}

func (k *keptMessages) Close() error { return nil }

// NewEventBusFactory builds the event buses the stores write events through
// into their outbox, all with one configuration, so that the relayed messages
// are the ones a direct publish would have made.
func NewEventBusFactory(topics Topics, logger watermill.LoggerAdapter) func(publisher message.Publisher) (command.EventPublisher, error) {
	config := cqrs.EventBusConfig{
		GeneratePublishTopic: func(p cqrs.GenerateEventPublishTopicParams) (string, error) {
			return topics.Event(p.EventName), nil
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
	return func(publisher message.Publisher) (command.EventPublisher, error) {
		return cqrs.NewEventBusWithConfig(publisher, config)
	}
}
