package query

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/techradar/techradar/app/decorator"
	"github.com/techradar/techradar/domain/tech"
)

// Policy asks for the priority policy in force.
type Policy struct{}

// PolicyView is the priority policy in force, as the API shows it.
// Reranking says the stored priorities do not follow one policy yet (none
// recorded, or a re-ranking under way): the thresholds are then the ones
// this process is configured with, which the workers re-rank to.
type PolicyView struct {
	MediumAt  int  `json:"mediumAt"`
	HighAt    int  `json:"highAt"`
	Reranking bool `json:"reranking,omitempty"`
}

// StoredPolicyReader reads the policy the stored priorities follow, and
// whether the re-ranking to it is done; medium 0 is none recorded yet.
type StoredPolicyReader interface {
	StoredPolicy(ctx context.Context) (policy tech.ThresholdPolicy, reranked bool, err error)
}

// PolicyCacheFor is how long an answer to Policy is kept in the process: the
// policy changes only on a deployment, and a client polling it costs at most
// one row read a PolicyCacheFor.
const PolicyCacheFor = 2 * time.Second

// PolicyHandler answers Policy with the policy the stored priorities follow:
// a process's configured thresholds are what it ranks its next mentions by,
// but the list shows the stored ones.
type PolicyHandler decorator.QueryHandler[Policy, PolicyView]

type policyHandler struct {
	configured tech.ThresholdPolicy
	stored     StoredPolicyReader
	now        func() time.Time

	mu      sync.Mutex
	cached  PolicyView
	expires time.Time
}

// NewPolicyHandler builds the handler; now may be nil for the wall clock.
func NewPolicyHandler(stored StoredPolicyReader, configured tech.ThresholdPolicy, now func() time.Time, logger *slog.Logger) PolicyHandler {
	if stored == nil {
		panic("nil stored policy reader")
	}
	if now == nil {
		now = time.Now
	}
	return decorator.ApplyQueryDecorators[Policy, PolicyView](&policyHandler{configured: configured, stored: stored, now: now}, logger)
}

func (h *policyHandler) Handle(ctx context.Context, _ Policy) (PolicyView, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	if now.Before(h.expires) {
		return h.cached, nil
	}
	stored, reranked, err := h.stored.StoredPolicy(ctx)
	if err != nil {
		return PolicyView{}, err
	}
	view := PolicyView{MediumAt: stored.Medium, HighAt: stored.High}
	if stored.Medium == 0 || !reranked {
		view = PolicyView{MediumAt: h.configured.Medium, HighAt: h.configured.High, Reranking: true}
	}
	h.cached, h.expires = view, now.Add(PolicyCacheFor)
	return view, nil
}
