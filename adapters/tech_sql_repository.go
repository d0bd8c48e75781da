package adapters

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/techradar/techradar/app/apperr"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/domain/tech"
)

// TechSQLRepository keeps techs in a SQLStore, SQLite or MySQL alike.
type TechSQLRepository struct {
	store       *SQLStore
	newEventBus EventBusFactory
}

var (
	_ command.TechRepository = (*TechSQLRepository)(nil)
	_ query.TechReadModel    = (*TechSQLRepository)(nil)
)

// NewTechSQLRepository writes events through buses newEventBus builds.
func NewTechSQLRepository(store *SQLStore, newEventBus EventBusFactory) (*TechSQLRepository, error) {
	if store == nil {
		return nil, errors.New("nil store")
	}
	if newEventBus == nil {
		return nil, errors.New("nil event bus factory")
	}
	return &TechSQLRepository{store: store, newEventBus: newEventBus}, nil
}

func (r *TechSQLRepository) MentionTech(ctx context.Context, commandID string, key string, mention command.MentionFunc) (bool, error) {
	var applied bool
	err := r.store.InEventTx(ctx, r.newEventBus, func(tx *sql.Tx, events command.EventPublisher) error {
		applied = false
		pending, err := r.store.ClaimCommand(ctx, tx, commandID)
		if err != nil || !pending {
			return err
		}

		current, err := scanTech(tx.QueryRowContext(ctx, "SELECT "+techColumns+" FROM techs WHERE name_key = ?"+r.store.dialect.forUpdate, key))
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("reading tech: %w", err)
		}
		var currentTech *tech.Tech
		if err == nil {
			currentTech = &current
		}

		next, err := mention(ctx, currentTech, events)
		if err != nil {
			return err
		}
		if next.Key != key {
			return fmt.Errorf("mention changed the tech's key from %q to %q", key, next.Key)
		}

		if currentTech == nil {
			_, err = tx.ExecContext(ctx,
				"INSERT INTO techs (id, name_key, name, mentions, priority, priority_rank, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
				next.ID, next.Key, next.Name, next.Mentions, next.Priority, next.Priority.Rank(), next.CreatedAt, next.UpdatedAt)
		} else {
			_, err = tx.ExecContext(ctx,
				"UPDATE techs SET mentions = ?, priority = ?, priority_rank = ?, updated_at = ? WHERE id = ?",
				next.Mentions, next.Priority, next.Priority.Rank(), next.UpdatedAt, next.ID)
		}
		if err != nil {
			return fmt.Errorf("storing tech: %w", err)
		}
		if err := r.store.MarkProcessed(ctx, tx, commandID, next.ID); err != nil {
			return err
		}
		applied = true
		return nil
	})
	return applied, err
}

const techColumns = "id, name_key, name, mentions, priority, created_at, updated_at"

func (r *TechSQLRepository) ListTechs(ctx context.Context, limit int, after *query.Cursor) ([]query.Tech, error) {
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

func (r *TechSQLRepository) TechByID(ctx context.Context, id string) (query.Tech, error) {
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
