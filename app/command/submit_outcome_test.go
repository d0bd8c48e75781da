package command_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"

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
	return o.log.statuses[id], o.log.techIDs[id], nil
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
