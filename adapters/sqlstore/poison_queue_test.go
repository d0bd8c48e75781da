package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/internal/testenv"
)

func TestPoisonedMessages(t *testing.T) {
	t.Parallel()
	for name, db := range openSQLStores(t) {
		store := newStoreUnderTest(t, db)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			poison := store.PoisonQueue

			p := command.PoisonedMessage{
				UUID:       "uuid-1",
				Topic:      "techradar.commands.CreateTech",
				Handler:    "techradar.create-tech",
				Reason:     "cannot decode",
				Payload:    []byte(`{"not":"decodable"`),
				Metadata:   map[string]string{"name": "CreateTech"},
				PoisonedAt: time.Now(),
			}
			for range 2 { // a redelivered poison message is kept once
				if err := poison.Add(ctx, p); err != nil {
					t.Fatal(err)
				}
			}
			if n, err := poison.Count(ctx); err != nil || n != 1 {
				t.Fatalf("count = %d, %v", n, err)
			}
			ids, err := poison.OldestIDs(ctx, 10)
			if err != nil || len(ids) != 1 {
				t.Fatalf("oldest ids = %v, %v", ids, err)
			}
			kept, err := poison.Poisoned(ctx, ids)
			if err != nil || len(kept) != 1 {
				t.Fatalf("poisoned = %+v, %v", kept, err)
			}
			got := kept[0]
			if got.ID != ids[0] || got.UUID != "uuid-1" || string(got.Payload) != `{"not":"decodable"` || got.Topic != p.Topic || got.Handler != p.Handler ||
				got.Reason != p.Reason || got.PoisonedAt.IsZero() {
				t.Fatalf("kept %+v", got)
			}
			if got.Metadata["name"] != "CreateTech" || len(got.Metadata) != 1 {
				t.Fatalf("the original metadata is not kept: %v", got.Metadata)
			}
			listed, err := poison.PoisonedMessages(ctx, 10)
			if err != nil || len(listed) != 1 {
				t.Fatalf("list = %+v, %v", listed, err)
			}
			if l := listed[0]; l.ID != got.ID || string(l.Payload) != string(got.Payload) || l.Topic != p.Topic || l.Handler != p.Handler || l.Reason != p.Reason || l.PoisonedAt.IsZero() {
				t.Fatalf("listed %+v", l)
			}
			if err := poison.Delete(ctx, got.ID); err != nil {
				t.Fatal(err)
			}
			if err := poison.Delete(ctx, got.ID); err == nil {
				t.Fatal("deleting twice succeeded")
			}
			if kept, err := poison.Poisoned(ctx, ids); err != nil || len(kept) != 0 {
				t.Fatalf("a deleted message is kept: %+v, %v", kept, err)
			}

			id := testenv.UniqueName("cmd-")
			if err := store.MarkFailed(ctx, id, "gave up"); err != nil {
				t.Fatal(err)
			}
			if err := store.ReopenFailed(ctx, id); err != nil {
				t.Fatal(err)
			}
			if report, _ := store.CommandReport(ctx, id); report.Status != "pending" || report.Error != "" {
				t.Fatalf("a reopened command is %+v", report)
			}
			if !mention(t, store, id, testenv.UniqueName("Reopened ")) {
				t.Fatal("a reopened command was not applied")
			}
		})
	}
}
