package service

import (
	"context"
	"errors"
	"log/slog"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/app"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/ports/messaging"
)

// ErrRequeueNeedsDurableTransport is why an operator's command cannot requeue
// on the in-process transport.
var ErrRequeueNeedsDurableTransport = errors.New("TRANSPORT=gochannel lives inside the running process, which another process cannot publish to; " +
	"requeue needs a durable transport (redisstream, kafka or sql)")

// Admin runs the operator's commands from outside the running service: it
// opens the store and the transport the configuration names, and no handler
// and no listener.
type Admin struct {
	// App holds the poison use cases. RequeuePoisonedMessages is nil on the
	// in-process transport: see ErrRequeueNeedsDurableTransport.
	App     app.Application
	closers closers
}

// OpenKeyAdmin opens only the store cfg names, for the API key use cases:
// revoking a leaked key must work while the broker is down.
func OpenKeyAdmin(ctx context.Context, cfg config.Config, logger *slog.Logger) (*Admin, error) {
	a := &Admin{}
	db, err := openStore(ctx, cfg, &a.closers)
	if err != nil {
		return nil, errors.Join(err, a.Close())
	}
	if err := addAPIKeyAdmin(&a.App, db, logger); err != nil {
		return nil, errors.Join(err, a.Close())
	}
	return a, nil
}

// OpenAdmin opens what cfg names. Close releases it.
func OpenAdmin(ctx context.Context, cfg config.Config, logger *slog.Logger) (*Admin, error) {
	a := &Admin{}
	db, err := openStore(ctx, cfg, &a.closers)
	if err != nil {
		return nil, errors.Join(err, a.Close())
	}
	queue, err := sqlstore.NewPoisonQueue(db)
	if err != nil {
		return nil, errors.Join(err, a.Close())
	}
	a.App.Queries.PoisonedMessages = query.NewPoisonedMessagesHandler(queue, logger)
	a.App.Commands.DeletePoisonedMessages = command.NewDeletePoisonedMessagesHandler(queue, logger)
	if err := addAPIKeyAdmin(&a.App, db, logger); err != nil {
		return nil, errors.Join(err, a.Close())
	}
	if cfg.Transport == config.TransportGoChannel {
		return a, nil
	}

	transport, err := NewTransport(cfg, messaging.NewLogger(logger))
	if err != nil {
		return nil, errors.Join(err, a.Close())
	}
	a.closers = append(a.closers, transport.Close)
	requeuer, err := messaging.NewRequeuer(transport.Publisher(), messaging.Topics{Prefix: cfg.TopicPrefix})
	if err != nil {
		return nil, errors.Join(err, a.Close())
	}
	commands, err := sqlstore.NewCommandLog(db)
	if err != nil {
		return nil, errors.Join(err, a.Close())
	}
	a.App.Commands.RequeuePoisonedMessages = command.NewRequeuePoisonedMessagesHandler(queue, commands, requeuer, logger)
	return a, nil
}

// Close releases the store and the transport.
func (a *Admin) Close() error { return a.closers.closeAll() }
