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
)

// memoryCommandLog is the command log's contract in a map, enough to test the
// submission rules.
type memoryCommandLog struct {
	mu       sync.Mutex
	statuses map[string]command.Status
	// kept is the command each accept kept, to be sent again.
	kept map[string]any
	// err, when set, is what Accept fails with.
	err error
}

func newMemoryCommandLog() *memoryCommandLog {
	return &memoryCommandLog{statuses: map[string]command.Status{}, kept: map[string]any{}}
}

func (l *memoryCommandLog) Accept(_ context.Context, id string, _ time.Time, cmd any) (command.Status, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return "", false, l.err
	}
	if s, ok := l.statuses[id]; ok {
		return s, false, nil
	}
	l.statuses[id] = command.StatusPending
	if l.kept == nil {
		l.kept = map[string]any{}
	}
	l.kept[id] = cmd
	return command.StatusPending, true, nil
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
