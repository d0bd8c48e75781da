package transport

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/IBM/sarama"
)

// recordingSession is the part of a consumer group session a claim uses:
// its context and its marks.
type recordingSession struct {
	sarama.ConsumerGroupSession
	ctx context.Context

	mu    sync.Mutex
	marks []int64
}

func (s *recordingSession) Context() context.Context { return s.ctx }

func (s *recordingSession) MarkOffset(_ string, _ int32, offset int64, _ string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.marks = append(s.marks, offset)
}

func (s *recordingSession) marked() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.marks)
}

func TestKafkaClaimMarksPastTheMessagesAckedWithoutAGap(t *testing.T) {
	session := &recordingSession{ctx: context.Background()}
	claim := newKafkaClaim(session, "topic", 0, 4)
	pending := make([]*kafkaPending, 4)
	for i := range pending {
		if !claim.reserve(nil, nil) {
			t.Fatalf("no room for message %d of 4", i)
		}
		pending[i] = mustAdd(t, claim, int64(10+i))
	}

	claim.ack(pending[1])
	claim.ack(pending[3])
	if marks := session.marked(); len(marks) != 0 {
		t.Fatalf("marked %v with the first message unacked", marks)
	}
	claim.ack(pending[0])
	if marks := session.marked(); !slices.Equal(marks, []int64{12}) {
		t.Fatalf("marked %v, want past offsets 10 and 11: [12]", marks)
	}
	// The two messages that left freed their room, and only those.
	for range 2 {
		if !claim.reserve(nil, nil) {
			t.Fatal("no room after two messages left")
		}
	}
	select {
	case claim.room <- struct{}{}:
		t.Fatal("room for a fifth message in flight")
	default:
	}
	claim.ack(pending[2])
	if marks := session.marked(); !slices.Equal(marks, []int64{12, 14}) {
		t.Fatalf("marked %v, want [12 14]", marks)
	}
}

// A message that finds no room because the subscriber closes is not added,
// yet the library reads on past it: the claim must not mark past it.
func TestKafkaClaimAbandonedMarksNothingMore(t *testing.T) {
	session := &recordingSession{ctx: context.Background()}
	claim := newKafkaClaim(session, "topic", 0, 1)
	if !claim.reserve(nil, nil) {
		t.Fatal("no room for the first message")
	}
	first := mustAdd(t, claim, 0)

	closing := make(chan struct{})
	close(closing)
	if claim.reserve(closing, nil) {
		t.Fatal("room for a second message of one")
	}
	claim.ack(first)
	// The first message's room is free again, but the claim is abandoned.
	if claim.reserve(nil, nil) {
		t.Fatal("an abandoned claim took a message")
	}
	if marks := session.marked(); len(marks) != 0 {
		t.Fatalf("an abandoned claim marked %v", marks)
	}
}

func TestKafkaClaimEndsWithItsSession(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	session := &recordingSession{ctx: ctx}
	claim := newKafkaClaim(session, "topic", 0, 1)
	if !claim.reserve(nil, nil) {
		t.Fatal("no room for the first message")
	}
	first := mustAdd(t, claim, 0)
	cancel()
	if claim.reserve(nil, nil) {
		t.Fatal("a claim whose session ended took a message")
	}
	claim.ack(first)
	if marks := session.marked(); len(marks) != 0 {
		t.Fatalf("a claim whose session ended marked %v", marks)
	}
}

// The library reads a partition's messages in offset order; a message out
// of it abandons the claim rather than be marked past.
func TestKafkaClaimAbandonedByAMessageOutOfOrder(t *testing.T) {
	session := &recordingSession{ctx: context.Background()}
	claim := newKafkaClaim(session, "topic", 0, 4)
	if !claim.reserve(nil, nil) {
		t.Fatal("no room for the first message")
	}
	first := mustAdd(t, claim, 5)
	if _, ok := claim.add(5); ok {
		t.Fatal("offset 5 added twice")
	}
	if _, ok := claim.add(6); ok {
		t.Fatal("an abandoned claim added a message")
	}
	claim.ack(first)
	if marks := session.marked(); len(marks) != 0 {
		t.Fatalf("an abandoned claim marked %v", marks)
	}
}

func mustAdd(t *testing.T, claim *kafkaClaim, offset int64) *kafkaPending {
	t.Helper()
	p, ok := claim.add(offset)
	if !ok {
		t.Fatalf("offset %d not added", offset)
	}
	return p
}
