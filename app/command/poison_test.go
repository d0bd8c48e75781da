package command_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
)

// memoryPoisonQueue is the poison queue's contract in a map.
type memoryPoisonQueue struct {
	mu       sync.Mutex
	next     int64
	messages map[int64]command.PoisonedMessage
}

func newMemoryPoisonQueue(messages ...command.PoisonedMessage) *memoryPoisonQueue {
	q := &memoryPoisonQueue{messages: map[int64]command.PoisonedMessage{}}
	for _, m := range messages {
		_ = q.Add(context.Background(), m)
	}
	return q
}

func (q *memoryPoisonQueue) Add(_ context.Context, m command.PoisonedMessage) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, kept := range q.messages {
		if kept.UUID == m.UUID && kept.Handler == m.Handler {
			return nil
		}
	}
	q.next++
	m.ID = q.next
	q.messages[m.ID] = m
	return nil
}

func (q *memoryPoisonQueue) Poisoned(_ context.Context, ids []int64) ([]command.PoisonedMessage, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []command.PoisonedMessage
	for _, id := range slices.Sorted(slices.Values(ids)) {
		if m, ok := q.messages[id]; ok {
			out = append(out, m)
		}
	}
	return out, nil
}

func (q *memoryPoisonQueue) OldestIDs(_ context.Context, limit int) ([]int64, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var ids []int64
	for id := range q.messages {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids[:min(limit, len(ids))], nil
}

func (q *memoryPoisonQueue) Delete(_ context.Context, id int64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.messages, id)
	return nil
}

func (q *memoryPoisonQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.messages)
}

// recordingRequeuer takes the payload of a message on a command topic as the
// command's id, and records what it requeues.
type recordingRequeuer struct {
	err      error
	requeued []string
}

func (r *recordingRequeuer) CommandID(m command.PoisonedMessage) string {
	if m.Topic != "commands" {
		return ""
	}
	return string(m.Payload)
}

func (r *recordingRequeuer) Requeue(_ context.Context, m command.PoisonedMessage) error {
	if r.err != nil {
		return r.err
	}
	r.requeued = append(r.requeued, m.UUID)
	return nil
}

func (l *memoryCommandLog) ReopenFailed(_ context.Context, id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.statuses[id] == command.StatusFailed {
		l.statuses[id] = command.StatusPending
	}
	return nil
}

func poisoned(uuid, topic, payload string) command.PoisonedMessage {
	return command.PoisonedMessage{UUID: uuid, Topic: topic, Handler: "h", Reason: "bad", Payload: []byte(payload)}
}

func TestRecordPoisonedMessageKeepsItAndFailsItsCommand(t *testing.T) {
	t.Parallel()
	queue := newMemoryPoisonQueue()
	commands := &memoryCommandLog{statuses: map[string]command.Status{"c1": command.StatusPending}}
	record := command.NewRecordPoisonedMessageHandler(queue, commands, slog.New(slog.DiscardHandler))

	for range 2 { // a redelivery changes nothing
		if err := record.Handle(context.Background(), command.RecordPoisonedMessage{Message: poisoned("m1", "commands", "c1"), CommandID: "c1"}); err != nil {
			t.Fatal(err)
		}
	}
	if queue.len() != 1 || commands.statuses["c1"] != command.StatusFailed {
		t.Fatalf("kept %d, command %s", queue.len(), commands.statuses["c1"])
	}
	if err := record.Handle(context.Background(), command.RecordPoisonedMessage{Message: command.PoisonedMessage{UUID: "m2"}}); err == nil {
		t.Fatal("a poisoned message without its topic was recorded")
	}
}

func TestRequeuePoisonedMessages(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.DiscardHandler)
	t.Run("all: commands reopened, messages requeued in order and forgotten", func(t *testing.T) {
		t.Parallel()
		queue := newMemoryPoisonQueue(poisoned("m1", "commands", "c1"), poisoned("m2", "events", "e"), poisoned("m3", "commands", "c3"))
		commands := &memoryCommandLog{statuses: map[string]command.Status{"c1": command.StatusFailed, "c3": command.StatusFailed}}
		requeuer := &recordingRequeuer{}
		requeue := command.NewRequeuePoisonedMessagesHandler(queue, commands, requeuer, logger)
		n, err := requeue.Handle(context.Background(), command.RequeuePoisonedMessages{All: true})
		if err != nil || n != 3 {
			t.Fatalf("requeued %d, %v", n, err)
		}
		if !slices.Equal(requeuer.requeued, []string{"m1", "m2", "m3"}) || queue.len() != 0 {
			t.Fatalf("requeued %v, %d left", requeuer.requeued, queue.len())
		}
		if commands.statuses["c1"] != command.StatusPending || commands.statuses["c3"] != command.StatusPending {
			t.Fatalf("commands %v", commands.statuses)
		}
	})
	t.Run("an unknown id requeues nothing", func(t *testing.T) {
		t.Parallel()
		queue := newMemoryPoisonQueue(poisoned("m1", "events", ""))
		requeuer := &recordingRequeuer{}
		requeue := command.NewRequeuePoisonedMessagesHandler(queue, &memoryCommandLog{statuses: map[string]command.Status{}}, requeuer, logger)
		_, err := requeue.Handle(context.Background(), command.RequeuePoisonedMessages{IDs: []int64{1, 7}})
		if apperr.CodeOf(err) != apperr.NotFound || len(requeuer.requeued) != 0 || queue.len() != 1 {
			t.Fatalf("err %v, requeued %v", err, requeuer.requeued)
		}
	})
	t.Run("a failed publish keeps the message", func(t *testing.T) {
		t.Parallel()
		queue := newMemoryPoisonQueue(poisoned("m1", "events", ""))
		requeuer := &recordingRequeuer{err: errors.New("transport down")}
		requeue := command.NewRequeuePoisonedMessagesHandler(queue, &memoryCommandLog{statuses: map[string]command.Status{}}, requeuer, logger)
		if n, err := requeue.Handle(context.Background(), command.RequeuePoisonedMessages{IDs: []int64{1}}); err == nil || n != 0 || queue.len() != 1 {
			t.Fatalf("requeued %d, %v, %d left", n, err, queue.len())
		}
	})
	t.Run("nothing named", func(t *testing.T) {
		t.Parallel()
		requeue := command.NewRequeuePoisonedMessagesHandler(newMemoryPoisonQueue(), &memoryCommandLog{}, &recordingRequeuer{}, logger)
		if _, err := requeue.Handle(context.Background(), command.RequeuePoisonedMessages{}); apperr.CodeOf(err) != apperr.Invalid {
			t.Fatalf("err %v", err)
		}
	})
}

func TestDeletePoisonedMessages(t *testing.T) {
	t.Parallel()
	queue := newMemoryPoisonQueue(poisoned("m1", "events", ""), poisoned("m2", "events", ""))
	deleteHandler := command.NewDeletePoisonedMessagesHandler(queue, slog.New(slog.DiscardHandler))
	if err := deleteHandler.Handle(context.Background(), command.DeletePoisonedMessages{IDs: []int64{1, 3}}); apperr.CodeOf(err) != apperr.NotFound || queue.len() != 2 {
		t.Fatalf("an unknown id: %v, %d left", err, queue.len())
	}
	if err := deleteHandler.Handle(context.Background(), command.DeletePoisonedMessages{IDs: []int64{1}}); err != nil || queue.len() != 1 {
		t.Fatalf("%v, %d left", err, queue.len())
	}
}
