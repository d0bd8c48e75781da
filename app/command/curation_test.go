package command_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/domain/tech"
)

// memoryTechs is TechChanger and TechStatusReader in a map: a command is
// applied once, a refusal fails it, as the store does in one transaction.
type memoryTechs struct {
	mu       sync.Mutex
	techs    map[string]tech.Tech
	closed   map[string]string // command id -> "" processed, else why it failed
	events   []any
	failWith error // what ChangeTechs fails with, as a store that is down
}

func newMemoryTechs(ts ...tech.Tech) *memoryTechs {
	m := &memoryTechs{techs: map[string]tech.Tech{}, closed: map[string]string{}}
	for _, t := range ts {
		m.techs[t.ID] = t
	}
	return m
}

type publisherFunc func(ctx context.Context, event any) error

func (f publisherFunc) Publish(ctx context.Context, event any) error { return f(ctx, event) }

func (m *memoryTechs) ChangeTechs(ctx context.Context, commandID string, ids []string, change command.TechChange) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failWith != nil {
		return false, m.failWith
	}
	if _, done := m.closed[commandID]; done {
		return false, nil
	}
	techs := make([]*tech.Tech, len(ids))
	for i, id := range ids {
		t, ok := m.techs[id]
		if !ok {
			err := apperr.NotFoundf("no tech with id %q", id)
			m.closed[commandID] = err.Error()
			return false, err
		}
		techs[i] = &t
	}
	var published []any
	changed, err := change(ctx, techs, publisherFunc(func(_ context.Context, e any) error { published = append(published, e); return nil }))
	if _, refused := apperr.As(err); refused {
		m.closed[commandID] = err.Error()
		return false, err
	}
	if err != nil {
		return false, err
	}
	if changed {
		for _, t := range techs {
			m.techs[t.ID] = *t
		}
		m.events = append(m.events, published...)
	}
	m.closed[commandID] = ""
	return true, nil
}

func (m *memoryTechs) TechStatus(_ context.Context, id string) (tech.Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.techs[id]
	if !ok {
		return "", apperr.NotFoundf("no tech with id %q", id)
	}
	return t.Status(), nil
}

func newTechNamed(t *testing.T, raw string, mentions int) tech.Tech {
	t.Helper()
	name, err := tech.ParseName(raw)
	if err != nil {
		t.Fatal(err)
	}
	k := tech.New(name, tech.DefaultThresholdPolicy, time.Now())
	for k.Mentions < mentions {
		k.Mention(tech.DefaultThresholdPolicy, time.Now())
	}
	return k
}

func TestRetireTechHandler(t *testing.T) {
	t.Parallel()
	kafka := newTechNamed(t, "Kafka", 1)
	store := newMemoryTechs(kafka)
	handler := command.NewRetireTechHandler(store, nil, slog.New(slog.DiscardHandler))
	ctx := context.Background()

	cmd := command.RetireTech{CommandID: "c1", TechID: kafka.ID, Reason: "old"}
	for range 2 { // redelivered: applied once
		if err := handler.Handle(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	if got := store.techs[kafka.ID]; got.Status() != tech.StatusRetired || got.RetiredReason != "old" || len(store.events) != 1 {
		t.Fatalf("after retire: %+v, events %v", got, store.events)
	}
	if ev, ok := store.events[0].(tech.TechRetired); !ok || ev.CommandID != "c1" || ev.TechID != kafka.ID {
		t.Fatalf("event %+v", store.events[0])
	}
	// Another command retiring it again is harmless: no event.
	if err := handler.Handle(ctx, command.RetireTech{CommandID: "c2", TechID: kafka.ID}); err != nil || len(store.events) != 1 || store.closed["c2"] != "" {
		t.Fatalf("second retire: %v, events %v", err, store.events)
	}
	// A missing tech fails the command, and the message is done with.
	if err := handler.Handle(ctx, command.RetireTech{CommandID: "c3", TechID: "nope"}); err != nil || store.closed["c3"] == "" {
		t.Fatalf("missing tech: %v, closed %q", err, store.closed["c3"])
	}
	// A reason no API would send fails the command too.
	if err := handler.Handle(ctx, command.RetireTech{CommandID: "c4", TechID: kafka.ID, Reason: "a\x00"}); err != nil || store.closed["c4"] == "" {
		t.Fatalf("bad reason: %v, closed %q", err, store.closed["c4"])
	}
	// A store that is down is retried.
	store.failWith = errors.New("down")
	if err := handler.Handle(ctx, command.RetireTech{CommandID: "c5", TechID: kafka.ID}); err == nil {
		t.Fatal("a store failure was swallowed")
	}
	if err := handler.Handle(ctx, command.RetireTech{TechID: kafka.ID}); apperr.CodeOf(err) != apperr.Invalid {
		t.Fatalf("no command id: %v", err)
	}
}

func TestMergeTechHandler(t *testing.T) {
	t.Parallel()
	dup, target := newTechNamed(t, "Postgres", 2), newTechNamed(t, "PostgreSQL", 1)
	store := newMemoryTechs(dup, target)
	handler := command.NewMergeTechHandler(store, tech.DefaultThresholdPolicy, nil, slog.New(slog.DiscardHandler))
	ctx := context.Background()

	if err := handler.Handle(ctx, command.MergeTech{CommandID: "m1", TechID: dup.ID, IntoID: target.ID}); err != nil {
		t.Fatal(err)
	}
	if got := store.techs[target.ID]; got.Mentions != 3 || got.Priority != tech.PriorityMedium {
		t.Fatalf("target: %+v", got)
	}
	if got := store.techs[dup.ID]; got.MergedInto != target.ID {
		t.Fatalf("duplicate: %+v", got)
	}
	if ev, ok := store.events[0].(tech.TechMerged); !ok || ev.IntoID != target.ID || ev.Mentions != 3 {
		t.Fatalf("event %+v", store.events[0])
	}
	for _, tc := range []struct{ name, id, into string }{
		{"into itself", target.ID, target.ID},
		{"into a merged tech", target.ID, dup.ID},
		{"into a missing tech", target.ID, "nope"},
	} {
		id := "m-" + tc.name
		if err := handler.Handle(ctx, command.MergeTech{CommandID: id, TechID: tc.id, IntoID: tc.into}); err != nil || store.closed[id] == "" {
			t.Fatalf("%s: %v, closed %q", tc.name, err, store.closed[id])
		}
	}
}

func TestCurationSubmissions(t *testing.T) {
	t.Parallel()
	kafka, gone := newTechNamed(t, "Kafka", 1), newTechNamed(t, "Gone", 1)
	if _, err := gone.Retire("", time.Now()); err != nil {
		t.Fatal(err)
	}
	store := newMemoryTechs(kafka, gone)
	log, bus := newMemoryCommandLog(), &recordingBus{}
	retire, merge := command.NewCurationSubmissions(store, log, bus, nil, slog.New(slog.DiscardHandler))
	ctx := context.Background()

	got, err := retire.Handle(ctx, command.SubmitRetireTech{TechID: kafka.ID, Reason: "  old  "})
	if err != nil || got.Status != command.StatusPending {
		t.Fatalf("retire: %+v, %v", got, err)
	}
	if sent := bus.sent[0].(command.RetireTech); sent.CommandID != got.CommandID || sent.Reason != "old" || sent.TechID != kafka.ID {
		t.Fatalf("sent %+v", sent)
	}
	// A key names one RetireTech; the same request again is the same command.
	keyed := command.SubmitRetireTech{IdempotencyKey: "k", TechID: kafka.ID}
	first, err1 := retire.Handle(ctx, keyed)
	again, err2 := retire.Handle(ctx, keyed)
	if err1 != nil || err2 != nil || first.CommandID != again.CommandID || first.CommandID == "k" {
		t.Fatalf("keyed: %+v %v, %+v %v", first, err1, again, err2)
	}
	// The same key on a merge is another command.
	if m, err := merge.Handle(ctx, command.SubmitMergeTech{IdempotencyKey: "k", TechID: gone.ID, IntoID: kafka.ID}); err != nil || m.CommandID == first.CommandID {
		t.Fatalf("the key on a merge: %+v, %v", m, err)
	}

	for _, tc := range []struct {
		name  string
		run   func() error
		code  apperr.Code
		field string
	}{
		{"retire unknown", func() error { _, err := retire.Handle(ctx, command.SubmitRetireTech{TechID: "nope"}); return err }, apperr.NotFound, ""},
		{"reason too long", func() error {
			_, err := retire.Handle(ctx, command.SubmitRetireTech{TechID: kafka.ID, Reason: string(make([]byte, 501))})
			return err
		}, apperr.Invalid, "reason"},
		{"into missing", func() error { _, err := merge.Handle(ctx, command.SubmitMergeTech{TechID: kafka.ID}); return err }, apperr.Invalid, "into"},
		{"into itself", func() error {
			_, err := merge.Handle(ctx, command.SubmitMergeTech{TechID: kafka.ID, IntoID: kafka.ID})
			return err
		}, apperr.Invalid, "into"},
		{"into unknown", func() error {
			_, err := merge.Handle(ctx, command.SubmitMergeTech{TechID: kafka.ID, IntoID: "nope"})
			return err
		}, apperr.Invalid, "into"},
		{"into retired", func() error {
			_, err := merge.Handle(ctx, command.SubmitMergeTech{TechID: kafka.ID, IntoID: gone.ID})
			return err
		}, apperr.Invalid, "into"},
		{"merge unknown", func() error {
			_, err := merge.Handle(ctx, command.SubmitMergeTech{TechID: "nope", IntoID: kafka.ID})
			return err
		}, apperr.NotFound, ""},
	} {
		err := tc.run()
		e, ok := apperr.As(err)
		if !ok || e.Code != tc.code || e.Field != tc.field {
			t.Errorf("%s: %v, want %s on %q", tc.name, err, tc.code, tc.field)
		}
	}
}

// A curation repeated under its key is answered as the first time even when
// the first one (or one after it) changed what the status checks look at;
// another request under the key is still refused.
func TestCurationRetryIsAnsweredFromTheLog(t *testing.T) {
	t.Parallel()
	dup, target, other := newTechNamed(t, "Kafka", 1), newTechNamed(t, "Apache Kafka", 2), newTechNamed(t, "Redis", 1)
	store := newMemoryTechs(dup, target, other)
	log, bus := newMemoryCommandLog(), &recordingBus{}
	retire, merge := command.NewCurationSubmissions(store, log, bus, nil, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	change := func(id string, f func(*tech.Tech)) {
		store.mu.Lock()
		defer store.mu.Unlock()
		k := store.techs[id]
		f(&k)
		store.techs[id] = k
	}

	// Merge, then retire the target: the merge repeated is the same command.
	mergeReq := command.SubmitMergeTech{IdempotencyKey: "m", TechID: dup.ID, IntoID: target.ID}
	first, err := merge.Handle(ctx, mergeReq)
	if err != nil {
		t.Fatal(err)
	}
	change(target.ID, func(k *tech.Tech) {
		if _, err := k.Retire("", time.Now()); err != nil {
			t.Fatal(err)
		}
	})
	again, err := merge.Handle(ctx, mergeReq)
	if err != nil || again != first {
		t.Fatalf("merge repeated after the target was retired: %+v, %v; first %+v", again, err, first)
	}
	if _, err := merge.Handle(ctx, command.SubmitMergeTech{IdempotencyKey: "m", TechID: dup.ID, IntoID: other.ID}); apperr.CodeOf(err) != apperr.IdempotencyKeyReused {
		t.Fatalf("another merge under the key: %v", err)
	}
	// Without the log holding it, the same check still refuses at once.
	if _, err := merge.Handle(ctx, command.SubmitMergeTech{IdempotencyKey: "m2", TechID: dup.ID, IntoID: target.ID}); apperr.CodeOf(err) != apperr.Invalid {
		t.Fatalf("a new merge into a retired tech: %v", err)
	}

	// Retire, then merge the tech away: the retirement repeated is the same command.
	retireReq := command.SubmitRetireTech{IdempotencyKey: "r", TechID: other.ID, Reason: "old"}
	first, err = retire.Handle(ctx, retireReq)
	if err != nil {
		t.Fatal(err)
	}
	change(other.ID, func(k *tech.Tech) {
		into := newTechNamed(t, "Valkey", 1)
		if _, err := k.MergeInto(&into, tech.DefaultThresholdPolicy, time.Now()); err != nil {
			t.Fatal(err)
		}
	})
	again, err = retire.Handle(ctx, retireReq)
	if err != nil || again != first {
		t.Fatalf("retirement repeated after a merge: %+v, %v; first %+v", again, err, first)
	}
	if _, err := retire.Handle(ctx, command.SubmitRetireTech{IdempotencyKey: "r", TechID: other.ID, Reason: "else"}); apperr.CodeOf(err) != apperr.IdempotencyKeyReused {
		t.Fatalf("another retirement under the key: %v", err)
	}
}
