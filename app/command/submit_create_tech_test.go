package command_test

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
)

// memoryCommandLog is the command log's contract in a map, enough to test the
// submission rules.
type memoryCommandLog struct {
	mu       sync.Mutex
	statuses map[string]command.Status
	// kept is the command each accept kept, to be sent again.
	kept map[string]any
	// requests is the fingerprint each accept kept; techIDs what processed
	// commands changed.
	requests, techIDs map[string]string
	// err, when set, is what Accept fails with.
	err error
	// accepts counts the calls of Accept.
	accepts int
	// sends, when set, makes the log send each command it records, as a log
	// on the transport's own database does (Accepted.Sent).
	sends bool
}

func newMemoryCommandLog() *memoryCommandLog {
	return &memoryCommandLog{statuses: map[string]command.Status{}, kept: map[string]any{}, requests: map[string]string{}, techIDs: map[string]string{}}
}

func (l *memoryCommandLog) Accept(_ context.Context, id string, _ time.Time, cmd any, request string) (command.Accepted, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.accepts++
	if l.err != nil {
		return command.Accepted{}, l.err
	}
	if s, ok := l.statuses[id]; ok {
		// As the store does: a pending command recorded without its
		// message (by a handler's claim) keeps the one sent now.
		if _, kept := l.kept[id]; !kept && s == command.StatusPending {
			l.kept[id] = cmd
		}
		return command.Accepted{
			Status:      s,
			AggregateID: l.techIDs[id],
			Request:     l.requests[id],
			OtherType:   reflect.TypeOf(l.kept[id]) != reflect.TypeOf(cmd),
		}, nil
	}
	l.statuses[id] = command.StatusPending
	l.kept[id] = cmd
	l.requests[id] = request
	return command.Accepted{Status: command.StatusPending, Created: true, Sent: l.sends}, nil
}

func (l *memoryCommandLog) KnownCommand(_ context.Context, id string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.statuses[id]
	return ok, l.err
}

// claim is what a handler's claim does to a command it did not find: record
// it pending, without its message, as a handler that gave it back leaves it.
func (l *memoryCommandLog) claim(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.statuses[id]; !ok {
		l.statuses[id] = command.StatusPending
	}
}

// process is what the command handler does to a command.
func (l *memoryCommandLog) process(id, techID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.statuses[id], l.techIDs[id] = command.StatusProcessed, techID
}

func (l *memoryCommandLog) Forget(_ context.Context, id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.statuses[id] == command.StatusPending {
		delete(l.statuses, id)
		delete(l.kept, id)
	}
	return nil
}

func (l *memoryCommandLog) MarkFailed(_ context.Context, id, _ string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.statuses[id] = command.StatusFailed
	return nil
}

type recordingBus struct {
	err  error
	sent []any
}

func (b *recordingBus) Send(_ context.Context, cmd any) error {
	if b.err != nil {
		return b.err
	}
	b.sent = append(b.sent, cmd)
	return nil
}

func TestSubmitCreateTech(t *testing.T) {
	t.Parallel()
	log := newMemoryCommandLog()
	bus := &recordingBus{}
	submit := command.NewSubmitCreateTechHandler(log, bus, nil, slog.New(slog.DiscardHandler))

	got, err := submit.Handle(context.Background(), command.SubmitCreateTech{Name: "  Apache   Kafka "})
	if err != nil || got.CommandID == "" || got.Status != command.StatusPending {
		t.Fatalf("submission = %+v, %v", got, err)
	}
	sent := bus.sent[0].(command.CreateTech)
	if sent.CommandID != got.CommandID || sent.Name != "Apache Kafka" || sent.RequestedAt.IsZero() {
		t.Fatalf("sent %+v", sent)
	}
	// The log keeps the command it sent, to send it again if the transport loses it.
	if kept := log.kept[got.CommandID]; kept != sent {
		t.Fatalf("kept %+v, sent %+v", kept, sent)
	}

	// A key the client chose is the command id, and a retry sends it again.
	for range 2 {
		got, err = submit.Handle(context.Background(), command.SubmitCreateTech{CommandID: "key-1", Name: "Go"})
		if err != nil || got.CommandID != "key-1" {
			t.Fatalf("keyed submission = %+v, %v", got, err)
		}
	}
	if len(bus.sent) != 3 {
		t.Fatalf("sent %d commands, want 3", len(bus.sent))
	}
}

// A retry under a key is answered as the first request was, with the tech once
// the command is processed; the key reused for another tech is refused.
func TestSubmitCreateTechIdempotencyKey(t *testing.T) {
	t.Parallel()
	log, bus := newMemoryCommandLog(), &recordingBus{}
	submit := command.NewSubmitCreateTechHandler(log, bus, nil, slog.New(slog.DiscardHandler))
	ctx := context.Background()

	first, err := submit.Handle(ctx, command.SubmitCreateTech{CommandID: "key-1", Name: "Kafka"})
	if err != nil || first != (command.Submission{CommandID: "key-1", Status: command.StatusPending}) {
		t.Fatalf("first = %+v, %v", first, err)
	}
	// The same tech spelt otherwise is the same request.
	if again, err := submit.Handle(ctx, command.SubmitCreateTech{CommandID: "key-1", Name: " kafka "}); err != nil || again != first {
		t.Fatalf("retry = %+v, %v", again, err)
	}
	log.process("key-1", "tech-kafka")
	want := command.Submission{CommandID: "key-1", Status: command.StatusProcessed, TechID: "tech-kafka"}
	if again, err := submit.Handle(ctx, command.SubmitCreateTech{CommandID: "key-1", Name: "KAFKA"}); err != nil || again != want {
		t.Fatalf("retry once processed = %+v, %v; want %+v", again, err, want)
	}

	sent := len(bus.sent)
	_, err = submit.Handle(ctx, command.SubmitCreateTech{CommandID: "key-1", Name: "Kafka Streams"})
	if e, ok := apperr.As(err); !ok || e.Code != apperr.IdempotencyKeyReused {
		t.Fatalf("another tech under the key: %v", err)
	}
	if len(bus.sent) != sent || log.statuses["key-1"] != command.StatusProcessed {
		t.Fatal("a refused request was sent or changed the command")
	}

	// A command recorded before fingerprints were kept matches any request.
	log.statuses["old"] = command.StatusPending
	log.kept["old"] = command.CreateTech{CommandID: "old"}
	if got, err := submit.Handle(ctx, command.SubmitCreateTech{CommandID: "old", Name: "Go"}); err != nil || got.CommandID != "old" {
		t.Fatalf("a command without fingerprint = %+v, %v", got, err)
	}
}

// TestSubmitCreateTechKeyNamingAMadeID: the id made for a request without a
// key is told to the client, and without authentication a key is the
// command id itself, so a later request may name that id as its key; it is
// held to the first request as any key is.
func TestSubmitCreateTechKeyNamingAMadeID(t *testing.T) {
	t.Parallel()
	log, bus := newMemoryCommandLog(), &recordingBus{}
	submit := command.NewSubmitCreateTechHandler(log, bus, nil, slog.New(slog.DiscardHandler))
	ctx := context.Background()

	first, err := submit.Handle(ctx, command.SubmitCreateTech{Name: "Kafka"})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := submit.Handle(ctx, command.SubmitCreateTech{CommandID: first.CommandID, Name: "kafka"}); err != nil || again != first {
		t.Fatalf("the same request under the made id = %+v, %v; want %+v", again, err, first)
	}
	sent := len(bus.sent)
	_, err = submit.Handle(ctx, command.SubmitCreateTech{CommandID: first.CommandID, Name: "Kafka Streams"})
	if e, ok := apperr.As(err); !ok || e.Code != apperr.IdempotencyKeyReused {
		t.Fatalf("another tech under the made id: %v", err)
	}
	if len(bus.sent) != sent {
		t.Fatal("a refused request was sent")
	}
}

func TestSubmitCreateTechRejectsBadNames(t *testing.T) {
	t.Parallel()
	bus := &recordingBus{}
	submit := command.NewSubmitCreateTechHandler(newMemoryCommandLog(), bus, nil, slog.New(slog.DiscardHandler))
	for _, name := range []string{"", "   ", "a\x00b", string(make([]byte, 101))} {
		_, err := submit.Handle(context.Background(), command.SubmitCreateTech{Name: name})
		if e, ok := apperr.As(err); !ok || e.Code != apperr.Invalid || e.Field != "name" {
			t.Errorf("name %q: %v", name, err)
		}
	}
	if len(bus.sent) != 0 {
		t.Fatal("an invalid command was sent")
	}
}

func TestSubmitCreateTechBusDown(t *testing.T) {
	t.Parallel()
	log := newMemoryCommandLog()
	submit := command.NewSubmitCreateTechHandler(log, &recordingBus{err: errors.New("broker down")}, nil, slog.New(slog.DiscardHandler))

	_, err := submit.Handle(context.Background(), command.SubmitCreateTech{CommandID: "lost", Name: "Kafka"})
	if apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if _, known := log.statuses["lost"]; known {
		t.Fatal("a command that never reached the bus is reported as pending")
	}
}

// A command log that sends each command as it records it leaves the
// submission nothing to send; a retry under the same key, which the log does
// not record again, is sent as before.
func TestSubmitCreateTechSentByTheLog(t *testing.T) {
	t.Parallel()
	log, bus := newMemoryCommandLog(), &recordingBus{}
	log.sends = true
	submit := command.NewSubmitCreateTechHandler(log, bus, nil, slog.New(slog.DiscardHandler))

	got, err := submit.Handle(context.Background(), command.SubmitCreateTech{CommandID: "key-1", Name: "Kafka"})
	if err != nil || got.Status != command.StatusPending {
		t.Fatalf("submission = %+v, %v", got, err)
	}
	if len(bus.sent) != 0 || log.statuses["key-1"] != command.StatusPending {
		t.Fatalf("%d sent on the bus, log %q; want none sent, the command pending", len(bus.sent), log.statuses["key-1"])
	}
	if _, err := submit.Handle(context.Background(), command.SubmitCreateTech{CommandID: "key-1", Name: "Kafka"}); err != nil || len(bus.sent) != 1 {
		t.Fatalf("retry: %v, %d sent; want it sent again", err, len(bus.sent))
	}
}
