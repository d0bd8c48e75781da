package tech_test

import (
	"testing"
	"time"

	"github.com/techradar/techradar/domain/tech"
)

func TestThresholdPolicy(t *testing.T) {
	t.Parallel()

	tests := []struct {
		policy   tech.ThresholdPolicy
		mentions int
		want     tech.Priority
	}{
		{tech.DefaultThresholdPolicy, 1, tech.PriorityLow},
		{tech.DefaultThresholdPolicy, 2, tech.PriorityLow},
		{tech.DefaultThresholdPolicy, 3, tech.PriorityMedium},
		{tech.DefaultThresholdPolicy, 9, tech.PriorityMedium},
		{tech.DefaultThresholdPolicy, 10, tech.PriorityHigh},
		{tech.DefaultThresholdPolicy, 1_000_000, tech.PriorityHigh},
		{tech.ThresholdPolicy{Medium: 1, High: 2}, 1, tech.PriorityMedium},
		{tech.ThresholdPolicy{Medium: 1, High: 2}, 2, tech.PriorityHigh},
		{tech.ThresholdPolicy{Medium: 5, High: 5}, 4, tech.PriorityLow},
		{tech.ThresholdPolicy{Medium: 5, High: 5}, 5, tech.PriorityHigh},
	}
	for _, tt := range tests {
		if got := tt.policy.Priority(tt.mentions); got != tt.want {
			t.Errorf("%+v.Priority(%d) = %s, want %s", tt.policy, tt.mentions, got, tt.want)
		}
	}
}

func TestNewThresholdPolicy(t *testing.T) {
	t.Parallel()

	tests := []struct {
		medium, high int
		wantErr      bool
	}{
		{3, 10, false},
		{1, 1, false},
		{0, 10, true},
		{-1, 10, true},
		{5, 4, true},
	}
	for _, tt := range tests {
		_, err := tech.NewThresholdPolicy(tt.medium, tt.high)
		if (err != nil) != tt.wantErr {
			t.Errorf("NewThresholdPolicy(%d, %d) error = %v, want error %v", tt.medium, tt.high, err, tt.wantErr)
		}
	}
}

func TestPriorityRankRoundTrip(t *testing.T) {
	t.Parallel()

	for _, p := range []tech.Priority{tech.PriorityLow, tech.PriorityMedium, tech.PriorityHigh} {
		got, err := tech.PriorityFromRank(p.Rank())
		if err != nil || got != p {
			t.Errorf("PriorityFromRank(%d) = %s, %v; want %s", p.Rank(), got, err, p)
		}
		if parsed, err := tech.ParsePriority(string(p)); err != nil || parsed != p {
			t.Errorf("ParsePriority(%q) = %s, %v", p, parsed, err)
		}
	}
	if _, err := tech.ParsePriority("urgent"); err == nil {
		t.Error("ParsePriority accepted an unknown priority")
	}
	if !(tech.PriorityHigh.Rank() > tech.PriorityMedium.Rank() && tech.PriorityMedium.Rank() > tech.PriorityLow.Rank()) {
		t.Error("ranks do not order high > medium > low")
	}
}

func TestTechMentions(t *testing.T) {
	t.Parallel()

	policy := tech.ThresholdPolicy{Medium: 2, High: 3}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))
	name := mustParse(t, "Kafka")

	k := tech.New(name, policy, created)
	if k.Mentions != 1 || k.Priority != tech.PriorityLow || k.Name != "Kafka" || k.ID != tech.IDFor(name) {
		t.Fatalf("New = %+v", k)
	}
	if k.CreatedAt.Location() != time.UTC {
		t.Fatal("times are not kept in UTC")
	}

	later := created.Add(time.Minute)
	k.Mention(policy, later)
	if k.Mentions != 2 || k.Priority != tech.PriorityMedium || !k.UpdatedAt.Equal(later) || !k.CreatedAt.Equal(created) {
		t.Fatalf("after a second mention: %+v", k)
	}
	k.Mention(policy, later)
	if k.Priority != tech.PriorityHigh {
		t.Fatalf("after a third mention: %+v", k)
	}

	ev := k.Mentioned("cmd-1")
	if ev.TechID != k.ID || ev.Mentions != 3 || ev.Priority != tech.PriorityHigh || ev.CommandID != "cmd-1" {
		t.Fatalf("Mentioned = %+v", ev)
	}
}
