package query_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/domain/tech"
)

// storedPolicy is the priority_policy row, counting its reads.
type storedPolicy struct {
	mu       sync.Mutex
	policy   tech.ThresholdPolicy
	reranked bool
	reads    int
}

func (s *storedPolicy) StoredPolicy(context.Context) (tech.ThresholdPolicy, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	return s.policy, s.reranked, nil
}

func (s *storedPolicy) set(policy tech.ThresholdPolicy, reranked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.policy, s.reranked = policy, reranked
}

func TestPolicyAnswersWhatTheStoredPrioritiesFollow(t *testing.T) {
	t.Parallel()
	configured := tech.ThresholdPolicy{Medium: 2, High: 5}
	stored := &storedPolicy{}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	handler := query.NewPolicyHandler(stored, configured, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	ask := func() query.PolicyView {
		t.Helper()
		view, err := handler.Handle(context.Background(), query.Policy{})
		if err != nil {
			t.Fatal(err)
		}
		return view
	}

	// None recorded yet: the configured thresholds, being re-ranked to.
	if got, want := ask(), (query.PolicyView{MediumAt: 2, HighAt: 5, Reranking: true}); got != want {
		t.Fatalf("none recorded: %+v, want %+v", got, want)
	}
	// Recorded and re-ranked: the stored one, even when this process is
	// configured otherwise (a rolling change not yet re-ranked).
	stored.set(tech.ThresholdPolicy{Medium: 3, High: 10}, true)
	if got := ask(); !got.Reranking || got.MediumAt != 2 {
		t.Fatalf("within the cache time: %+v, want the answer kept", got)
	}
	now = now.Add(query.PolicyCacheFor)
	if got, want := ask(), (query.PolicyView{MediumAt: 3, HighAt: 10}); got != want {
		t.Fatalf("recorded: %+v, want %+v", got, want)
	}
	// A re-ranking under way: the configured one, flagged.
	stored.set(tech.ThresholdPolicy{Medium: 2, High: 5}, false)
	now = now.Add(query.PolicyCacheFor)
	if got, want := ask(), (query.PolicyView{MediumAt: 2, HighAt: 5, Reranking: true}); got != want {
		t.Fatalf("re-ranking: %+v, want %+v", got, want)
	}
	// Many requests within the cache time read the row once.
	stored.mu.Lock()
	before := stored.reads
	stored.mu.Unlock()
	for range 100 {
		ask()
	}
	stored.mu.Lock()
	defer stored.mu.Unlock()
	if stored.reads != before {
		t.Fatalf("%d reads for 100 requests within the cache time", stored.reads-before)
	}
}
