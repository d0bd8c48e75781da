package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/techradar/techradar/app"
	"github.com/techradar/techradar/app/command"
)

// poisonRecorderName is the consumer group that keeps poisoned messages in the
// store, where `techradar poison` lists, requeues and deletes them. It is the
// one handler the poison middleware skips: a message it cannot record is
// retried and redelivered, never poisoned again.
const poisonRecorderName = "techradar.record-poisoned-message"

func addPoisonRecorder(router *message.Router, transport Transport, topics Topics, application app.Application) error {
	subscriber, err := transport.Subscriber(poisonRecorderName)
	if err != nil {
		return err
	}
	record := application.Commands.RecordPoisonedMessage
	router.AddConsumerHandler(poisonRecorderName, topics.Poison(), subscriber, func(msg *message.Message) error {
		poisoned := poisonedMessageFrom(msg, time.Now())
		return record.Handle(msg.Context(), command.RecordPoisonedMessage{Message: poisoned, CommandID: commandIDOf(poisoned, topics)})
	})
	return nil
}

// poisonedMessageFrom reads what the poison middleware recorded in msg's
// metadata; the message itself keeps its UUID, payload and original metadata.
func poisonedMessageFrom(msg *message.Message, at time.Time) command.PoisonedMessage {
	original := make(map[string]string, len(msg.Metadata))
	for k, v := range msg.Metadata {
		switch k {
		case middleware.PoisonedTopicKey, middleware.PoisonedHandlerKey, middleware.PoisonedSubscriberKey, middleware.ReasonForPoisonedKey:
		default:
			original[k] = v
		}
	}
	return command.PoisonedMessage{
		UUID:       msg.UUID,
		Topic:      msg.Metadata.Get(middleware.PoisonedTopicKey),
		Handler:    msg.Metadata.Get(middleware.PoisonedHandlerKey),
		Reason:     msg.Metadata.Get(middleware.ReasonForPoisonedKey),
		Payload:    msg.Payload,
		Metadata:   original,
		PoisonedAt: at.UTC(),
	}
}

// commandIDOf is the id of the command a poisoned message carries, or "" when
// it is not a command or does not decode that far. Every command carries its id
// as "commandId".
func commandIDOf(p command.PoisonedMessage, topics Topics) string {
	if !topics.isCommand(p.Topic) {
		return ""
	}
	var cmd struct {
		CommandID string `json:"commandId"`
	}
	if json.Unmarshal(p.Payload, &cmd) != nil {
		return ""
	}
	return cmd.CommandID
}

// Requeuer puts poisoned messages back on the topics they came from.
type Requeuer struct {
	publisher message.Publisher
	topics    Topics
}

var _ command.MessageRequeuer = Requeuer{}

func NewRequeuer(publisher message.Publisher, topics Topics) (Requeuer, error) {
	if publisher == nil {
		return Requeuer{}, errors.New("nil publisher")
	}
	return Requeuer{publisher: publisher, topics: topics}, nil
}

func (r Requeuer) CommandID(m command.PoisonedMessage) string { return commandIDOf(m, r.topics) }

func (r Requeuer) Requeue(ctx context.Context, m command.PoisonedMessage) error {
	msg := message.NewMessage(m.UUID, m.Payload)
	for k, v := range m.Metadata {
		msg.Metadata.Set(k, v)
	}
	msg.SetContext(ctx)
	return r.publisher.Publish(m.Topic, msg)
}
