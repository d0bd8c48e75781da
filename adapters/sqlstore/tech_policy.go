package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/domain/tech"
)

var _ command.PolicyStore = (*TechRepository)(nil)

// claimAttempts bounds the conditional updates ClaimRerank tries: each
// failure means another process changed the row since it was read.
const claimAttempts = 3

// ClaimRerank claims the re-ranking to policy with a conditional update of
// the priority_policy row on the version it read (see command.PolicyStore).
func (r *TechRepository) ClaimRerank(ctx context.Context, policy tech.ThresholdPolicy, now, until time.Time) (bool, error) {
	for attempt := 0; attempt < claimAttempts; attempt++ {
		var (
			medium, high, reranked int
			claimedUntil           nullSQLTime
			version                int64
		)
		if err := r.db.writer().QueryRowContext(ctx,
			"SELECT medium_at, high_at, reranked, claimed_until, version FROM priority_policy WHERE id = 1").
			Scan(&medium, &high, &reranked, &claimedUntil, &version); err != nil {
			return false, fmt.Errorf("reading the stored priority policy: %w", err)
		}
		if medium == policy.Medium && high == policy.High &&
			(reranked == 1 || claimedUntil.Time.After(now)) {
			return false, nil
		}
		res, err := r.db.writer().ExecContext(ctx,
			"UPDATE priority_policy SET medium_at = ?, high_at = ?, reranked = 0, claimed_until = ?, version = version + 1, updated_at = ? WHERE id = 1 AND version = ?",
			policy.Medium, policy.High, until.UTC(), now.UTC(), version)
		if err != nil {
			return false, fmt.Errorf("claiming the re-ranking: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err == nil, err
		}
	}
	// Others keep changing the row: one of them re-ranks.
	return false, nil
}

// RerankBatch recomputes the priorities of one batch of techs, in id order,
// locking only them and for one short transaction. It first locks the
// priority_policy row and reads it: a claim of another policy meanwhile
// (PRIORITY_* changed again) ends this re-ranking with
// command.ErrRerankSuperseded, and the lock keeps such a claim from landing
// until this batch is committed.
func (r *TechRepository) RerankBatch(ctx context.Context, after string, limit int, policy tech.ThresholdPolicy) (string, int, error) {
	var (
		next    string
		changed int
	)
	err := r.db.inTx(ctx, func(tx *sql.Tx) error {
		next, changed = "", 0
		var stored tech.ThresholdPolicy
		// #nosec G202 -- only constant SQL and the dialect's constant clause are joined
		if err := r.db.queryRow(ctx, tx, "SELECT medium_at, high_at FROM priority_policy WHERE id = 1"+r.db.sqlDialect().ForUpdate).
			Scan(&stored.Medium, &stored.High); err != nil {
			return fmt.Errorf("reading the stored priority policy: %w", err)
		}
		if stored != policy {
			return command.ErrRerankSuperseded
		}
		// #nosec G202 -- only constant SQL, placeholders and the dialect's constant clauses are joined; values go as arguments
		rows, err := r.db.query(ctx, tx, "SELECT id, mentions, priority FROM techs WHERE id > ? ORDER BY id LIMIT ?"+r.db.sqlDialect().ForUpdate, after, limit)
		if err != nil {
			return fmt.Errorf("reading techs: %w", err)
		}
		moved := map[tech.Priority][]any{}
		for rows.Next() {
			var t tech.Tech
			if err := rows.Scan(&t.ID, &t.Mentions, &t.Priority); err != nil {
				_ = rows.Close()
				return fmt.Errorf("reading techs: %w", err)
			}
			next = t.ID
			if t.Rerank(policy) {
				moved[t.Priority] = append(moved[t.Priority], t.ID)
				changed++
			}
		}
		_ = rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reading techs: %w", err)
		}
		var updates []statement
		for priority, ids := range moved {
			updates = append(updates, statement{
				"UPDATE techs SET priority = ?, priority_rank = ? WHERE id IN " + placeholderList(len(ids)),
				append([]any{priority, priority.Rank()}, ids...),
			})
		}
		return r.db.execAll(ctx, tx, updates...)
	})
	if err != nil {
		return "", 0, err
	}
	return next, changed, nil
}

// FinishRerank records that the stored priorities follow policy and keeps
// done in the outbox when it changed any, in one transaction; nothing when
// another process has claimed another policy since.
func (r *TechRepository) FinishRerank(ctx context.Context, policy tech.ThresholdPolicy, done tech.TechsReranked) error {
	var batch *OutboxBatch
	err := r.db.inTx(ctx, func(tx *sql.Tx) error {
		batch = nil
		res, err := r.db.exec(ctx, tx,
			"UPDATE priority_policy SET reranked = 1, claimed_until = NULL, version = version + 1, updated_at = ? WHERE id = 1 AND medium_at = ? AND high_at = ? AND reranked = 0",
			time.Now().UTC(), policy.Medium, policy.High)
		if err != nil {
			return fmt.Errorf("recording the priority policy: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		if done.Changed == 0 {
			// No priority moved (as on a new database): no reader has
			// anything to drop.
			return nil
		}
		if batch, err = r.outbox.Begin(); err != nil {
			return err
		}
		if err := batch.Events().Publish(ctx, done); err != nil {
			return err
		}
		// The last statement: it commits too.
		return r.outbox.Write(lastStatement(ctx), tx, batch)
	})
	if err != nil {
		return err
	}
	r.outbox.Committed(batch)
	return nil
}

// StoredPolicy is the policy the stored priorities follow, and whether a
// re-ranking to it is done; medium 0 is none yet.
func (r *TechRepository) StoredPolicy(ctx context.Context) (policy tech.ThresholdPolicy, reranked bool, err error) {
	var done int
	err = r.db.reader().QueryRowContext(ctx, "SELECT medium_at, high_at, reranked FROM priority_policy WHERE id = 1").
		Scan(&policy.Medium, &policy.High, &done)
	return policy, done == 1, err
}
