package service

// Temporary: the store's poison API until it implements the app's ports.

import (
	"context"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
)

type poisonBridge struct{ store *sqlstore.Store }

func (b poisonBridge) Add(ctx context.Context, m command.PoisonedMessage) error {
	msg := message.NewMessage(m.UUID, m.Payload)
	for k, v := range m.Metadata {
		msg.Metadata.Set(k, v)
	}
	return b.store.RecordPoisoned(ctx, sqlstore.PoisonedMessage{Topic: m.Topic, Handler: m.Handler, Reason: m.Reason, Message: msg, PoisonedAt: m.PoisonedAt})
}

func (b poisonBridge) all(ctx context.Context) ([]command.PoisonedMessage, error) {
	list, err := b.store.ListPoisoned(ctx, 1<<30)
	var out []command.PoisonedMessage
	for _, p := range list {
		out = append(out, command.PoisonedMessage{ID: p.ID, UUID: p.Message.UUID, Topic: p.Topic, Handler: p.Handler, Reason: p.Reason, Payload: p.Message.Payload, Metadata: p.Message.Metadata, PoisonedAt: p.PoisonedAt})
	}
	return out, err
}

func (b poisonBridge) Poisoned(ctx context.Context, ids []int64) ([]command.PoisonedMessage, error) {
	all, err := b.all(ctx)
	want := map[int64]bool{}
	for _, id := range ids {
		want[id] = true
	}
	var out []command.PoisonedMessage
	for _, p := range all {
		if want[p.ID] {
			out = append(out, p)
		}
	}
	return out, err
}

func (b poisonBridge) OldestIDs(ctx context.Context, limit int) ([]int64, error) {
	all, err := b.all(ctx)
	var out []int64
	for _, p := range all {
		out = append(out, p.ID)
	}
	return out, err
}

func (b poisonBridge) Delete(ctx context.Context, id int64) error {
	return b.store.DeletePoisoned(ctx, id)
}

func (b poisonBridge) PoisonedMessages(ctx context.Context, limit int) ([]query.PoisonedMessage, error) {
	all, err := b.all(ctx)
	var out []query.PoisonedMessage
	for _, p := range all {
		out = append(out, query.PoisonedMessage{ID: p.ID, Topic: p.Topic, Handler: p.Handler, Reason: p.Reason, Payload: p.Payload, PoisonedAt: p.PoisonedAt})
	}
	return out, err
}
