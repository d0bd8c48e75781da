package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/domain/tech"
	"github.com/techradar/techradar/internal/groupcommit"
)

// TechRepository keeps techs in a DB, SQLite or MySQL alike, with the
// commands that change them and the events they cause.
type TechRepository struct {
	db       *DB
	commands *CommandLog
	outbox   *Outbox
	applier  *CommandApplier
	mentions *groupcommit.Committer[*mentionCall]
}

var (
	_ command.TechRepository = (*TechRepository)(nil)
	_ query.TechReadModel    = (*TechRepository)(nil)
	_ command.TechChanger    = (*TechRepository)(nil)
)

// NewTechRepository keeps techs in db, claims their commands in commands and
// writes their events to outbox.
func NewTechRepository(db *DB, commands *CommandLog, outbox *Outbox) (*TechRepository, error) {
	if err := requireCommandParts(db, commands, outbox); err != nil {
		return nil, err
	}
	applier, err := NewCommandApplier(db, commands, outbox)
	if err != nil {
		return nil, err
	}
	r := &TechRepository{db: db, commands: commands, outbox: outbox, applier: applier}
	r.mentions = newGroupCommit(db, r.mentionBatch)
	return r, nil
}

// mentionCall is one command waiting to mention its tech.
type mentionCall struct {
	groupcommit.Pending
	CommandID string
	Key       string
	Mention   command.MentionFunc
	Applied   bool
}

// MentionTech applies one mention. The mentions that arrive while the store is
// busy are applied together, in one transaction, each as if alone: in the
// order they came, each command claimed once, each failure its own.
func (r *TechRepository) MentionTech(ctx context.Context, commandID string, key string, mention command.MentionFunc) (bool, error) {
	call := &mentionCall{Pending: groupcommit.NewPending(ctx), CommandID: commandID, Key: key, Mention: mention}
	r.mentions.Submit(call)
	if err := call.Await(); err != nil {
		return false, err
	}
	return call.Applied, nil
}

func (r *TechRepository) mentionBatch(ctx context.Context, batch []*mentionCall) {
	outcomes, err := r.mentionInTx(ctx, batch)
	if err != nil && len(batch) > 1 {
		// A failure of the transaction must not fail every call in it: each is
		// tried alone, so that only the one at fault fails.
		for _, call := range batch {
			if call.Abandoned() {
				call.Settle(call.Context().Err())
				continue
			}
			r.mentionBatch(ctx, []*mentionCall{call})
		}
		return
	}
	for i, call := range batch {
		if err != nil {
			call.Settle(err)
			continue
		}
		call.Applied = outcomes[i].Applied
		call.Settle(outcomes[i].Err)
	}
}

// mentionOutcome is what became of one call of a batch.
type mentionOutcome struct {
	Applied bool
	Err     error
}

func (r *TechRepository) mentionInTx(ctx context.Context, batch []*mentionCall) ([]mentionOutcome, error) {
	var (
		outcomes   []mentionOutcome
		eventBatch *OutboxBatch
		processed  []ProcessedCommand
	)
	err := r.db.inTx(ctx, func(tx *sql.Tx) error {
		outcomes = make([]mentionOutcome, len(batch))
		processed = nil
		var err error
		if eventBatch, err = r.outbox.Begin(); err != nil {
			return err
		}

		// The commands are claimed and the techs they mention locked in one
		// round trip, so the techs of every command of the batch are
		// locked, also those of a command no longer pending (a redelivery):
		// it changes nothing, and its tech is only read.
		commandIDs := make([]string, len(batch))
		ids := make([]string, len(batch))
		for i, call := range batch {
			commandIDs[i] = call.CommandID
			ids[i] = tech.IDForKey(call.Key)
		}
		claim := r.commands.claim(commandIDs)
		current := map[string]tech.Tech{}
		if err := r.db.queryAll(ctx, tx, claim.statusRead(), r.techsRead(ids, keyOfTech, current)); err != nil {
			return err
		}
		pending, err := claim.finish(ctx, tx)
		if err != nil {
			return err
		}
		// From here on only the techs of pending commands take part: a
		// redelivered command's tech was only read.
		wanted := make(map[string]bool, len(batch))
		for _, call := range batch {
			if pending[call.CommandID] {
				wanted[call.Key] = true
			}
		}
		maps.DeleteFunc(current, func(key string, _ tech.Tech) bool { return !wanted[key] })
		// A merged duplicate's name is an alias: its mentions count for the
		// tech it was merged into.
		aliasOf, err := r.lockMergeTargets(ctx, tx, current)
		if err != nil {
			return err
		}
		existed := make(map[string]bool, len(current))
		for key := range current {
			existed[key] = true
		}

		changed := map[string]bool{}
		for i, call := range batch {
			if !pending[call.CommandID] {
				continue
			}
			// A second delivery of a command in the same batch changes nothing.
			pending[call.CommandID] = false

			key := call.Key
			if target, ok := aliasOf[key]; ok {
				key = target
			}
			var before *tech.Tech
			if t, ok := current[key]; ok {
				before = &t
			}
			published := eventBatch.Len()
			next, err := call.Mention(call.Context(), before, eventBatch.Events())
			if err == nil && next.Key != key {
				err = fmt.Errorf("mention changed the tech's key from %q to %q", key, next.Key)
			}
			if err != nil {
				// This call fails alone, with the events it published; the
				// command stays pending.
				eventBatch.Truncate(published)
				outcomes[i].Err = err
				continue
			}
			current[key] = next
			changed[key] = true
			processed = append(processed, ProcessedCommand{CommandID: call.CommandID, AggregateID: next.ID})
			outcomes[i].Applied = true
		}

		writes := r.techWrites(current, changed, existed)
		if len(processed) > 0 {
			writes = append(writes, r.commands.processedStatement(processed))
		}
		if err := r.outbox.Write(lastStatement(ctx), tx, eventBatch, writes...); err != nil {
			return fmt.Errorf("storing the batch: %w", err)
		}
		return nil
	})
	if err == nil {
		r.outbox.Committed(eventBatch)
		// Before the calls are settled: a submission asks right after its
		// handler returns.
		r.commands.rememberProcessed(processed)
	}
	return outcomes, err
}

// keyOfTech and idOfTech key the techs a read returns.
func keyOfTech(t tech.Tech) string { return t.Key }
func idOfTech(t tech.Tech) string  { return t.ID }

// lockTechIDs reads the techs whose id is one of ids and locks them, keyed
// by keyOf.
func (r *TechRepository) lockTechIDs(ctx context.Context, tx *sql.Tx, ids []string, keyOf func(tech.Tech) string) (map[string]tech.Tech, error) {
	techs := map[string]tech.Tech{}
	if len(ids) == 0 {
		return techs, nil
	}
	if err := r.db.queryAll(ctx, tx, r.techsRead(ids, keyOf, techs)); err != nil {
		return nil, err
	}
	return techs, nil
}

// techsRead reads the techs whose id is one of ids into techs, keyed by
// keyOf, and locks them by their ids and in id order, as every transaction
// that locks techs does, so that two of them wanting the same techs take
// turns instead of deadlocking. There must be at least one id.
func (r *TechRepository) techsRead(ids []string, keyOf func(tech.Tech) string, techs map[string]tech.Tech) rowsRead {
	values := sortedUnique(ids)
	args := make([]any, len(values))
	for i, value := range values {
		args[i] = value
	}
	// #nosec G202 -- only constant SQL, placeholders and the dialect's constant clauses are joined; values go as arguments
	query := "SELECT " + techColumns + " FROM techs WHERE id IN " + placeholderList(len(values)) + " ORDER BY id" + r.db.sqlDialect().ForUpdate
	return rowsRead{statement{query, args}, "reading techs", func(rows *sql.Rows) error {
		for rows.Next() {
			t, err := scanTech(rows)
			if err != nil {
				return err
			}
			techs[keyOf(t)] = t
		}
		return nil
	}}
}

// techWrites are the statements that store the techs of changed keys: those
// that were not in the store yet with a plain insert, which fails if a
// concurrent transaction created the tech meanwhile (the batch is then run
// again and finds it), and those that were, locked since, with an upsert that
// updates them.
func (r *TechRepository) techWrites(techs map[string]tech.Tech, changed, existed map[string]bool) []statement {
	var created, updated []string
	for key := range changed {
		if existed[key] {
			updated = append(updated, key)
		} else {
			created = append(created, key)
		}
	}
	var statements []statement
	for _, write := range []struct {
		keys   []string
		suffix string
	}{{created, ""}, {updated, r.db.sqlDialect().UpsertTech}} {
		if len(write.keys) == 0 {
			continue
		}
		slices.Sort(write.keys)
		args := make([]any, 0, 8*len(write.keys))
		for _, key := range write.keys {
			t := techs[key]
			args = append(args, t.ID, t.Key, t.Name, t.Mentions, t.Priority, t.Priority.Rank(), t.CreatedAt, t.UpdatedAt)
		}
		statements = append(statements, statement{
			"INSERT INTO techs (id, name_key, name, mentions, priority, priority_rank, created_at, updated_at) VALUES " +
				placeholderRows(len(write.keys), 8) + write.suffix,
			args,
		})
	}
	return statements
}

const techColumns = "id, name_key, name, mentions, priority, created_at, updated_at, retired_at, retired_reason, merged_into, merged_at"

// listedTechs is the condition of the techs the list shows: neither retired
// nor merged.
const listedTechs = "retired_at IS NULL AND merged_into IS NULL"

func (r *TechRepository) ListTechs(ctx context.Context, limit int, after *query.Cursor) ([]query.Tech, error) {
	q, args := r.listQuery(limit, after)
	rows, err := r.db.reader().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()

	techs := make([]query.Tech, 0, limit)
	for rows.Next() {
		t, err := scanTech(rows)
		if err != nil {
			return nil, err
		}
		techs = append(techs, toQueryTech(t))
	}
	return techs, rows.Err()
}

// listQuery reads a page of the list: limit techs in the list's order, after
// the cursor when there is one.
func (r *TechRepository) listQuery(limit int, after *query.Cursor) (string, []any) {
	// #nosec G202 -- only constants of the code and the dialect are joined; values go as arguments
	q := "SELECT " + techColumns + " FROM " + r.db.sqlDialect().ListedTechs + " WHERE " + listedTechs
	var args []any
	if after != nil {
		q += " AND (priority_rank < ? OR (priority_rank = ? AND mentions < ?) OR (priority_rank = ? AND mentions = ? AND name_key > ?))"
		args = append(args, after.PriorityRank, after.PriorityRank, after.Mentions, after.PriorityRank, after.Mentions, after.Key)
	}
	q += " ORDER BY priority_rank DESC, mentions DESC, name_key LIMIT ?"
	return q, append(args, limit)
}

func (r *TechRepository) TechByID(ctx context.Context, id string) (query.Tech, error) {
	t, err := scanTech(r.db.reader().QueryRowContext(ctx, "SELECT "+techColumns+" FROM techs WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return query.Tech{}, apperr.NotFoundf("no tech with id %q", id)
	}
	if err != nil {
		return query.Tech{}, err
	}
	return toQueryTech(t), nil
}

func toQueryTech(t tech.Tech) query.Tech {
	q := query.Tech{
		ID: t.ID, Name: t.Name, Key: t.Key, Mentions: t.Mentions, Priority: t.Priority, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
		Status: t.Status(), RetiredReason: t.RetiredReason, MergedInto: t.MergedInto,
	}
	if !t.RetiredAt.IsZero() {
		q.RetiredAt = &t.RetiredAt
	}
	if !t.MergedAt.IsZero() {
		q.MergedAt = &t.MergedAt
	}
	return q
}

func scanTech(row rowScanner) (tech.Tech, error) {
	var (
		t                    tech.Tech
		priority             string
		createdAt, updatedAt sqlTime
		retiredAt, mergedAt  nullSQLTime
		reason, mergedInto   sql.NullString
	)
	if err := row.Scan(&t.ID, &t.Key, &t.Name, &t.Mentions, &priority, &createdAt, &updatedAt, &retiredAt, &reason, &mergedInto, &mergedAt); err != nil {
		return tech.Tech{}, err
	}
	p, err := tech.ParsePriority(priority)
	if err != nil {
		return tech.Tech{}, err
	}
	t.Priority, t.CreatedAt, t.UpdatedAt = p, createdAt.Time, updatedAt.Time
	t.RetiredAt, t.RetiredReason, t.MergedInto, t.MergedAt = retiredAt.Time, reason.String, mergedInto.String, mergedAt.Time
	return t, nil
}
