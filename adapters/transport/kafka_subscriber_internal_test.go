package transport

import (
	"slices"
	"sync"
	"testing"
)

// recordedMarks are the marks a claim made.
type recordedMarks struct {
	mu    sync.Mutex
	marks []int64
}

func (r *recordedMarks) mark(_, _ int32, next int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.marks = append(r.marks, next)
}

func (r *recordedMarks) marked() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.marks)
}

func TestKafkaClaimMarksPastTheMessagesAckedWithoutAGap(t *testing.T) {
	session := &recordedMarks{}
	claim := newKafkaClaim("topic", 0, 4, session.mark)
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
// yet the records after it may still come: the claim must not mark past it.
func TestKafkaClaimAbandonedMarksNothingMore(t *testing.T) {
	session := &recordedMarks{}
	claim := newKafkaClaim("topic", 0, 1, session.mark)
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

// A claim ends when its partition is revoked or lost: its messages still in
// flight mark nothing.
func TestKafkaClaimEndsWithItsPartition(t *testing.T) {
	session := &recordedMarks{}
	claim := newKafkaClaim("topic", 0, 1, session.mark)
	if !claim.reserve(nil, nil) {
		t.Fatal("no room for the first message")
	}
	first := mustAdd(t, claim, 0)
	claim.end()
	if claim.reserve(nil, nil) {
		t.Fatal("an ended claim took a message")
	}
	claim.ack(first)
	if marks := session.marked(); len(marks) != 0 {
		t.Fatalf("an ended claim marked %v", marks)
	}
	if claim.ctx.Err() == nil {
		t.Error("an ended claim's context goes on")
	}
}

// A partition's records come in offset order; a message out of it abandons
// the claim rather than be marked past.
func TestKafkaClaimAbandonedByAMessageOutOfOrder(t *testing.T) {
	session := &recordedMarks{}
	claim := newKafkaClaim("topic", 0, 4, session.mark)
	if !claim.reserve(nil, nil) {
		t.Fatal("no room for the first message")
	}
	first := mustAdd(t, claim, 5)
	if _, ok := claim.add(5, 0); ok {
		t.Fatal("offset 5 added twice")
	}
	if _, ok := claim.add(6, 0); ok {
		t.Fatal("an abandoned claim added a message")
	}
	claim.ack(first)
	if marks := session.marked(); len(marks) != 0 {
		t.Fatalf("an abandoned claim marked %v", marks)
	}
}

func mustAdd(t *testing.T, claim *kafkaClaim, offset int64) *kafkaPending {
	t.Helper()
	p, ok := claim.add(offset, 0)
	if !ok {
		t.Fatalf("offset %d not added", offset)
	}
	return p
}
