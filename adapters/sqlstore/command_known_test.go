package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/internal/testenv"
)

func TestKnownCommand(t *testing.T) {
	t.Parallel()
	for name, db := range openSQLStores(t) {
		store := newStoreUnderTest(t, db)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			id := testenv.UniqueName("curation-")
			if known, err := store.KnownCommand(ctx, id); err != nil || known {
				t.Fatalf("before Accept: %v, %v", known, err)
			}
			if _, err := store.Accept(ctx, id, time.Now(), command.RetireTech{CommandID: id, TechID: "t"}, "hash"); err != nil {
				t.Fatal(err)
			}
			if known, err := store.KnownCommand(ctx, id); err != nil || !known {
				t.Fatalf("after Accept: %v, %v", known, err)
			}
		})
	}
}
