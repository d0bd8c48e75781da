package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/internal/groupcommit"
)

// Reader lets the contract suites look at tables no port reads (the outbox).
func (db *DB) Reader() *sql.DB { return db.reader() }

// Writer lets a suite create tables of its own.
func (db *DB) Writer() *sql.DB { return db.writeDB }

// QueuedAccept is one of the accepts AcceptTogether records as one batch.
type QueuedAccept struct {
	ID      string
	Command any
	Request string
}

// call is a as Accept makes it, with its message kept.
func (a QueuedAccept) call(ctx context.Context, at time.Time, kept *keptMessage) *acceptCall {
	return &acceptCall{Pending: groupcommit.NewPending(ctx), ID: a.ID, At: at.UTC(), Message: kept, Request: a.Request}
}

// AcceptTogether records accepts as one batch, as the group commit hands
// over the accepts that queued while the store was busy, and returns what
// each was told.
func (l *CommandLog) AcceptTogether(ctx context.Context, at time.Time, accepts []QueuedAccept) ([]command.Accepted, error) {
	batch := make([]*acceptCall, len(accepts))
	for i, a := range accepts {
		kept, err := l.keepMessage(ctx, a.Command)
		if err != nil {
			return nil, err
		}
		batch[i] = a.call(ctx, at, kept)
	}
	l.acceptBatch(ctx, batch)
	answers := make([]command.Accepted, len(batch))
	for i, call := range batch {
		if err := call.Await(); err != nil {
			return nil, err
		}
		answers[i] = call.Accepted
	}
	return answers, nil
}

// AcceptAlone records a as the group commit does a call tried on its own,
// twice, as after an insert that committed before what followed it failed,
// and returns what the call was told each time.
func (l *CommandLog) AcceptAlone(ctx context.Context, at time.Time, a QueuedAccept) (first, again command.Accepted, err error) {
	kept, err := l.keepMessage(ctx, a.Command)
	if err != nil {
		return first, again, err
	}
	for i, answer := range []*command.Accepted{&first, &again} {
		call := a.call(ctx, at, kept)
		l.acceptOne(ctx, call)
		if err := call.Await(); err != nil {
			return first, again, fmt.Errorf("accept %d: %w", i, err)
		}
		*answer = call.Accepted
	}
	return first, again, nil
}
