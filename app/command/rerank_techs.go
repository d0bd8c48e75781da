package command

import (
	"context"
	"log/slog"
	"time"

	"github.com/techradar/techradar/domain/tech"
)

// RerankBatchSize is how many techs one transaction of a re-ranking takes:
// few enough that no mention waits long on their locks.
const RerankBatchSize = 500

// RerankClaimFor is how long a claim on a re-ranking holds before another
// process may take it over: a worker that died in one leaves it to the next
// start. Two processes re-ranking at once do no harm, only twice the work.
const RerankClaimFor = 5 * time.Minute

// PolicyStore keeps the priority policy the stored priorities follow, and
// re-ranks the stored techs to a new one.
type PolicyStore interface {
	// ClaimRerank records policy as the one the stored priorities are to
	// follow and claims the re-ranking to it until until. It is a
	// conditional update of what it read, so that of the processes that
	// start together one claims it. claimed is false when there is nothing
	// to do: the priorities follow policy already, or another process holds
	// an unexpired claim to re-rank to it.
	ClaimRerank(ctx context.Context, policy tech.ThresholdPolicy, now, until time.Time) (claimed bool, err error)
	// RerankBatch recomputes under policy the priorities of up to limit
	// techs whose ids sort after after, in one short transaction; next is
	// the last id it read, "" once none is left.
	RerankBatch(ctx context.Context, after string, limit int, policy tech.PriorityPolicy) (next string, changed int, err error)
	// FinishRerank marks the re-ranking to policy done, unless another
	// claim took over meanwhile, and keeps the event in the outbox in the
	// same transaction.
	FinishRerank(ctx context.Context, policy tech.ThresholdPolicy, done tech.TechsReranked) error
}

// RerankTechs makes every stored priority follow the policy in force. A
// worker runs it once as it starts.
type RerankTechs struct {
	policy tech.ThresholdPolicy
	store  PolicyStore
	now    func() time.Time
	logger *slog.Logger
}

// NewRerankTechs builds the use case; now may be nil for the wall clock.
func NewRerankTechs(store PolicyStore, policy tech.ThresholdPolicy, now func() time.Time, logger *slog.Logger) RerankTechs {
	if store == nil {
		panic("nil store")
	}
	if logger == nil {
		panic("nil logger")
	}
	if now == nil {
		now = time.Now
	}
	return RerankTechs{policy: policy, store: store, now: now, logger: logger}
}

// Run re-ranks every tech in batches when the stored priorities were
// computed under another policy, then records the policy and publishes
// TechsReranked, which invalidates the read model.
func (r RerankTechs) Run(ctx context.Context) error {
	now := r.now().UTC()
	claimed, err := r.store.ClaimRerank(ctx, r.policy, now, now.Add(RerankClaimFor))
	if err != nil || !claimed {
		return err
	}
	r.logger.InfoContext(ctx, "priority policy changed: re-ranking every tech",
		slog.Int("medium_at", r.policy.Medium), slog.Int("high_at", r.policy.High))
	var after string
	changed := 0
	for {
		next, n, err := r.store.RerankBatch(ctx, after, RerankBatchSize, r.policy)
		if err != nil {
			return err
		}
		changed += n
		if next == "" {
			break
		}
		after = next
	}
	done := tech.TechsReranked{MediumAt: r.policy.Medium, HighAt: r.policy.High, Changed: changed, OccurredAt: r.now().UTC()}
	if err := r.store.FinishRerank(ctx, r.policy, done); err != nil {
		return err
	}
	r.logger.InfoContext(ctx, "techs re-ranked", slog.Int("changed", changed))
	return nil
}
