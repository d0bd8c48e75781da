package sqlstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/domain/tech"
	"github.com/techradar/techradar/internal/testenv"
)

// The command log keeps the fingerprint of the request and the type of the
// command, and tells a later Accept of the id both, with the tech once the
// command is processed: what a retry under an Idempotency-Key is answered from.
func TestCommandLogKeepsTheRequest(t *testing.T) {
	t.Parallel()
	for name, store := range newStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			id, techName := testenv.UniqueName("key-"), testenv.UniqueName("Fingerprinted ")
			cmd := command.CreateTech{CommandID: id, Name: techName}
			if accepted, err := store.Accept(ctx, id, time.Now(), cmd, "hash-1"); err != nil || !accepted.Created {
				t.Fatalf("Accept = %+v, %v", accepted, err)
			}
			again, err := store.Accept(ctx, id, time.Now(), cmd, "hash-2")
			if err != nil || again != (command.Accepted{Status: command.StatusPending, Request: "hash-1"}) {
				t.Fatalf("Accept again = %+v, %v", again, err)
			}

			mention(t, store, id, techName)
			report, err := store.CommandReport(ctx, id)
			if err != nil || report.TechID == "" {
				t.Fatalf("report = %+v, %v", report, err)
			}
			processed, err := store.Accept(ctx, id, time.Now(), cmd, "hash-1")
			if err != nil || processed != (command.Accepted{Status: command.StatusProcessed, AggregateID: report.TechID, Request: "hash-1"}) {
				t.Fatalf("Accept once processed = %+v, %v", processed, err)
			}

			// The same id for a command of another type is told apart.
			other, err := store.Accept(ctx, id, time.Now(), command.SendSMS{CommandID: id}, "hash-1")
			if err != nil || !other.OtherType || other.Created {
				t.Fatalf("Accept of another type = %+v, %v", other, err)
			}

			// A command recorded without a fingerprint has none to compare.
			bare := testenv.UniqueName("bare-")
			if _, err := store.Accept(ctx, bare, time.Now(), nil, ""); err != nil {
				t.Fatal(err)
			}
			if accepted, err := store.Accept(ctx, bare, time.Now(), nil, "hash-3"); err != nil || accepted.Request != "" || accepted.OtherType {
				t.Fatalf("Accept of a bare command = %+v, %v", accepted, err)
			}
		})
	}
}

// Concurrent accepts of one key for different requests: one records its
// request, every other is told that one's.
func TestCommandLogConcurrentAcceptsOfOneKey(t *testing.T) {
	t.Parallel()
	for name, store := range newStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			id := testenv.UniqueName("contended-")
			requests := []string{"hash-a", "hash-b", "hash-c", "hash-d", "hash-e", "hash-f", "hash-g", "hash-h"}
			answers := make([]command.Accepted, len(requests))
			var wg sync.WaitGroup
			for i, request := range requests {
				wg.Go(func() {
					var err error
					answers[i], err = store.Accept(context.Background(), id, time.Now(), command.CreateTech{CommandID: id, Name: request}, request)
					if err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			var winner string
			for i, a := range answers {
				if a.Created {
					if winner != "" {
						t.Fatalf("%s and %s both recorded", winner, requests[i])
					}
					winner = requests[i]
				}
			}
			if winner == "" {
				t.Fatal("no accept recorded the command")
			}
			for i, a := range answers {
				if !a.Created && a.Request != winner {
					t.Errorf("%s was told %q, want the winner's %q", requests[i], a.Request, winner)
				}
			}
		})
	}
}

// A command sent before it was recorded (on a transport that delivers before
// the send returns) whose handler claimed it and gave it back is pending with
// no message: Accept keeps the message there, so that the resender sends the
// command again instead of leaving it pending for good.
func TestAcceptKeepsTheMessageOfACommandClaimedFirst(t *testing.T) {
	t.Parallel()
	for name, store := range newStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			id := testenv.UniqueName("claimed-first-")
			techName, err := tech.ParseName(testenv.UniqueName("Claimed first "))
			if err != nil {
				t.Fatal(err)
			}
			failing := func(context.Context, *tech.Tech, command.EventPublisher) (tech.Tech, error) {
				return tech.Tech{}, errors.New("the handler failed")
			}
			if _, err := store.MentionTech(ctx, id, techName.Key(), failing); err == nil {
				t.Fatal("a failing mention succeeded")
			}
			if report, err := store.CommandReport(ctx, id); err != nil || report.Status != string(command.StatusPending) {
				t.Fatalf("after the claim: %+v, %v", report, err)
			}

			long := time.Now().Add(-2 * time.Minute)
			cmd := command.CreateTech{CommandID: id, Name: techName.String(), RequestedAt: long.UTC().Truncate(time.Millisecond)}
			accepted, err := store.Accept(ctx, id, long, cmd, "")
			if err != nil || accepted.Created || accepted.Status != command.StatusPending || accepted.OtherType {
				t.Fatalf("Accept = %+v, %v", accepted, err)
			}

			publisher := &recordingPublisher{}
			resender, err := store.CommandResender(publisher, sqlstore.CommandResenderConfig{ResendAfter: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := resender.ResendDue(ctx); err != nil {
				t.Fatal(err)
			}
			got := publisher.messages()
			if len(got) != 1 {
				t.Fatalf("resent %d commands, want the one claimed first", len(got))
			}
			var resent command.CreateTech
			if err := json.Unmarshal(got[0].msg.Payload, &resent); err != nil || resent.CommandID != id {
				t.Fatalf("resent %s (%v), want command %s", got[0].msg.Payload, err, id)
			}
		})
	}
}

// Accepts that queue while the store is busy are recorded as one batch: a
// new id is recorded, an id recorded before is told what the log holds, and
// an id twice in the batch is recorded for the first and told so to the
// second; by a log that keeps the commands' messages, and by one that keeps
// none.
func TestCommandLogAcceptsABatch(t *testing.T) {
	t.Parallel()
	for name, db := range openSQLStores(t) {
		store := newStoreUnderTest(t, db)
		withoutMessages, err := sqlstore.NewCommandLog(db)
		if err != nil {
			t.Fatal(err)
		}
		for logName, log := range map[string]*sqlstore.CommandLog{"keeping messages": store.CommandLog, "keeping none": withoutMessages} {
			t.Run(name+"/"+logName, func(t *testing.T) {
				t.Parallel()
				testAcceptsABatch(t, log, store)
			})
		}
	}
}

func testAcceptsABatch(t *testing.T, log *sqlstore.CommandLog, store storeUnderTest) {
	ctx := context.Background()
	mention := func(id string) command.CreateTech { return command.CreateTech{CommandID: id, Name: "Batched"} }
	known, fresh, twice := testenv.UniqueName("known-"), testenv.UniqueName("fresh-"), testenv.UniqueName("twice-")
	if _, err := log.Accept(ctx, known, time.Now(), mention(known), "first"); err != nil {
		t.Fatal(err)
	}

	answers, err := log.AcceptTogether(ctx, time.Now(), []sqlstore.QueuedAccept{
		{ID: fresh, Command: mention(fresh), Request: "fresh"},
		{ID: known, Command: mention(known), Request: "second"},
		{ID: twice, Command: mention(twice), Request: "twice"},
		{ID: twice, Command: mention(twice), Request: "twice again"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		created bool
		request string
	}{{true, ""}, {false, "first"}, {true, ""}, {false, "twice"}}
	for i, w := range want {
		a := answers[i]
		if a.Created != w.created || a.Status != command.StatusPending || a.Request != w.request || a.OtherType {
			t.Errorf("accept %d was told %+v; want created %v, pending, request %q", i, a, w.created, w.request)
		}
	}
	for _, id := range []string{known, fresh, twice} {
		if report, err := store.CommandReport(ctx, id); err != nil || report.Status != string(command.StatusPending) {
			t.Errorf("command %s: %+v, %v; want it pending", id, report, err)
		}
	}
}

// A call tried again on its own after its insert committed, as when what
// followed the insert of its batch failed, is told that it recorded the
// command: its message's UUID is in the row. Another call under the id is
// told it did not.
func TestCommandLogTellsACallItsOwnRow(t *testing.T) {
	t.Parallel()
	for name, store := range newStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			log := store.(storeUnderTest).CommandLog
			ctx := context.Background()
			id := testenv.UniqueName("retold-")
			cmd := command.CreateTech{CommandID: id, Name: "Retold"}
			first, again, err := log.AcceptAlone(ctx, time.Now(), sqlstore.QueuedAccept{ID: id, Command: cmd, Request: "retold"})
			if err != nil || !first.Created || !again.Created || again.Status != command.StatusPending {
				t.Fatalf("told %+v, then %+v, %v; want it recorded both times", first, again, err)
			}
			other, err := log.Accept(ctx, id, time.Now(), cmd, "retold")
			if err != nil || other.Created || other.Request != "retold" {
				t.Fatalf("another call under the id was told %+v, %v; want the recorded request", other, err)
			}
		})
	}
}

// A batch of new commands, as requests without an idempotency key make, is
// recorded with one round trip: the insert, which commits on its own.
func TestMySQLAcceptsABatchOfNewCommandsInOneRoundTrip(t *testing.T) {
	t.Parallel()
	store, commands := newCountedMySQLStore(t)
	ctx := context.Background()
	accepts := make([]sqlstore.QueuedAccept, 8)
	for i := range accepts {
		id := testenv.UniqueName("new-")
		accepts[i] = sqlstore.QueuedAccept{ID: id, Command: command.CreateTech{CommandID: id, Name: "Batched"}, Request: id}
	}
	before := commands.Load()
	answers, err := store.AcceptTogether(ctx, time.Now(), accepts)
	if err != nil {
		t.Fatal(err)
	}
	if sent := commands.Load() - before; sent != 1 {
		t.Errorf("a batch of %d new commands sent MySQL %d commands, want 1", len(accepts), sent)
	}
	for i, a := range answers {
		if !a.Created {
			t.Errorf("accept %d was told %+v; want it recorded", i, a)
		}
	}
}
