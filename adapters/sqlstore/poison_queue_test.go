package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/internal/testenv"
)

type poisonStore interface {
	techStore
	RecordPoisoned(ctx context.Context, p sqlstore.PoisonedMessage) error
	ListPoisoned(ctx context.Context, limit int) ([]sqlstore.PoisonedMessage, error)
	DeletePoisoned(ctx context.Context, id int64) error
	CountPoisoned(ctx context.Context) (int, error)
	ReopenFailed(ctx context.Context, id string) error
}

func TestPoisonedMessages(t *testing.T) {
	t.Parallel()
	for name, store := range newStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			poison := store.(poisonStore)

			msg := message.NewMessage("uuid-1", []byte(`{"not":"decodable"`))
			msg.Metadata.Set("name", "CreateTech")
			msg.Metadata.Set(middleware.PoisonedTopicKey, "techradar.commands.CreateTech")
			msg.Metadata.Set(middleware.PoisonedHandlerKey, "techradar.create-tech")
			msg.Metadata.Set(middleware.ReasonForPoisonedKey, "cannot decode")
			p := sqlstore.PoisonedMessageFrom(msg, time.Now())
			if p.Topic != "techradar.commands.CreateTech" || p.Handler != "techradar.create-tech" || p.Reason != "cannot decode" {
				t.Fatalf("PoisonedMessageFrom = %+v", p)
			}
			if p.Message.Metadata.Get(middleware.ReasonForPoisonedKey) != "" || p.Message.Metadata.Get("name") != "CreateTech" {
				t.Fatalf("the original metadata is not restored: %v", p.Message.Metadata)
			}

			for range 2 { // a redelivered poison message is kept once
				if err := poison.RecordPoisoned(ctx, p); err != nil {
					t.Fatal(err)
				}
			}
			if n, err := poison.CountPoisoned(ctx); err != nil || n != 1 {
				t.Fatalf("count = %d, %v", n, err)
			}
			listed, err := poison.ListPoisoned(ctx, 10)
			if err != nil || len(listed) != 1 {
				t.Fatalf("list = %+v, %v", listed, err)
			}
			got := listed[0]
			if got.Message.UUID != "uuid-1" || string(got.Message.Payload) != `{"not":"decodable"` || got.Topic != p.Topic || got.Reason != p.Reason || got.PoisonedAt.IsZero() {
				t.Fatalf("listed %+v", got)
			}
			if err := poison.DeletePoisoned(ctx, got.ID); err != nil {
				t.Fatal(err)
			}
			if err := poison.DeletePoisoned(ctx, got.ID); err == nil {
				t.Fatal("deleting twice succeeded")
			}

			id := testenv.UniqueName("cmd-")
			if err := poison.MarkFailed(ctx, id, "gave up"); err != nil {
				t.Fatal(err)
			}
			if err := poison.ReopenFailed(ctx, id); err != nil {
				t.Fatal(err)
			}
			if report, _ := poison.CommandReport(ctx, id); report.Status != "pending" || report.Error != "" {
				t.Fatalf("a reopened command is %+v", report)
			}
			if !mention(t, store, id, testenv.UniqueName("Reopened ")) {
				t.Fatal("a reopened command was not applied")
			}
		})
	}
}
