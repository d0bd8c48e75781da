package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/internal/groupcommit"
)

// acceptCall is one command waiting to be recorded as accepted, and then what
// the log holds under its id.
type acceptCall struct {
	groupcommit.Pending
	ID      string
	At      time.Time
	Message *keptMessage
	// Request is the fingerprint of the client's request, kept with the
	// command so that a retry under the same key can be compared with it.
	Request  string
	Accepted command.Accepted
}

// acceptColumns are the columns an accepted command is inserted with.
const acceptColumns = "id, status, accepted_at, updated_at, message_topic, message_uuid, message_payload, message_metadata, last_sent_at, request_hash"

// acceptWidth is the number of acceptColumns.
const acceptWidth = 10

// acceptArgs are the values of acceptColumns for call. A command with its
// message was last sent when it was accepted.
func (call *acceptCall) acceptArgs() []any {
	lastSent := sql.NullTime{Time: call.At, Valid: call.Message != nil}
	args := append([]any{call.ID, command.StatusPending, call.At, call.At}, call.Message.columns()...)
	return append(args, lastSent, nullIfEmpty(call.Request))
}

// acceptedCommand is a row of the commands table as a submission under its
// id must see it.
type acceptedCommand struct {
	status         command.Status
	aggregateID    sql.NullString
	request, topic sql.NullString
	// messageUUID is the UUID of the message kept with the command: each
	// message has its own, so it tells whose insert recorded the row.
	messageUUID sql.NullString
}

// answer is what call is told the log holds under its id: the topic its
// message was kept under names the command's type, so a command of another
// type under the same id is told apart even without a fingerprint.
func (known acceptedCommand) answer(call *acceptCall) command.Accepted {
	return command.Accepted{
		Status:      known.status,
		AggregateID: known.aggregateID.String,
		Request:     known.request.String,
		OtherType:   call.Message != nil && known.topic.Valid && known.topic.String != call.Message.Topic,
	}
}

// rowsQuerier is a transaction or a pool.
type rowsQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// acceptedCommands reads the rows of ids that are recorded.
func acceptedCommands(ctx context.Context, q rowsQuerier, ids []string) (map[string]acceptedCommand, error) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := q.QueryContext(ctx, "SELECT id, status, tech_id, request_hash, message_topic, message_uuid FROM commands WHERE id IN "+placeholderList(len(ids)), args...)
	if err != nil {
		return nil, fmt.Errorf("reading commands: %w", err)
	}
	defer rows.Close()
	known := make(map[string]acceptedCommand, len(ids))
	for rows.Next() {
		var (
			id string
			c  acceptedCommand
		)
		if err := rows.Scan(&id, &c.status, &c.aggregateID, &c.request, &c.topic, &c.messageUUID); err != nil {
			return nil, fmt.Errorf("reading commands: %w", err)
		}
		known[id] = c
	}
	return known, rows.Err()
}

// execer is a transaction or a pool.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// keepMessageOfRecorded gives the message of call to its command's row when
// that row is pending and holds none: a row a handler's claim inserted before
// the API recorded the command (on a transport that delivers before the send
// returns). Without the message, a command whose handler never finished
// could not be sent again.
func (l *CommandLog) keepMessageOfRecorded(ctx context.Context, q execer, call *acceptCall, known acceptedCommand) error {
	if call.Message == nil || known.topic.Valid || known.status != command.StatusPending {
		return nil
	}
	// Sent now: updated_at with last_sent_at, as the resender reads it.
	args := append(call.Message.columns(), call.At, call.At, nullIfEmpty(call.Request), call.ID, command.StatusPending)
	_, err := q.ExecContext(ctx, "UPDATE commands SET message_topic = ?, message_uuid = ?, message_payload = ?, message_metadata = ?, updated_at = ?, last_sent_at = ?, request_hash = COALESCE(request_hash, ?) WHERE id = ? AND status = ? AND message_topic IS NULL", args...)
	if err != nil {
		return fmt.Errorf("keeping the message of command %q: %w", call.ID, err)
	}
	return nil
}

// Accept records id as pending, with the message of cmd when the log keeps
// messages and the fingerprint of the request, and with WithSendInTransaction
// sends that message in the same transaction (Accepted.Sent). The commands accepted while
// the store is busy are recorded together, with one insert (recordNew). An
// id known already is left as it is: its fingerprint and type are returned
// for the submission to compare with its own.
func (l *CommandLog) Accept(ctx context.Context, id string, at time.Time, cmd any, request string) (command.Accepted, error) {
	kept, err := l.keepMessage(ctx, cmd)
	if err != nil {
		return command.Accepted{}, err
	}
	call := &acceptCall{Pending: groupcommit.NewPending(ctx), ID: id, At: at.UTC(), Message: kept, Request: request}
	l.accepts.Submit(call)
	if err := call.Await(); err != nil {
		return command.Accepted{}, err
	}
	return call.Accepted, nil
}

func (l *CommandLog) acceptBatch(ctx context.Context, batch []*acceptCall) {
	if len(batch) == 1 {
		l.acceptOne(ctx, batch[0])
		return
	}
	sent, err := l.record(ctx, batch)
	if err != nil {
		// Whatever failed must fail alone: each call is tried on its own.
		for _, call := range batch {
			if call.Abandoned() {
				call.Settle(call.Context().Err())
				continue
			}
			l.acceptOne(ctx, call)
		}
		return
	}
	if sent != nil {
		sent()
	}
	for _, call := range batch {
		call.Settle(nil)
	}
}

// acceptOne records one command as a batch of its own. What an earlier try
// in a failed batch told the call is forgotten first; a call that fails
// answers nothing but its error (Accept).
func (l *CommandLog) acceptOne(ctx context.Context, call *acceptCall) {
	call.Accepted = command.Accepted{}
	sent, err := l.record(ctx, []*acceptCall{call})
	if err != nil {
		call.Settle(err)
		return
	}
	if sent != nil {
		sent()
	}
	call.Settle(nil)
}

// record records batch and, with WithSendInTransaction, sends what it
// recorded; sent, when not nil, is what to call once that has committed.
// With nothing to send in the transaction, and every row told apart (one
// call, or a message kept for each: recordNew), the insert commits on its
// own, the batch's one round trip; otherwise the batch is a transaction: the
// insert, then the send and the commit in one round trip.
func (l *CommandLog) record(ctx context.Context, batch []*acceptCall) (sent func(), err error) {
	if !l.sendsAny(batch) && (len(batch) == 1 || keepEveryMessage(batch)) {
		return nil, l.recordOnWriter(ctx, batch)
	}
	err = l.db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		sent, err = l.acceptInTx(ctx, tx, batch)
		return err
	})
	return sent, err
}

// sendsAny tells whether the log sends a message of batch in the
// transaction that records it (WithSendInTransaction).
func (l *CommandLog) sendsAny(batch []*acceptCall) bool {
	if l.sendInTx == nil {
		return false
	}
	for _, call := range batch {
		if call.Message != nil {
			return true
		}
	}
	return false
}

// keepEveryMessage tells whether every call of batch has its message kept,
// and so a UUID of its own in the row it inserts.
func keepEveryMessage(batch []*acceptCall) bool {
	for _, call := range batch {
		if call.Message == nil {
			return false
		}
	}
	return true
}

// recordOnWriter is recordNew with an insert that commits on its own.
func (l *CommandLog) recordOnWriter(ctx context.Context, batch []*acceptCall) error {
	return l.recordNew(ctx, l.db.writer(), func(query string, args ...any) (sql.Result, error) {
		return l.db.execOnWriter(ctx, query, args...)
	}, batch)
}

// recordNew inserts the rows of batch, the first call of each id, with
// insert, and tells each call what the log then holds under its id. An id is
// nearly always new (one is made for every request that names no
// idempotency key), so the insert is all it takes, where reading the ids
// first took a statement and, outside a transaction, two round trips more
// (the read, and the commit after the insert). The rows are read back with
// q only when the insert left some out: those were recorded before, and a
// row holding a call's message UUID is the one the insert recorded for it,
// as no other row can hold that UUID (tell). When the insert recorded some
// rows but not all and a call keeps no message (keepEveryMessage), that
// cannot be told: recordNew then fails with errRowsUntold, for a
// transaction to roll back.
func (l *CommandLog) recordNew(ctx context.Context, q interface {
	rowsQuerier
	execer
}, insert func(query string, args ...any) (sql.Result, error), batch []*acceptCall) error {
	// A second call with the same id, later in the batch, finds the first.
	first := make(map[string]*acceptCall, len(batch))
	for _, call := range batch {
		if _, ok := first[call.ID]; !ok {
			first[call.ID] = call
		}
	}
	ids := make([]string, 0, len(first))
	for id := range first {
		ids = append(ids, id)
	}
	// In the order of the key, as every transaction locks commands' rows.
	ids = sortedUnique(ids)
	args := make([]any, 0, len(ids)*acceptWidth)
	for _, id := range ids {
		args = append(args, first[id].acceptArgs()...)
	}
	res, err := insert(l.acceptQuery(len(ids)), args...)
	if err != nil {
		return err
	}
	inserted, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if int(inserted) == len(ids) {
		for _, call := range batch {
			f := first[call.ID]
			if f == call {
				call.Accepted = command.Accepted{Status: command.StatusPending, Created: true}
				continue
			}
			call.Accepted = acceptedCommand{
				status: command.StatusPending, request: nullIfEmpty(f.Request), topic: f.Message.topicColumn(),
			}.answer(call)
		}
		return nil
	}
	if inserted > 0 && !keepEveryMessage(batch) {
		return errRowsUntold
	}
	return l.answerRecorded(ctx, q, ids, batch)
}

// errRowsUntold is a batch whose insert left rows out, of which some call
// keeps no message to tell its own row by: in a transaction, it rolls back
// and the calls are recorded one by one, which tells.
var errRowsUntold = errors.New("a command of the batch was recorded before, and the batch keeps no message to tell its rows by")

// acceptInTx records batch in tx and, with WithSendInTransaction, sends the
// commands it recorded; sent, when not nil, is what to call once tx has
// committed.
func (l *CommandLog) acceptInTx(ctx context.Context, tx *sql.Tx, batch []*acceptCall) (sent func(), err error) {
	err = l.recordNew(ctx, tx, func(query string, args ...any) (sql.Result, error) {
		return l.db.exec(ctx, tx, query, args...)
	}, batch)
	if err != nil {
		return nil, err
	}
	return l.sendRecorded(lastStatement(ctx), tx, batch)
}

// acceptQuery inserts n commands (acceptArgs each), but those whose ids are
// recorded.
func (l *CommandLog) acceptQuery(n int) string {
	// #nosec G202 -- only constant SQL, placeholders and the dialect's constant clauses are joined; values go as arguments
	return "INSERT INTO commands (" + acceptColumns + ") VALUES " + placeholderRows(n, acceptWidth) + l.db.sqlDialect().IgnoreDuplicateCommand
}

// answerRecorded reads the rows of ids, those of the calls of batch, after
// an insert that left some out, and tells each call what the log holds under
// its id (tell).
func (l *CommandLog) answerRecorded(ctx context.Context, q interface {
	rowsQuerier
	execer
}, ids []string, batch []*acceptCall) error {
	known, err := acceptedCommands(ctx, q, ids)
	if err != nil {
		return err
	}
	for _, call := range batch {
		c, ok := known[call.ID]
		if !ok {
			return fmt.Errorf("command %q neither inserted nor found", call.ID)
		}
		if err := l.tell(ctx, q, call, c); err != nil {
			return err
		}
	}
	return nil
}

// tell tells call what the log holds under its id, c. A row holding call's
// message UUID was recorded by call itself, in an insert that committed
// before something after it failed: call is told it recorded the command,
// as it did. Any other row was recorded before; a pending one without a
// message is given call's (keepMessageOfRecorded).
func (l *CommandLog) tell(ctx context.Context, q execer, call *acceptCall, c acceptedCommand) error {
	if call.Message != nil && c.messageUUID.Valid && c.messageUUID.String == call.Message.UUID {
		call.Accepted = command.Accepted{Status: c.status, AggregateID: c.aggregateID.String, Created: true}
		return nil
	}
	call.Accepted = c.answer(call)
	return l.keepMessageOfRecorded(ctx, q, call, c)
}

// sendRecorded sends, in tx, the message of every call of batch this
// transaction recorded (WithSendInTransaction), in order, and marks them
// sent; it returns what to call once tx has committed. Without the option it
// does nothing.
func (l *CommandLog) sendRecorded(ctx context.Context, tx *sql.Tx, batch []*acceptCall) (func(), error) {
	if l.sendInTx == nil {
		return nil, nil
	}
	var (
		topics  messagesByTopic
		sending []*acceptCall
	)
	for _, call := range batch {
		if !call.Accepted.Created || call.Message == nil {
			continue
		}
		msg, err := call.Message.message()
		if err != nil {
			return nil, fmt.Errorf("sending command %q: %w", call.ID, err)
		}
		topics.add(call.Message.Topic, msg)
		sending = append(sending, call)
	}
	if len(sending) == 0 {
		return nil, nil
	}
	statements, published, err := publishStatements(ctx, l.sendInTx, topics.publishes)
	if err != nil {
		return nil, fmt.Errorf("sending commands: %w", err)
	}
	if err := l.db.execAll(ctx, tx, statements...); err != nil {
		return nil, fmt.Errorf("sending commands: %w", err)
	}
	for _, call := range sending {
		call.Accepted.Sent = true
	}
	return published, nil
}
