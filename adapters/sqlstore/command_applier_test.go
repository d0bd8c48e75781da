package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/internal/testenv"
)

// TechBumped is the event of bump, the change the ApplyCommand suite applies.
type TechBumped struct {
	CommandID string `json:"commandId"`
	TechID    string `json:"techId"`
}

// bump is a change to an existing aggregate, as a command handler writes it
// on ApplyCommand: it counts one more mention of the tech id and publishes
// TechBumped. calls counts its runs.
func bump(ctx context.Context, commandID, id string, done bool, calls *atomic.Int32) sqlstore.Change {
	return func(tx *sql.Tx, events command.EventPublisher) (sqlstore.Outcome, error) {
		calls.Add(1)
		res, err := tx.ExecContext(ctx, "UPDATE techs SET mentions = mentions + 1 WHERE id = ?", id)
		if err != nil {
			return sqlstore.Outcome{}, err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return sqlstore.Outcome{}, errors.Join(err, apperr.NotFoundf("no tech %q", id))
		}
		if err := events.Publish(ctx, TechBumped{CommandID: commandID, TechID: id}); err != nil {
			return sqlstore.Outcome{}, err
		}
		return sqlstore.Outcome{Done: done, AggregateID: id}, nil
	}
}

func TestApplyCommand(t *testing.T) {
	t.Parallel()
	for name, db := range openSQLStores(t) {
		store := newStoreUnderTest(t, db)
		applier, err := sqlstore.NewCommandApplier(db, store.CommandLog, store.outbox)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			wantEvents := map[string]int{}
			t.Run("a command is applied once", func(t *testing.T) { testApplyOnce(t, store, applier, wantEvents) })
			t.Run("events exist iff the change commits", func(t *testing.T) { testApplyRollsBack(t, store, applier, wantEvents) })
			t.Run("a command not done stays pending", func(t *testing.T) { testApplyNotDone(t, store, applier, wantEvents) })
			t.Run("a failed command is not applied", func(t *testing.T) { testApplyFailed(t, store, applier) })
			t.Run("the outbox holds the events of the commits", func(t *testing.T) { testAppliedEvents(t, store, wantEvents) })
			t.Run("a commit wakes the relay", func(t *testing.T) { testApplyWakesRelay(t, store, applier) })
		})
	}
}

// newTech mentions a new tech and returns it.
func newTech(t *testing.T, store storeUnderTest) query.Tech {
	t.Helper()
	name := testenv.UniqueName("Applied ")
	mention(t, store, testenv.UniqueName("cmd-"), name)
	return techNamed(t, store, name)
}

func testApplyOnce(t *testing.T, store storeUnderTest, applier *sqlstore.CommandApplier, wantEvents map[string]int) {
	ctx := context.Background()
	target := newTech(t, store)
	id := testenv.UniqueName("cmd-")

	const deliveries = 16
	var (
		wg      sync.WaitGroup
		calls   atomic.Int32
		applied atomic.Int32
		errs    = make([]error, deliveries)
	)
	for i := range deliveries {
		wg.Go(func() {
			ok, err := applier.ApplyCommand(ctx, id, bump(ctx, id, target.ID, true, &calls))
			if ok {
				applied.Add(1)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if applied.Load() != 1 || calls.Load() != 1 {
		t.Fatalf("%d deliveries applied the command %d times, ran the change %d times", deliveries, applied.Load(), calls.Load())
	}
	wantEvents[id] = 1
	if ok, err := applier.ApplyCommand(ctx, id, bump(ctx, id, target.ID, true, &calls)); ok || err != nil || calls.Load() != 1 {
		t.Fatalf("a redelivery after the commit: applied %v, %v", ok, err)
	}
	if got := techNamed(t, store, target.Name); got.Mentions != target.Mentions+1 {
		t.Fatalf("mentions = %d, want %d", got.Mentions, target.Mentions+1)
	}
	report, err := store.CommandReport(ctx, id)
	if err != nil || report.Status != string(command.StatusProcessed) || report.TechID != target.ID {
		t.Fatalf("report = %+v, %v", report, err)
	}
}

func testApplyRollsBack(t *testing.T, store storeUnderTest, applier *sqlstore.CommandApplier, wantEvents map[string]int) {
	ctx := context.Background()
	target := newTech(t, store)
	id := testenv.UniqueName("cmd-")
	boom := errors.New("boom")

	var calls atomic.Int32
	change := bump(ctx, id, target.ID, true, &calls)
	failing := func(tx *sql.Tx, events command.EventPublisher) (sqlstore.Outcome, error) {
		if _, err := change(tx, events); err != nil {
			return sqlstore.Outcome{}, err
		}
		return sqlstore.Outcome{}, boom
	}
	if ok, err := applier.ApplyCommand(ctx, id, failing); ok || !errors.Is(err, boom) {
		t.Fatalf("ApplyCommand = %v, %v; want %v", ok, err, boom)
	}
	if got := techNamed(t, store, target.Name); got.Mentions != target.Mentions {
		t.Fatalf("a failed change was kept: mentions = %d, want %d", got.Mentions, target.Mentions)
	}
	if _, err := store.CommandReport(ctx, id); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("a failed change recorded its command: %v", err)
	}
	if _, err := applier.ApplyCommand(ctx, id, bump(ctx, id, "no-such-tech", true, &calls)); apperr.CodeOf(err) != apperr.NotFound {
		t.Fatalf("a change of a missing aggregate: %v", err)
	}

	// The command is still to be applied: a redelivery goes through.
	if ok, err := applier.ApplyCommand(ctx, id, change); !ok || err != nil {
		t.Fatalf("retry: applied %v, %v", ok, err)
	}
	wantEvents[id] = 1
}

func testApplyNotDone(t *testing.T, store storeUnderTest, applier *sqlstore.CommandApplier, wantEvents map[string]int) {
	ctx := context.Background()
	target := newTech(t, store)
	id := testenv.UniqueName("cmd-")

	var calls atomic.Int32
	for step := 1; step <= 2; step++ {
		if ok, err := applier.ApplyCommand(ctx, id, bump(ctx, id, target.ID, false, &calls)); !ok || err != nil {
			t.Fatalf("step %d: applied %v, %v", step, ok, err)
		}
		report, err := store.CommandReport(ctx, id)
		if err != nil || report.Status != string(command.StatusPending) || report.TechID != "" {
			t.Fatalf("step %d: report = %+v, %v", step, report, err)
		}
	}
	if ok, err := applier.ApplyCommand(ctx, id, bump(ctx, id, target.ID, true, &calls)); !ok || err != nil {
		t.Fatalf("last step: applied %v, %v", ok, err)
	}
	if ok, err := applier.ApplyCommand(ctx, id, bump(ctx, id, target.ID, true, &calls)); ok || err != nil || calls.Load() != 3 {
		t.Fatalf("after the command was done: applied %v, %v, %d calls", ok, err, calls.Load())
	}
	wantEvents[id] = 3
	if got := techNamed(t, store, target.Name); got.Mentions != target.Mentions+3 {
		t.Fatalf("mentions = %d, want %d", got.Mentions, target.Mentions+3)
	}
	report, err := store.CommandReport(ctx, id)
	if err != nil || report.Status != string(command.StatusProcessed) || report.TechID != target.ID {
		t.Fatalf("report = %+v, %v", report, err)
	}
}

func testApplyFailed(t *testing.T, store storeUnderTest, applier *sqlstore.CommandApplier) {
	ctx := context.Background()
	target := newTech(t, store)
	id := testenv.UniqueName("cmd-")
	if err := store.MarkFailed(ctx, id, "poisoned"); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	if ok, err := applier.ApplyCommand(ctx, id, bump(ctx, id, target.ID, true, &calls)); ok || err != nil || calls.Load() != 0 {
		t.Fatalf("a failed command: applied %v, %v, %d calls", ok, err, calls.Load())
	}
}

// testAppliedEvents relays the outbox: it holds the events of the changes
// that committed, and only those.
func testAppliedEvents(t *testing.T, store storeUnderTest, want map[string]int) {
	ctx, cancel := context.WithCancel(context.Background())
	publisher := &recordingPublisher{}
	done := make(chan error, 1)
	go func() {
		done <- store.RelayOutbox(ctx, publisher, sqlstore.OutboxRelayConfig{PollInterval: 10 * time.Millisecond}, slog.New(slog.DiscardHandler))
	}()
	total := 0
	for _, n := range want {
		total += n
	}
	bumped := func() (byCommand map[string]int, n int) {
		byCommand = map[string]int{}
		for _, m := range publisher.messages() {
			var e TechBumped
			if m.topic == "events.TechBumped" && json.Unmarshal(m.msg.Payload, &e) == nil {
				byCommand[e.CommandID]++
				n++
			}
		}
		return byCommand, n
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, n := bumped(); n < total && time.Now().Before(deadline); _, n = bumped() {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // anything beyond want shows too
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got, _ := bumped()
	if len(got) != len(want) {
		t.Fatalf("events by command = %v, want %v", got, want)
	}
	for id, n := range want {
		if got[id] != n {
			t.Fatalf("events by command = %v, want %v", got, want)
		}
	}
}

// testApplyWakesRelay applies a command while the relay waits, polling too
// seldom to find its event: the commit wakes it.
func testApplyWakesRelay(t *testing.T, store storeUnderTest, applier *sqlstore.CommandApplier) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	publisher := &recordingPublisher{}
	done := make(chan error, 1)
	go func() {
		done <- store.RelayOutbox(ctx, publisher, sqlstore.OutboxRelayConfig{PollInterval: time.Hour}, slog.New(slog.DiscardHandler))
	}()
	time.Sleep(200 * time.Millisecond) // the relay has found the outbox empty and waits

	target := newTech(t, store) // its TechCreated wakes the relay too
	id := testenv.UniqueName("cmd-")
	var calls atomic.Int32
	if ok, err := applier.ApplyCommand(ctx, id, bump(ctx, id, target.ID, true, &calls)); !ok || err != nil {
		t.Fatalf("applied %v, %v", ok, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range publisher.messages() {
			var e TechBumped
			if m.topic == "events.TechBumped" && json.Unmarshal(m.msg.Payload, &e) == nil && e.CommandID == id {
				cancel()
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the relay was not woken by the commit")
}
