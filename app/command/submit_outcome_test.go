package command_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
)

// deliveringBus applies each command before Send returns, as the in-process
// transport does.
type deliveringBus struct {
	log *memoryCommandLog
}

func (b deliveringBus) Send(_ context.Context, cmd any) error {
	create := cmd.(command.CreateTech)
	b.log.process(create.CommandID, "tech-"+create.Name)
	return nil
}

// logOutcomes reads the memory log, counting the reads.
type logOutcomes struct {
	log   *memoryCommandLog
	reads atomic.Int32
	err   error
}

func (o *logOutcomes) CommandOutcome(_ context.Context, id string) (command.Status, string, error) {
	o.reads.Add(1)
	if o.err != nil {
		return "", "", o.err
	}
	o.log.mu.Lock()
	defer o.log.mu.Unlock()
	status, ok := o.log.statuses[id]
	if !ok {
		return "", "", apperr.NotFoundf("no command with id %q", id)
	}
	return status, o.log.techIDs[id], nil
}

// On a bus that delivers before Send returns, the answer is what became of
// the command, and a retry under the key answers the same.
func TestSubmitCreateTechAnswersTheOutcomeAfterDelivery(t *testing.T) {
	t.Parallel()
	log := newMemoryCommandLog()
	outcomes := &logOutcomes{log: log}
	submit := command.NewSubmitCreateTechHandler(log, deliveringBus{log}, nil, slog.New(slog.DiscardHandler),
		command.AnswerAfterDelivery(outcomes, nil))

	for range 2 {
		got, err := submit.Handle(context.Background(), command.SubmitCreateTech{CommandID: "key-1", Name: "Kafka"})
		if err != nil || got != (command.Submission{CommandID: "key-1", Status: command.StatusProcessed, TechID: "tech-Kafka"}) {
			t.Fatalf("submission = %+v, %v", got, err)
		}
	}

	// The command is accepted even when its outcome cannot be read: the
	// answer is then the one recorded before the send.
	outcomes.err = errors.New("store down")
	got, err := submit.Handle(context.Background(), command.SubmitCreateTech{CommandID: "key-2", Name: "Go"})
	if err != nil || got.Status != command.StatusPending {
		t.Fatalf("submission with the outcome unreadable = %+v, %v", got, err)
	}
}

// Without the option (a transport that only queues) nothing is read after the
// send: the answer is pending.
func TestSubmitCreateTechReadsNoOutcomeOnAQueueingBus(t *testing.T) {
	t.Parallel()
	log := newMemoryCommandLog()
	submit := command.NewSubmitCreateTechHandler(log, &recordingBus{}, nil, slog.New(slog.DiscardHandler))
	got, err := submit.Handle(context.Background(), command.SubmitCreateTech{Name: "Kafka"})
	if err != nil || got.Status != command.StatusPending || got.TechID != "" {
		t.Fatalf("submission = %+v, %v", got, err)
	}
}

// busFunc is a bus that does what its function does with each command.
type busFunc func(cmd command.CreateTech) error

func (f busFunc) Send(_ context.Context, cmd any) error { return f(cmd.(command.CreateTech)) }

// Without a key, on a bus that delivers before Send returns, the mention is
// not recorded before the send: the handler records it as it applies it, and
// the answer is what it became.
func TestSubmitCreateTechWithoutKeyRecordsNothingBeforeDelivery(t *testing.T) {
	t.Parallel()
	log := newMemoryCommandLog()
	outcomes := &logOutcomes{log: log}
	bus := busFunc(func(cmd command.CreateTech) error {
		if _, known := log.statuses[cmd.CommandID]; known {
			t.Error("the command was recorded before it was sent")
		}
		log.process(cmd.CommandID, "tech-"+cmd.Name)
		return nil
	})
	submit := command.NewSubmitCreateTechHandler(log, bus, nil, slog.New(slog.DiscardHandler),
		command.AnswerAfterDelivery(outcomes, nil))

	got, err := submit.Handle(context.Background(), command.SubmitCreateTech{Name: "Kafka"})
	if err != nil || got.CommandID == "" || got.Status != command.StatusProcessed || got.TechID != "tech-Kafka" {
		t.Fatalf("submission = %+v, %v", got, err)
	}
	if log.accepts != 0 || outcomes.reads.Load() != 1 {
		t.Fatalf("%d accepts, %d outcome reads; want 0 and 1", log.accepts, outcomes.reads.Load())
	}
}

// A mention its handler gave up on is recorded failed by the poison path,
// and the answer says so.
func TestSubmitCreateTechWithoutKeyAnswersAPoisonedCommandFailed(t *testing.T) {
	t.Parallel()
	log := newMemoryCommandLog()
	bus := busFunc(func(cmd command.CreateTech) error {
		return log.MarkFailed(context.Background(), cmd.CommandID, "poisoned")
	})
	submit := command.NewSubmitCreateTechHandler(log, bus, nil, slog.New(slog.DiscardHandler),
		command.AnswerAfterDelivery(&logOutcomes{log: log}, nil))

	got, err := submit.Handle(context.Background(), command.SubmitCreateTech{Name: "Kafka"})
	if err != nil || got.Status != command.StatusFailed {
		t.Fatalf("submission = %+v, %v", got, err)
	}
	if log.accepts != 0 {
		t.Fatalf("%d accepts, want 0", log.accepts)
	}
}

// A mention sent whose outcome is not found (the transport dropped it, or its
// handler gave it back) is recorded pending after the send, with the command
// to send again, so that the Location answered names a known command.
func TestSubmitCreateTechWithoutKeyRecordsACommandWithoutOutcome(t *testing.T) {
	t.Parallel()
	log := newMemoryCommandLog()
	outcomes := &logOutcomes{log: log}
	var sent []command.CreateTech
	bus := busFunc(func(cmd command.CreateTech) error {
		sent = append(sent, cmd)
		return nil
	})
	submit := command.NewSubmitCreateTechHandler(log, bus, nil, slog.New(slog.DiscardHandler),
		command.AnswerAfterDelivery(outcomes, nil))

	got, err := submit.Handle(context.Background(), command.SubmitCreateTech{Name: "Kafka"})
	if err != nil || got.CommandID == "" || got.Status != command.StatusPending || got.TechID != "" {
		t.Fatalf("submission = %+v, %v", got, err)
	}
	if log.accepts != 1 || log.statuses[got.CommandID] != command.StatusPending {
		t.Fatalf("%d accepts, status %q; want the command recorded pending", log.accepts, log.statuses[got.CommandID])
	}
	if len(sent) != 1 || log.kept[got.CommandID] != sent[0] {
		t.Fatalf("kept %+v, sent %+v", log.kept[got.CommandID], sent)
	}

	// An outcome that cannot be read is no answer either: the record made
	// after the send tells what the log holds, here the handler's outcome.
	outcomes.err = errors.New("store busy")
	processing := busFunc(func(cmd command.CreateTech) error {
		log.process(cmd.CommandID, "tech-"+cmd.Name)
		return nil
	})
	submit = command.NewSubmitCreateTechHandler(log, processing, nil, slog.New(slog.DiscardHandler),
		command.AnswerAfterDelivery(outcomes, nil))
	got, err = submit.Handle(context.Background(), command.SubmitCreateTech{Name: "Go"})
	if err != nil || got.Status != command.StatusProcessed || got.TechID != "tech-Go" {
		t.Fatalf("submission with the outcome unreadable = %+v, %v", got, err)
	}

	// A handler that claimed the command and gave it back (a failure, a
	// shutdown) left it pending without its message: that is no outcome
	// either, and the record made after the send keeps the message, so that
	// the command can be sent again.
	outcomes.err = nil
	givenBack := busFunc(func(cmd command.CreateTech) error {
		log.claim(cmd.CommandID)
		return nil
	})
	submit = command.NewSubmitCreateTechHandler(log, givenBack, nil, slog.New(slog.DiscardHandler),
		command.AnswerAfterDelivery(outcomes, nil))
	got, err = submit.Handle(context.Background(), command.SubmitCreateTech{Name: "Zig"})
	if err != nil || got.Status != command.StatusPending {
		t.Fatalf("submission given back = %+v, %v", got, err)
	}
	if kept, ok := log.kept[got.CommandID].(command.CreateTech); !ok || kept.Name != "Zig" {
		t.Fatalf("kept %+v for a command given back; want its message", log.kept[got.CommandID])
	}

	// When the log cannot record it either, the client is not told the
	// command is accepted.
	log.err = errors.New("store down")
	submit = command.NewSubmitCreateTechHandler(log, bus, nil, slog.New(slog.DiscardHandler),
		command.AnswerAfterDelivery(outcomes, nil))
	if _, err := submit.Handle(context.Background(), command.SubmitCreateTech{Name: "Rust"}); apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("err = %v, want unavailable", err)
	}
}

// A send that fails without a key leaves nothing recorded and is answered
// unavailable, as with one.
func TestSubmitCreateTechWithoutKeyBusDown(t *testing.T) {
	t.Parallel()
	log := newMemoryCommandLog()
	outcomes := &logOutcomes{log: log}
	submit := command.NewSubmitCreateTechHandler(log, &recordingBus{err: errors.New("transport closed")}, nil, slog.New(slog.DiscardHandler),
		command.AnswerAfterDelivery(outcomes, nil))

	_, err := submit.Handle(context.Background(), command.SubmitCreateTech{Name: "Kafka"})
	if apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if log.accepts != 0 || len(log.statuses) != 0 || outcomes.reads.Load() != 0 {
		t.Fatalf("%d accepts, %d commands, %d outcome reads after a failed send", log.accepts, len(log.statuses), outcomes.reads.Load())
	}
}

// With a key the command is recorded before it is sent, whatever the bus:
// a retry under the key must find it.
func TestSubmitCreateTechWithKeyRecordsBeforeDelivery(t *testing.T) {
	t.Parallel()
	log := newMemoryCommandLog()
	bus := busFunc(func(cmd command.CreateTech) error {
		if log.statuses[cmd.CommandID] != command.StatusPending || log.kept[cmd.CommandID] != cmd {
			t.Error("the command was sent before it was recorded")
		}
		log.process(cmd.CommandID, "tech-"+cmd.Name)
		return nil
	})
	submit := command.NewSubmitCreateTechHandler(log, bus, nil, slog.New(slog.DiscardHandler),
		command.AnswerAfterDelivery(&logOutcomes{log: log}, nil))

	got, err := submit.Handle(context.Background(), command.SubmitCreateTech{CommandID: "key-1", Name: "Kafka"})
	if err != nil || got != (command.Submission{CommandID: "key-1", Status: command.StatusProcessed, TechID: "tech-Kafka"}) {
		t.Fatalf("submission = %+v, %v", got, err)
	}
	if log.accepts != 1 {
		t.Fatalf("%d accepts, want 1", log.accepts)
	}
}
