package command

import (
	"context"

	"github.com/google/uuid"

	"github.com/techradar/techradar/app/apperr"
)

// submission is what every submission does once it has validated the
// client's request: record it, then send the command that carries it to its
// handler. The record comes first, so that a command a handler gets is always
// known; when the send fails, the record this submission made is removed again,
// for the client is told the command was not accepted and must not find it
// pending. (recordOnlyIfUnsettled reverses the order where the handler's
// own transaction records the command: see submitTechCommand.)
type submission[R any] struct {
	// what names the record in errors: "the command", "the SMS".
	what string
	// record stores the request unless its id is known already, and returns
	// what is stored under the id and whether this call stored it.
	record func(ctx context.Context) (stored R, created bool, err error)
	// command is the command to send for what is stored, or nil when there is
	// nothing left to do (the record's own transaction sent it, for one). A
	// record already known is sent again: if its first send was lost the
	// handler gets it now, and if not the handler skips it.
	command func(stored R) (any, error)
	// keep, when set, records the command in the command log before it is
	// sent, for a record that is not the command log's own (an SMS): the log
	// keeps the command to send it again if the transport loses it. sent
	// says the log sent it too, as it recorded it (Accepted.Sent). An
	// *apperr.Error it returns is the client's answer (a reused key).
	keep func(ctx context.Context, cmd any) (sent bool, err error)
	// forget removes the record this call made.
	forget func(ctx context.Context) error
	// settled, when set, is what stored has become once the command was sent,
	// and whether it could be read: set for a bus that delivers before Send
	// returns (AnswerAfterDelivery). When it cannot read, the answer is
	// stored: the command is accepted, and the answer recorded before the
	// send is still a true one for a moment.
	settled func(ctx context.Context, stored R) (R, bool)
	// recordOnlyIfUnsettled, with settled, sends the command before anything
	// is recorded, and records it (record, then answering what it stored)
	// only when settled cannot tell what became of it. The submission saves
	// a write for each command its handler records itself; its caller sets
	// it only where that keeps every guarantee (see submitTechCommand).
	// command then gets the zero R: nothing is stored before the send.
	recordOnlyIfUnsettled bool
}

func (s submission[R]) submit(ctx context.Context, bus CommandBus) (R, error) {
	var none R
	if s.recordOnlyIfUnsettled && s.settled != nil {
		return s.sendThenRecord(ctx, bus)
	}
	stored, created, err := s.record(ctx)
	if err != nil {
		return none, apperr.Unavailablef(err, "cannot record %s", s.what)
	}
	cmd, err := s.command(stored)
	if err != nil || cmd == nil {
		return stored, err
	}
	forgetIfCreated := func() {
		if created {
			_ = s.forget(context.WithoutCancel(ctx))
		}
	}
	sent := false
	if s.keep != nil {
		if sent, err = s.keep(ctx, cmd); err != nil {
			forgetIfCreated()
			// An error of the application's (a reused key) is the answer;
			// any other is the log's failure.
			if _, ok := apperr.As(err); !ok {
				err = apperr.Unavailablef(err, "cannot record the command")
			}
			return none, err
		}
	}
	if !sent {
		if err := bus.Send(ctx, cmd); err != nil {
			forgetIfCreated()
			return none, apperr.Unavailablef(err, "cannot send the command")
		}
	}
	if s.settled != nil {
		if settled, ok := s.settled(ctx, stored); ok {
			return settled, nil
		}
	}
	return stored, nil
}

// sendThenRecord is submit for recordOnlyIfUnsettled. A send that fails has
// left nothing behind to forget; a command sent whose outcome cannot be read
// (its handler gave it back, or the transport dropped it) is recorded now, so
// that the client is never told of a command the log does not know.
func (s submission[R]) sendThenRecord(ctx context.Context, bus CommandBus) (R, error) {
	var none R
	cmd, err := s.command(none)
	if err != nil || cmd == nil {
		return none, err
	}
	if err := bus.Send(ctx, cmd); err != nil {
		return none, apperr.Unavailablef(err, "cannot send the command")
	}
	if settled, ok := s.settled(ctx, none); ok {
		return settled, nil
	}
	stored, _, err := s.record(ctx)
	if err != nil {
		return none, apperr.Unavailablef(err, "cannot record %s", s.what)
	}
	return stored, nil
}

// newCommandID is the id of a command the client gave no key for: a UUIDv7,
// so that ids sort by the time they were made.
func newCommandID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", err
	}
	return id.String(), nil
}
