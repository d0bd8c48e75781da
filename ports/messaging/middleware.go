package messaging

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/cenkalti/backoff/v5"

	"github.com/techradar/techradar/internal/correlation"
)

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
