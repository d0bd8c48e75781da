package sqlstore_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/internal/correlation"
	"github.com/techradar/techradar/internal/testenv"
)

// The resender test needs a store of its own: it resends every pending
// command it finds.
func TestCommandResender(t *testing.T) {
	t.Parallel()
	for name, store := range newStores(t) {
		t.Run(name, func(t *testing.T) { t.Parallel(); testCommandResender(t, store) })
	}
}

// resentLog records what resenders report, safe for several at once.
type resentLog struct {
	mu   sync.Mutex
	got  []sqlstore.ResentCommand
	byID map[string]int
}

func (l *resentLog) record(c sqlstore.ResentCommand) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byID == nil {
		l.byID = map[string]int{}
	}
	l.got = append(l.got, c)
	l.byID[c.ID]++
}

func (l *resentLog) times(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byID[id]
}

func testCommandResender(t *testing.T, store techStore) {
	ctx := correlation.WithID(context.Background(), "req-resend")
	const resendAfter = time.Minute
	long := time.Now().Add(-2 * resendAfter)

	accept := func(id string, at time.Time, cmd any) {
		t.Helper()
		if accepted, err := store.Accept(ctx, id, at, cmd, ""); err != nil || !accepted.Created {
			t.Fatalf("Accept(%s) = %+v, %v", id, accepted, err)
		}
	}
	due := []string{testenv.UniqueName("due-"), testenv.UniqueName("due-"), testenv.UniqueName("due-")}
	sent := map[string]command.CreateTech{}
	for _, id := range due {
		sent[id] = command.CreateTech{CommandID: id, Name: "Resent " + id, RequestedAt: long.UTC().Truncate(time.Millisecond)}
		accept(id, long, sent[id])
	}
	recent := testenv.UniqueName("recent-")
	accept(recent, time.Now(), command.CreateTech{CommandID: recent, Name: "Recent"})
	processed := testenv.UniqueName("processed-")
	accept(processed, long, command.CreateTech{CommandID: processed, Name: "Processed"})
	if !mention(t, store, processed, testenv.UniqueName("Processed ")) {
		t.Fatal("the pending command was not applied")
	}
	withoutMessage := testenv.UniqueName("bare-")
	accept(withoutMessage, long, nil)

	// Two resenders at once, in rounds smaller than what is due: each command
	// is resent once between them.
	var (
		resent     resentLog
		publishers = []*recordingPublisher{{}, {}}
		wg         sync.WaitGroup
	)
	for _, publisher := range publishers {
		resender, err := store.CommandResender(publisher, sqlstore.CommandResenderConfig{ResendAfter: resendAfter, BatchSize: 2, OnResent: resent.record})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for range 5 {
				if _, err := resender.ResendDue(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()

	got := append(publishers[0].messages(), publishers[1].messages()...)
	if len(got) != len(due) {
		t.Fatalf("resent %d messages, want %d: %+v", len(got), len(due), resent.got)
	}
	for _, p := range got {
		var cmd command.CreateTech
		if err := json.Unmarshal(p.msg.Payload, &cmd); err != nil {
			t.Fatal(err)
		}
		want, ok := sent[cmd.CommandID]
		switch {
		case !ok || resent.times(cmd.CommandID) != 1:
			t.Errorf("command %s resent %d times, want it once and only the due ones", cmd.CommandID, resent.times(cmd.CommandID))
		case p.topic != "commands.CreateTech" || p.msg.Metadata.Get("name") != "CreateTech" || p.msg.Metadata.Get("correlation_id") != "req-resend" || p.msg.UUID == "":
			t.Errorf("resent on %s with metadata %v, uuid %q", p.topic, p.msg.Metadata, p.msg.UUID)
		case cmd.Name != want.Name || !cmd.RequestedAt.Equal(want.RequestedAt):
			t.Errorf("resent %+v, accepted %+v", cmd, want)
		}
	}
	for _, c := range resent.got {
		if c.Topic != "commands.CreateTech" || c.Resends != 1 {
			t.Errorf("reported %+v", c)
		}
	}

	// A resender that finds commands due sooner sends them again, one more
	// time each per round; a processed command and one without its message
	// never.
	again, err := store.CommandResender(publishers[0], sqlstore.CommandResenderConfig{ResendAfter: time.Millisecond, OnResent: resent.record})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for resent.times(due[0]) < 2 || resent.times(due[1]) < 2 || resent.times(due[2]) < 2 || resent.times(recent) < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("not resent again: %+v", resent.got)
		}
		if _, err := again.ResendDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if resent.times(processed) != 0 || resent.times(withoutMessage) != 0 {
		t.Fatalf("resent a processed command (%d times) or one without its message (%d)", resent.times(processed), resent.times(withoutMessage))
	}
}
