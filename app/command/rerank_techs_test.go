package command_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/domain/tech"
)

// scriptedPolicyStore is a PolicyStore whose batches fail as told: a store
// that is unreachable a moment, or a policy claimed by another process.
type scriptedPolicyStore struct {
	mu         sync.Mutex
	batchFails []error // what each batch call answers first, in order; nil is success
	batches    int
	afters     []string
	finished   []tech.TechsReranked
}

func (s *scriptedPolicyStore) ClaimRerank(context.Context, tech.ThresholdPolicy, time.Time, time.Time) (bool, error) {
	return true, nil
}

func (s *scriptedPolicyStore) RerankBatch(_ context.Context, after string, _ int, _ tech.ThresholdPolicy) (string, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	if len(s.batchFails) > 0 {
		err := s.batchFails[0]
		s.batchFails = s.batchFails[1:]
		if err != nil {
			return "", 0, err
		}
	}
	s.afters = append(s.afters, after)
	// Two batches of techs: "m" then none left.
	if after == "" {
		return "m", 2, nil
	}
	return "", 0, nil
}

func (s *scriptedPolicyStore) FinishRerank(_ context.Context, _ tech.ThresholdPolicy, done tech.TechsReranked) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finished = append(s.finished, done)
	return nil
}

func TestRerankRetriesAFailedBatchFromWhereItStopped(t *testing.T) {
	t.Parallel()
	store := &scriptedPolicyStore{batchFails: []error{nil, errors.New("connection refused")}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := command.NewRerankTechs(store, tech.DefaultThresholdPolicy, nil, slog.New(slog.DiscardHandler)).Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(store.finished) != 1 || store.finished[0].Changed != 2 {
		t.Fatalf("finished %+v, want once with 2 changed", store.finished)
	}
	// The first batch ran once; the failed second one was tried again after "m".
	if want := []string{"", "m"}; len(store.afters) != 2 || store.afters[0] != want[0] || store.afters[1] != want[1] {
		t.Fatalf("batches after %q, want %q", store.afters, want)
	}
}

func TestRerankStopsWhenAnotherPolicyIsClaimed(t *testing.T) {
	t.Parallel()
	store := &scriptedPolicyStore{batchFails: []error{nil, command.ErrRerankSuperseded}}
	if err := command.NewRerankTechs(store, tech.DefaultThresholdPolicy, nil, slog.New(slog.DiscardHandler)).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(store.finished) != 0 || store.batches != 2 {
		t.Fatalf("finished %+v after %d batches, want none after 2", store.finished, store.batches)
	}
}

func TestRerankRetriesUntilItsContextEnds(t *testing.T) {
	t.Parallel()
	failing := make([]error, 1000)
	for i := range failing {
		failing[i] = errors.New("connection refused")
	}
	store := &scriptedPolicyStore{batchFails: failing}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- command.NewRerankTechs(store, tech.DefaultThresholdPolicy, nil, slog.New(slog.DiscardHandler)).Run(ctx)
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not end with its context")
	}
	if len(store.finished) != 0 {
		t.Fatalf("finished %+v", store.finished)
	}
}
