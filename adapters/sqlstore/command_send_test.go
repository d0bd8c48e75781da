package sqlstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/internal/testenv"
)

// Where the transport lives in the store's database, the command log sends
// each command it records in the transaction that records it: a command is
// sent if, and only if, it is recorded, alone or with others accepted at
// once, and a command known already is neither recorded nor sent again.
func TestCommandLogSendsInTheTransactionThatRecords(t *testing.T) {
	t.Parallel()
	for name, db := range openSQLStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			refused := testenv.UniqueName("Refused ")
			send, published := transportInStore(t, db, refused)
			log, err := sqlstore.NewCommandLog(db, sqlstore.WithCommandEncoder(encodeCommand), sqlstore.WithSendInTransaction(send))
			if err != nil {
				t.Fatal(err)
			}
			accept := func(id, techName string) (command.Accepted, error) {
				return log.Accept(ctx, id, time.Now(), command.CreateTech{CommandID: id, Name: techName}, "hash")
			}

			id := testenv.UniqueName("cmd-")
			if accepted, err := accept(id, "Sent"); err != nil || !accepted.Created || !accepted.Sent {
				t.Fatalf("Accept = %+v, %v; want the command recorded and sent", accepted, err)
			}
			if again, err := accept(id, "Sent"); err != nil || again.Created || again.Sent {
				t.Fatalf("Accept of a known id = %+v, %v; want it neither recorded nor sent again", again, err)
			}

			// Accepted at once: the log may record them in one transaction.
			const together = 20
			var wg sync.WaitGroup
			errs := make([]error, together)
			for i := range together {
				wg.Go(func() {
					accepted, err := accept(testenv.UniqueName("cmd-"), "Together")
					if err == nil && (!accepted.Created || !accepted.Sent) {
						t.Errorf("Accept = %+v; want the command recorded and sent", accepted)
					}
					errs[i] = err
				})
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}

			refusedID := testenv.UniqueName("cmd-")
			if accepted, err := accept(refusedID, refused); err == nil {
				t.Fatalf("Accept = %+v; want the transport's refusal", accepted)
			}

			var sent, recorded, recordedRefused int
			if err := db.Reader().QueryRowContext(ctx, "SELECT "+
				"(SELECT COUNT(*) FROM transport_messages WHERE topic = 'commands.CreateTech'), "+
				"(SELECT COUNT(*) FROM commands), "+
				"(SELECT COUNT(*) FROM commands WHERE id = ?)", refusedID).Scan(&sent, &recorded, &recordedRefused); err != nil {
				t.Fatal(err)
			}
			if want := 1 + together; sent != want || recorded != want || published.Load() != int64(want) {
				t.Fatalf("%d commands recorded, %d sent, the transport told of %d; want %d each", recorded, sent, published.Load(), want)
			}
			if recordedRefused != 0 {
				t.Fatal("a command whose send the transport refused was recorded")
			}
		})
	}
}
