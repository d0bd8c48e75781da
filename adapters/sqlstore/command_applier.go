package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/techradar/techradar/app/command"
)

// Outcome is what a change made of the command it applied.
type Outcome struct {
	// Done closes the command: it is marked processed, and a later delivery
	// of it changes nothing. A change that is not done leaves the command
	// pending: its next delivery is applied again.
	Done bool
	// AggregateID is the id of the aggregate the command changed, recorded
	// with the processed command (what the command report calls its techId);
	// "" for none.
	AggregateID string
	// Failed, when set, closes the command as failed with this reason in
	// the same transaction, and drops the events the change published: a
	// command the domain refuses (a missing tech, a rule broken) is told to
	// its client and never applied, whatever redelivers it.
	Failed string
}

// Change changes aggregates in tx and publishes on events what changed. It
// may run more than once (see ApplyCommand): it must act on tx and events
// only.
type Change func(tx *sql.Tx, events command.EventPublisher) (Outcome, error)

// CommandApplier changes existing aggregates in the transaction of the
// command that asks for it, with the guarantees every command handler needs:
// exactly-once effect under redelivery, events that exist if, and only if,
// the change commits.
type CommandApplier struct {
	db       *DB
	commands *CommandLog
	outbox   *Outbox
}

// NewCommandApplier applies commands in db, claiming them in commands and
// writing their events to outbox.
func NewCommandApplier(db *DB, commands *CommandLog, outbox *Outbox) (*CommandApplier, error) {
	if err := requireCommandParts(db, commands, outbox); err != nil {
		return nil, err
	}
	return &CommandApplier{db: db, commands: commands, outbox: outbox}, nil
}

// requireCommandParts fails unless every part that applying a command takes
// is there.
func requireCommandParts(db *DB, commands *CommandLog, outbox *Outbox) error {
	switch {
	case db == nil:
		return errors.New("nil db")
	case commands == nil:
		return errors.New("nil command log")
	case outbox == nil:
		return errors.New("nil outbox")
	}
	return nil
}

// ApplyCommand applies the command commandID through change, all in one
// transaction:
//
//  1. it claims the command: its row is locked (recorded first if the API did
//     not), so that deliveries of one command take turns. A command that is no
//     longer pending (processed, or failed) stops here: change is not called
//     and applied is false. That is how a redelivered command changes nothing
//     twice.
//  2. change loads the aggregate from tx, locking its row, applies the domain's
//     rule to it, writes it back and publishes the events of what changed.
//  3. if the outcome is Done, the command is marked processed with the
//     aggregate's id; if not, it stays pending, and its next delivery is
//     applied again (an SMS is done only once it is sent or failed).
//  4. the events change published are written to the outbox; an outcome
//     that is Failed instead marks the command failed and drops them.
//
// The relay is woken once the transaction has committed. An error from change
// (or from any step) rolls all of it back, the events with it, and is
// returned: the command is then as it was. A transaction that conflicts with
// a concurrent one is run again from step 1, change included.
//
// TechRepository.ChangeTechs (RetireTech, MergeTech) is a few lines on it:
// a change that reads the techs from tx with a locking read, runs the
// domain's rule, stores each tech that changed with one UPDATE and returns
// Outcome{Done: true, AggregateID: ...}, or Outcome{Failed: reason} when a
// tech is missing or the rule refuses, which closes the command as failed.
func (a *CommandApplier) ApplyCommand(ctx context.Context, commandID string, change Change) (applied bool, err error) {
	var batch *OutboxBatch
	err = a.db.inTx(ctx, func(tx *sql.Tx) error {
		applied, batch = false, nil
		pending, err := a.commands.ClaimCommand(ctx, tx, commandID)
		if err != nil || !pending {
			return err
		}
		if batch, err = a.outbox.Begin(); err != nil {
			return err
		}
		outcome, err := change(tx, batch.Events())
		if err != nil {
			return err
		}
		if outcome.Failed != "" {
			batch.Truncate(0)
			applied = true
			return a.commands.markFailedInTx(ctx, tx, commandID, outcome.Failed)
		}
		if outcome.Done {
			done := []ProcessedCommand{{CommandID: commandID, AggregateID: outcome.AggregateID}}
			if err := a.commands.MarkProcessed(ctx, tx, done); err != nil {
				return err
			}
		}
		applied = true
		// The last statement: it commits too.
		return a.outbox.Write(lastStatement(ctx), tx, batch)
	})
	if err != nil {
		return false, err
	}
	a.outbox.Committed(batch)
	return applied, nil
}
