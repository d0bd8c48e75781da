package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/domain/tech"
)

var _ command.TechStatusReader = (*TechRepository)(nil)

// ChangeTechs applies a curator's command to the techs of ids through
// CommandApplier.ApplyCommand: the command claimed, the techs locked in id
// order, changed, written back and the events kept in the outbox, in one
// transaction. A missing tech, or a change refused with an *apperr.Error,
// fails the command in that transaction; the refusal is returned.
func (r *TechRepository) ChangeTechs(ctx context.Context, commandID string, ids []string, change command.TechChange) (bool, error) {
	var refusal error
	applied, err := r.applier.ApplyCommand(ctx, commandID, func(tx *sql.Tx, events command.EventPublisher) (Outcome, error) {
		refusal = nil
		locked, err := r.lockTechsByID(ctx, tx, ids)
		if err != nil {
			return Outcome{}, err
		}
		techs := make([]*tech.Tech, len(ids))
		before := make([]tech.Tech, len(ids))
		for i, id := range ids {
			t, ok := locked[id]
			if !ok {
				refusal = apperr.NotFoundf("no tech with id %q", id)
				return Outcome{Failed: refusal.Error()}, nil
			}
			techs[i], before[i] = &t, t
		}
		changed, err := change(ctx, techs, events)
		if _, isRefusal := apperr.As(err); isRefusal {
			refusal = err
			return Outcome{Failed: err.Error()}, nil
		}
		if err != nil {
			return Outcome{}, err
		}
		if changed {
			for i, t := range techs {
				if *t == before[i] {
					continue
				}
				if err := r.updateTech(ctx, tx, before[i], *t); err != nil {
					return Outcome{}, err
				}
			}
		}
		// The report's techId is the tech the command leaves in the list's
		// place: the retired one, or the one merged into.
		return Outcome{Done: true, AggregateID: ids[len(ids)-1]}, nil
	})
	if err != nil {
		return false, err
	}
	if refusal != nil {
		return false, refusal
	}
	return applied, nil
}

// updateTech writes next over the locked row of before. A tech merged now
// takes the aliases merged into it along, so that every alias points at a
// tech that is not merged itself.
func (r *TechRepository) updateTech(ctx context.Context, tx *sql.Tx, before, next tech.Tech) error {
	if next.ID != before.ID || next.Key != before.Key {
		return fmt.Errorf("a change of tech %s changed its id or key", before.ID)
	}
	if _, err := r.db.exec(ctx, tx,
		"UPDATE techs SET mentions = ?, priority = ?, priority_rank = ?, updated_at = ?, retired_at = ?, retired_reason = ?, merged_into = ?, merged_at = ? WHERE id = ?",
		next.Mentions, next.Priority, next.Priority.Rank(), next.UpdatedAt.UTC(), nullIfZero(next.RetiredAt), nullIfEmpty(next.RetiredReason),
		nullIfEmpty(next.MergedInto), nullIfZero(next.MergedAt), next.ID); err != nil {
		return fmt.Errorf("storing tech: %w", err)
	}
	if next.MergedInto != "" && before.MergedInto == "" {
		if _, err := r.db.exec(ctx, tx, "UPDATE techs SET merged_into = ? WHERE merged_into = ?", next.MergedInto, next.ID); err != nil {
			return fmt.Errorf("moving aliases: %w", err)
		}
	}
	return nil
}

// lockTechsByID reads the techs of ids and locks them, in id order.
func (r *TechRepository) lockTechsByID(ctx context.Context, tx *sql.Tx, ids []string) (map[string]tech.Tech, error) {
	return r.lockTechIDs(ctx, tx, ids, idOfTech)
}

// lockMergeTargets locks the techs the merged ones of current were merged
// into, adds them to current, and returns the alias's key → the target's key.
// Aliases always point at a tech that is not merged (updateTech moves them
// along), so one step reaches it.
func (r *TechRepository) lockMergeTargets(ctx context.Context, tx *sql.Tx, current map[string]tech.Tech) (map[string]string, error) {
	var targets []string
	for _, t := range current {
		if t.MergedInto != "" {
			targets = append(targets, t.MergedInto)
		}
	}
	if len(targets) == 0 {
		return nil, nil
	}
	locked, err := r.lockTechsByID(ctx, tx, targets)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]string, len(locked))
	for _, t := range locked {
		if t.MergedInto != "" {
			return nil, fmt.Errorf("tech %s, an alias's target, is merged into %s itself", t.ID, t.MergedInto)
		}
		if _, ok := current[t.Key]; !ok {
			current[t.Key] = t
		}
		byID[t.ID] = t.Key
	}
	aliasOf := map[string]string{}
	for key, t := range current {
		if t.MergedInto == "" {
			continue
		}
		target, ok := byID[t.MergedInto]
		if !ok {
			return nil, fmt.Errorf("tech %s is merged into %s, which is missing", t.ID, t.MergedInto)
		}
		aliasOf[key] = target
	}
	return aliasOf, nil
}

// TechStatus is the status of the tech with id, read without a lock.
func (r *TechRepository) TechStatus(ctx context.Context, id string) (tech.Status, error) {
	var retired, mergedInto sql.NullString
	err := r.db.reader().QueryRowContext(ctx, "SELECT CASE WHEN retired_at IS NULL THEN NULL ELSE 'y' END, merged_into FROM techs WHERE id = ?", id).
		Scan(&retired, &mergedInto)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", apperr.NotFoundf("no tech with id %q", id)
	case err != nil:
		return "", err
	case mergedInto.Valid:
		return tech.StatusMerged, nil
	case retired.Valid:
		return tech.StatusRetired, nil
	default:
		return tech.StatusActive, nil
	}
}
