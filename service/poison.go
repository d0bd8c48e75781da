package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/adapters/transport"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/config"
)

// poisonRecorderName is the consumer group that keeps poisoned messages in the
// store, where `techradar poison` lists and requeues them.
const poisonRecorderName = "techradar.record-poisoned-message"

// poisonRecorder keeps every message of the poison topic in the store and
// marks a poisoned command failed, with the reason, in the command log. It is
// the one handler the poison middleware skips: a message it cannot record is
// retried and redelivered, never poisoned again.
type poisonRecorder struct {
	queue    *sqlstore.PoisonQueue
	commands *sqlstore.CommandLog
	topics   topics
	logger   *slog.Logger
}

func addPoisonRecorder(router *message.Router, transport transport.Transport, recorder poisonRecorder) error {
	subscriber, err := transport.Subscriber(poisonRecorderName)
	if err != nil {
		return err
	}
	router.AddConsumerHandler(poisonRecorderName, recorder.topics.poison(), subscriber, recorder.record)
	return nil
}

func (r poisonRecorder) record(msg *message.Message) error {
	ctx := msg.Context()
	poisoned := poisonedMessageFrom(msg, time.Now())
	if err := r.queue.Add(ctx, poisoned); err != nil {
		return err
	}
	r.logger.ErrorContext(ctx, "message poisoned",
		slog.String("topic", poisoned.Topic), slog.String("handler", poisoned.Handler),
		slog.String("message_uuid", msg.UUID), slog.String("reason", poisoned.Reason))

	if id := commandIDOf(poisoned, r.topics); id != "" {
		return r.commands.MarkFailed(ctx, id, poisoned.Reason)
	}
	return nil
}

// poisonedMessageFrom reads what the poison middleware recorded in msg's
// metadata. The message itself keeps its UUID, payload and original metadata.
func poisonedMessageFrom(msg *message.Message, at time.Time) command.PoisonedMessage {
	original := map[string]string{}
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
func commandIDOf(p command.PoisonedMessage, topics topics) string {
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

// requeue publishes poisoned messages back on the topic they were poisoned
// from and forgets them. A command goes back to pending first, so that its
// handler applies it.
func (a *PoisonAdmin) requeue(ctx context.Context, publisher message.Publisher, topics topics, poisoned []command.PoisonedMessage) (int, error) {
	for i, p := range poisoned {
		if id := commandIDOf(p, topics); id != "" {
			if err := a.commands.ReopenFailed(ctx, id); err != nil {
				return i, err
			}
		}
		msg := message.NewMessage(p.UUID, p.Payload)
		for k, v := range p.Metadata {
			msg.Metadata.Set(k, v)
		}
		if err := publisher.Publish(p.Topic, msg); err != nil {
			return i, err
		}
		// A crash here requeues the message twice at worst: handlers are idempotent.
		if err := a.queue.Delete(ctx, p.ID); err != nil {
			return i, err
		}
	}
	return len(poisoned), nil
}

func (t topics) isCommand(topic string) bool { return strings.HasPrefix(topic, t.prefix+".commands.") }

// PoisonAdmin lists and requeues poisoned messages from outside the running
// service: it opens the store and the transport the configuration names, and
// no handler.
type PoisonAdmin struct {
	cfg       config.Config
	queue     *sqlstore.PoisonQueue
	commands  *sqlstore.CommandLog
	transport transport.Transport
	closers   []func() error
}

// OpenPoisonAdmin opens what cfg names. Close releases it.
func OpenPoisonAdmin(ctx context.Context, cfg config.Config, logger *slog.Logger) (*PoisonAdmin, error) {
	s := &Service{cfg: cfg, logger: logger}
	store, err := s.openStore(ctx)
	if err != nil {
		return nil, errors.Join(err, s.closeAll())
	}
	a := &PoisonAdmin{cfg: cfg, closers: s.closers}
	if a.queue, err = sqlstore.NewPoisonQueue(store); err != nil {
		return nil, errors.Join(err, a.Close())
	}
	if a.commands, err = sqlstore.NewCommandLog(store); err != nil {
		return nil, errors.Join(err, a.Close())
	}
	if cfg.Transport != config.TransportGoChannel {
		if a.transport, err = NewTransport(cfg, newWatermillLogger(logger)); err != nil {
			return nil, errors.Join(err, a.Close())
		}
		a.closers = append(a.closers, a.transport.Close)
	}
	return a, nil
}

// List returns up to limit poisoned messages, oldest first.
func (a *PoisonAdmin) List(ctx context.Context, limit int) ([]command.PoisonedMessage, error) {
	ids, err := a.queue.OldestIDs(ctx, limit)
	if err != nil {
		return nil, err
	}
	return a.queue.Poisoned(ctx, ids)
}

// Requeue puts the poisoned messages with the given ids (every one when ids is
// empty) back on their topics and returns how many it requeued.
func (a *PoisonAdmin) Requeue(ctx context.Context, ids []int64) (int, error) {
	if a.transport == nil {
		return 0, errors.New("TRANSPORT=gochannel lives inside the running process, which another process cannot publish to; " +
			"requeue needs a durable transport (redisstream, kafka or sql)")
	}
	all, err := a.List(ctx, math.MaxInt32)
	if err != nil {
		return 0, err
	}
	selected := all
	if len(ids) > 0 {
		wanted := make(map[int64]bool, len(ids))
		for _, id := range ids {
			wanted[id] = true
		}
		selected = selected[:0:0]
		for _, p := range all {
			if wanted[p.ID] {
				selected = append(selected, p)
				delete(wanted, p.ID)
			}
		}
		for id := range wanted {
			return 0, fmt.Errorf("no poisoned message %d", id)
		}
	}
	return a.requeue(ctx, a.transport.Publisher(), topics{prefix: a.cfg.TopicPrefix}, selected)
}

// Close releases the store and the transport.
func (a *PoisonAdmin) Close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}
