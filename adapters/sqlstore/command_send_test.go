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
// once, even when another of them fails; a command known already is neither
// recorded nor sent again.
func TestCommandLogSendsInTheTransactionThatRecords(t *testing.T) {
	t.Parallel()
	for name, db := range openSQLStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			refused := testenv.UniqueName("Refused ")
			transport := newTransportInStore(t, db, refused)
			log, err := sqlstore.NewCommandLog(db, sqlstore.WithCommandEncoder(encodeCommand), sqlstore.WithSendInTransaction(transport.publish))
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

			// Commands accepted while the store is busy are recorded in one
			// transaction: the first holds the store while the others
			// queue. In the second round one of them is refused: the
			// transaction fails, and each command is then tried alone.
			const together = 10
			refusedID := ""
			for round := range 2 {
				transport.hold = make(chan struct{})
				var wg sync.WaitGroup
				errs := make([]error, together)
				for i := range together {
					id, techName := testenv.UniqueName("cmd-"), "Together"
					if round == 1 && i == together/2 {
						refusedID, techName = id, refused
					}
					wg.Go(func() {
						accepted, err := accept(id, techName)
						if err == nil && (!accepted.Created || !accepted.Sent) {
							t.Errorf("Accept = %+v; want the command recorded and sent", accepted)
						}
						errs[i] = err
					})
					if i == 0 {
						// The first takes the store; the others queue.
						time.Sleep(50 * time.Millisecond)
					}
				}
				time.Sleep(200 * time.Millisecond)
				close(transport.hold)
				wg.Wait()
				for i, err := range errs {
					if refusing := round == 1 && i == together/2; (err != nil) != refusing {
						t.Fatalf("round %d, command %d: %v", round, i, err)
					}
				}
			}
			if transport.together.Load() < 2 {
				t.Fatalf("%d sends carried several commands; want the commands queued behind a busy store sent together in both rounds", transport.together.Load())
			}

			// A batch holding a known id records and sends only the new one.
			fresh := testenv.UniqueName("cmd-")
			answers, err := log.AcceptTogether(ctx, time.Now(), []sqlstore.QueuedAccept{
				{ID: id, Command: command.CreateTech{CommandID: id, Name: "Sent"}, Request: "hash"},
				{ID: fresh, Command: command.CreateTech{CommandID: fresh, Name: "Sent"}, Request: "hash"},
			})
			if err != nil || answers[0].Created || answers[0].Sent || !answers[1].Created || !answers[1].Sent {
				t.Fatalf("a batch of a known and a new id was told %+v, %v; want only the new one recorded and sent", answers, err)
			}

			var sent, recorded, recordedRefused int
			if err := db.Reader().QueryRowContext(ctx, "SELECT "+
				"(SELECT COUNT(*) FROM transport_messages WHERE topic = 'commands.CreateTech'), "+
				"(SELECT COUNT(*) FROM commands), "+
				"(SELECT COUNT(*) FROM commands WHERE id = ?)", refusedID).Scan(&sent, &recorded, &recordedRefused); err != nil {
				t.Fatal(err)
			}
			if want := 1 + 2*together - 1 + 1; sent != want || recorded != want || transport.published.Load() != int64(want) {
				t.Fatalf("%d commands recorded, %d sent, the transport told of %d; want %d each", recorded, sent, transport.published.Load(), want)
			}
			if recordedRefused != 0 {
				t.Fatal("a command whose send the transport refused was recorded")
			}
		})
	}
}
