package transport

import (
	"context"
	"sync"
	"time"

	watermillsql "github.com/ThreeDotsLabs/watermill-sql/v3/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
)

// The library hands a partition's messages over one at a time: each waits
// for the one before it to be acked. A handler that waits for a shared
// commit then caps a group at one commit's wait per partition. The transport
// hands every message of a batch over at once instead, and keeps what the
// library's one-at-a-time order guaranteed: the group's offset moves only
// past messages acked, and the batch's transaction, which holds the group's
// offset row locked, stays open until every message of the batch is acked.
//
// It sits between the library and the handlers:
//   - the schema records the offsets of the rows each poll read (a batch);
//   - the library's message of every row but the last is acked as soon as
//     the handlers have their copy, so that the library hands the next one
//     over at once;
//   - the last row's message is acked once the handlers acked every copy of
//     the batch;
//   - the offset the batch acknowledges is the last of the rows acked
//     without a gap (sqlPollingOffsets), so that a batch cut short, by the
//     ack deadline or a shutdown, acknowledges only what was handled.

// sqlBatch is one poll's rows, in offset order, and the copies of their
// messages the handlers have.
type sqlBatch struct {
	mu      sync.Mutex
	offsets []int64
	// copies holds each row's latest copy once handed over: a copy the
	// handlers nack is replaced by a new one.
	copies  []*message.Message
	settled int // rows whose copy deliver saw acked
	// acknowledged is the offset the batch's transaction writes, once the
	// library asked for it.
	acknowledged int64
	// done is closed once deliver saw every row acked.
	done chan struct{}
	// abandoned is closed when the library gave up on the batch: its last
	// message was not acked within the ack deadline, or the subscription
	// stopped. The rows not acked by then are read again.
	abandoned     chan struct{}
	abandonedOnce sync.Once
}

func newSQLBatch() *sqlBatch {
	return &sqlBatch{done: make(chan struct{}), abandoned: make(chan struct{})}
}

// read records the next row of the poll.
func (b *sqlBatch) read(offset int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.offsets = append(b.offsets, offset)
}

// handOver records msg's copy as the next row's, for the library's message
// that just came: it returns the row's index, and whether it is the batch's
// last. ok is false for a message the batch has no row for, which is then
// handed over as the library would.
func (b *sqlBatch) handOver(copied *message.Message) (row int, last, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.copies) >= len(b.offsets) {
		return 0, false, false
	}
	b.copies = append(b.copies, copied)
	return len(b.copies) - 1, len(b.copies) == len(b.offsets), true
}

// resend replaces row's copy by a new one.
func (b *sqlBatch) resend(row int, copied *message.Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.copies[row] = copied
}

func (b *sqlBatch) ack() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.settled++
	if b.settled == len(b.offsets) {
		close(b.done)
	}
}

func (b *sqlBatch) abandon() {
	b.abandonedOnce.Do(func() { close(b.abandoned) })
}

// ackedThrough is the offset of the last row acked with every row before it
// acked too, and false when the first row is not acked. It looks at the
// copies themselves: an ack given right before a shutdown counts, even if
// deliver did not see it yet.
func (b *sqlBatch) ackedThrough() (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	through, ok := int64(0), false
	for i, copied := range b.copies {
		if !isAcked(copied) {
			break
		}
		through, ok = b.offsets[i], true
	}
	return through, ok
}

// acknowledging records the offset the batch's transaction writes.
func (b *sqlBatch) acknowledging(offset int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.acknowledged = offset
}

// drained reports whether the batch read every row up to the high-water
// mark (fewer than a full batch) and its transaction acknowledges them all:
// an ack that came as the ack deadline passed may have been too late for
// the library.
func (b *sqlBatch) drained(batchSize int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(b.offsets)
	return n > 0 && n < batchSize && b.acknowledged == b.offsets[n-1]
}

func isAcked(msg *message.Message) bool {
	select {
	case <-msg.Acked():
		return true
	default:
		return false
	}
}

// sqlHandover gives the handlers of one subscription the messages of a
// partition's library subscriber, a batch at a time, as described above.
type sqlHandover struct {
	polls   *sqlPolls
	output  chan<- *message.Message
	ctx     context.Context // the subscription's
	closing <-chan struct{}
	resend  time.Duration
	// sending counts the goroutines that may still send on output.
	sending *sync.WaitGroup
}

// run hands over what input brings until it is closed or the subscription
// stops.
func (h *sqlHandover) run(input <-chan *message.Message) {
	defer h.sending.Done()
	for {
		var msg *message.Message
		select {
		case m, ok := <-input:
			if !ok {
				return
			}
			msg = m
		case <-h.closing:
			return
		case <-h.ctx.Done():
			return
		}
		batch := h.polls.batch.Load()
		if batch == nil {
			h.alone(msg)
			continue
		}
		copied := msg.Copy()
		row, last, ok := batch.handOver(copied)
		if !ok {
			h.alone(msg)
			continue
		}
		h.sending.Add(1)
		go h.deliver(batch, row, copied)
		if !last {
			msg.Ack()
			continue
		}
		// The library holds the batch's transaction open until this message
		// is acked, or its ack deadline passes, or the subscription stops.
		select {
		case <-batch.done:
			msg.Ack()
		case <-msg.Context().Done():
			batch.abandon()
		case <-h.closing:
			batch.abandon()
			return
		case <-h.ctx.Done():
			batch.abandon()
			return
		}
	}
}

// alone hands msg over as the library would: acked or nacked by the handler
// itself. Every message of a poll has its row in the batch, so this is only
// a safeguard.
func (h *sqlHandover) alone(msg *message.Message) {
	select {
	case h.output <- msg:
	case <-h.closing:
	case <-h.ctx.Done():
	}
}

// deliver gives the handlers their copy of row and hands it over again,
// after the resend pause, each time they nack it, until it is acked or the
// batch is abandoned.
func (h *sqlHandover) deliver(batch *sqlBatch, row int, msg *message.Message) {
	defer h.sending.Done()
	stops := handoverStops{ended: batch.abandoned, closing: h.closing, cancelled: h.ctx.Done()}
	resent := func(copied *message.Message) { batch.resend(row, copied) }
	if deliverUntilAcked(h.ctx, h.output, msg, h.resend, stops, nil, resent) {
		batch.ack()
	}
}

// sqlPollingOffsets acknowledges, for a batch, only the rows the handlers
// acked without a gap: the library moves the offset past every message it
// handed over and saw acked, and it sees the messages before the last acked
// as soon as the handlers have them.
type sqlPollingOffsets struct {
	sqlTransportOffsets
	polls *sqlPolls
}

func (o sqlPollingOffsets) AckMessageQuery(topic string, row watermillsql.Row, consumerGroup string) watermillsql.Query {
	if batch := o.polls.batch.Load(); batch != nil {
		through, ok := batch.ackedThrough()
		if !ok {
			// Nothing to acknowledge; the library runs a statement anyway.
			return watermillsql.Query{Query: "DO 0"}
		}
		row.Offset = min(row.Offset, through)
		batch.acknowledging(row.Offset)
	}
	return o.sqlTransportOffsets.AckMessageQuery(topic, row, consumerGroup)
}
