package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/domain/tech"
	"github.com/techradar/techradar/internal/groupcommit"
)

// TechRepository keeps techs in a Store, SQLite or MySQL alike.
type TechRepository struct {
	store       *Store
	newEventBus EventBusFactory
	mentions    *groupcommit.Committer[*mentionCall]
}

var (
	_ command.TechRepository = (*TechRepository)(nil)
	_ query.TechReadModel    = (*TechRepository)(nil)
)

// NewTechRepository writes events through buses newEventBus builds.
func NewTechRepository(store *Store, newEventBus EventBusFactory) (*TechRepository, error) {
	if store == nil {
		return nil, errors.New("nil store")
	}
	if newEventBus == nil {
		return nil, errors.New("nil event bus factory")
	}
	r := &TechRepository{store: store, newEventBus: newEventBus}
	r.mentions = groupcommit.New(groupcommit.MaxBatch, storeWriters, &store.batches, r.mentionBatch)
	return r, nil
}

// mentionCall is one command waiting to mention its tech.
type mentionCall struct {
	groupcommit.Pending
	commandID string
	key       string
	mention   command.MentionFunc
	applied   bool
}

// MentionTech applies one mention. The mentions that arrive while the store is
// busy are applied together, in one transaction, each as if alone: in the
// order they came, each command claimed once, each failure its own.
func (r *TechRepository) MentionTech(ctx context.Context, commandID string, key string, mention command.MentionFunc) (bool, error) {
	call := &mentionCall{Pending: groupcommit.NewPending(ctx), commandID: commandID, key: key, mention: mention}
	r.mentions.Submit(call)
	if err := call.Await(); err != nil {
		return false, err
	}
	return call.applied, nil
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
		call.applied = outcomes[i].applied
		call.Settle(outcomes[i].err)
	}
}

// mentionOutcome is what became of one call of a batch.
type mentionOutcome struct {
	applied bool
	err     error
}

func (r *TechRepository) mentionInTx(ctx context.Context, batch []*mentionCall) ([]mentionOutcome, error) {
	var (
		outcomes []mentionOutcome
		outbox   *outboxPublisher
	)
	err := r.store.inTx(ctx, func(tx *sql.Tx) error {
		outcomes = make([]mentionOutcome, len(batch))
		outbox = &outboxPublisher{}
		events, err := r.newEventBus(outbox)
		if err != nil {
			return err
		}

		commandIDs := make([]string, 0, len(batch))
		for _, call := range batch {
			commandIDs = append(commandIDs, call.commandID)
		}
		pending, err := r.store.ClaimCommands(ctx, tx, commandIDs)
		if err != nil {
			return err
		}

		keys := make([]string, 0, len(batch))
		for _, call := range batch {
			if pending[call.commandID] {
				keys = append(keys, call.key)
			}
		}
		current, err := r.lockTechs(ctx, tx, keys)
		if err != nil {
			return err
		}
		existed := make(map[string]bool, len(current))
		for key := range current {
			existed[key] = true
		}

		var (
			changed   = map[string]bool{}
			processed []processedCommand
		)
		for i, call := range batch {
			if !pending[call.commandID] {
				continue
			}
			// A second delivery of a command in the same batch changes nothing.
			pending[call.commandID] = false

			var before *tech.Tech
			if t, ok := current[call.key]; ok {
				before = &t
			}
			published := len(outbox.rows)
			next, err := call.mention(call.Context(), before, events)
			if err == nil && next.Key != call.key {
				err = fmt.Errorf("mention changed the tech's key from %q to %q", call.key, next.Key)
			}
			if err != nil {
				// This call fails alone, with the events it published; the
				// command stays pending.
				outbox.rows = outbox.rows[:published]
				outcomes[i].err = err
				continue
			}
			current[call.key] = next
			changed[call.key] = true
			processed = append(processed, processedCommand{commandID: call.commandID, subjectID: next.ID})
			outcomes[i].applied = true
		}

		writes := r.techWrites(current, changed, existed)
		if len(processed) > 0 {
			writes = append(writes, markProcessed(processed))
		}
		if len(outbox.rows) > 0 {
			writes = append(writes, outboxInsert(outbox.rows))
		}
		if err := r.store.execAll(ctx, tx, writes...); err != nil {
			return fmt.Errorf("storing the batch: %w", err)
		}
		return nil
	})
	if err == nil && len(outbox.rows) > 0 {
		r.store.notifyOutbox()
	}
	return outcomes, err
}

// lockTechs reads the techs of keys and locks them for the transaction, in
// key order, so that two batches wanting the same techs take turns instead of
// deadlocking.
func (r *TechRepository) lockTechs(ctx context.Context, tx *sql.Tx, keys []string) (map[string]tech.Tech, error) {
	keys = sortedUnique(keys)
	techs := make(map[string]tech.Tech, len(keys))
	if len(keys) == 0 {
		return techs, nil
	}
	args := make([]any, len(keys))
	for i, key := range keys {
		args[i] = key
	}
	rows, err := tx.QueryContext(ctx,
		"SELECT "+techColumns+" FROM techs WHERE name_key IN "+placeholderList(len(keys))+" ORDER BY name_key"+r.store.dialect.forUpdate,
		args...)
	if err != nil {
		return nil, fmt.Errorf("reading techs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		t, err := scanTech(rows)
		if err != nil {
			return nil, fmt.Errorf("reading techs: %w", err)
		}
		techs[t.Key] = t
	}
	return techs, rows.Err()
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
	}{{created, ""}, {updated, r.store.dialect.upsertTech}} {
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

const techColumns = "id, name_key, name, mentions, priority, created_at, updated_at"

func (r *TechRepository) ListTechs(ctx context.Context, limit int, after *query.Cursor) ([]query.Tech, error) {
	q := "SELECT " + techColumns + " FROM techs"
	var args []any
	if after != nil {
		q += " WHERE priority_rank < ? OR (priority_rank = ? AND mentions < ?) OR (priority_rank = ? AND mentions = ? AND name_key > ?)"
		args = append(args, after.PriorityRank, after.PriorityRank, after.Mentions, after.PriorityRank, after.Mentions, after.Key)
	}
	q += " ORDER BY priority_rank DESC, mentions DESC, name_key LIMIT ?"
	args = append(args, limit)

	rows, err := r.store.readDB.QueryContext(ctx, q, args...)
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

func (r *TechRepository) TechByID(ctx context.Context, id string) (query.Tech, error) {
	t, err := scanTech(r.store.readDB.QueryRowContext(ctx, "SELECT "+techColumns+" FROM techs WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return query.Tech{}, apperr.NotFoundf("no tech with id %q", id)
	}
	if err != nil {
		return query.Tech{}, err
	}
	return toQueryTech(t), nil
}

func toQueryTech(t tech.Tech) query.Tech {
	return query.Tech{ID: t.ID, Name: t.Name, Key: t.Key, Mentions: t.Mentions, Priority: t.Priority, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}

func scanTech(row rowScanner) (tech.Tech, error) {
	var (
		t                    tech.Tech
		priority             string
		createdAt, updatedAt sqlTime
	)
	if err := row.Scan(&t.ID, &t.Key, &t.Name, &t.Mentions, &priority, &createdAt, &updatedAt); err != nil {
		return tech.Tech{}, err
	}
	p, err := tech.ParsePriority(priority)
	if err != nil {
		return tech.Tech{}, err
	}
	t.Priority, t.CreatedAt, t.UpdatedAt = p, createdAt.Time, updatedAt.Time
	return t, nil
}
