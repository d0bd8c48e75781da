package command

import (
	"context"
	"errors"
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

// The first and the longest wait before a re-ranking that failed (the store
// unreachable a moment) tries again: it must not stay half done until the
// next start.
const (
	rerankRetryFirst = time.Second
	rerankRetryMax   = time.Minute
)

// ErrRerankSuperseded is what RerankBatch answers once the stored policy is
// no longer the one being re-ranked to: a process started with other
// thresholds has claimed the re-ranking, and it alone goes on.
var ErrRerankSuperseded = errors.New("another priority policy was claimed meanwhile")

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
	// the last id it read, "" once none is left. It answers
	// ErrRerankSuperseded, changing nothing, when the stored policy is no
	// longer policy, checked in the same transaction.
	RerankBatch(ctx context.Context, after string, limit int, policy tech.ThresholdPolicy) (next string, changed int, err error)
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
// TechsReranked, which invalidates the read model. A step that fails is tried
// again, from where it stopped, after a wait that doubles from
// rerankRetryFirst up to rerankRetryMax, until the re-ranking is done,
// superseded by another policy's claim, or ctx ends.
func (r RerankTechs) Run(ctx context.Context) error {
	var (
		run  rerankRun
		wait = rerankRetryFirst
	)
	for {
		err := r.step(ctx, &run)
		switch {
		case err == nil && run.done:
			return nil
		case errors.Is(err, ErrRerankSuperseded):
			r.logger.InfoContext(ctx, "priority re-ranking left to a process with another policy",
				slog.Int("medium_at", r.policy.Medium), slog.Int("high_at", r.policy.High))
			return nil
		case err == nil:
			wait = rerankRetryFirst
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		}
		r.logger.WarnContext(ctx, "priority re-ranking failed; trying again", slog.Any("error", err), slog.Duration("in", wait))
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
		wait = min(2*wait, rerankRetryMax)
	}
}

// rerankRun is how far a re-ranking went, kept across failed steps.
type rerankRun struct {
	claimed bool
	after   string
	changed int
	batched bool
	done    bool
}

// step does the next step of the re-ranking: claim, one batch, or finish.
func (r RerankTechs) step(ctx context.Context, run *rerankRun) error {
	switch {
	case !run.claimed:
		now := r.now().UTC()
		claimed, err := r.store.ClaimRerank(ctx, r.policy, now, now.Add(RerankClaimFor))
		if err != nil {
			return err
		}
		if !claimed {
			run.done = true
			return nil
		}
		run.claimed = true
		r.logger.InfoContext(ctx, "priority policy changed: re-ranking every tech",
			slog.Int("medium_at", r.policy.Medium), slog.Int("high_at", r.policy.High))
		return nil
	case !run.batched:
		next, n, err := r.store.RerankBatch(ctx, run.after, RerankBatchSize, r.policy)
		if err != nil {
			return err
		}
		run.changed += n
		run.after = next
		run.batched = next == ""
		return nil
	default:
		done := tech.TechsReranked{MediumAt: r.policy.Medium, HighAt: r.policy.High, Changed: run.changed, OccurredAt: r.now().UTC()}
		if err := r.store.FinishRerank(ctx, r.policy, done); err != nil {
			return err
		}
		run.done = true
		r.logger.InfoContext(ctx, "techs re-ranked", slog.Int("changed", run.changed))
		return nil
	}
}
