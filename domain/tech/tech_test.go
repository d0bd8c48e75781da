package tech_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/techradar/techradar/domain/tech"
)

func TestRetire(t *testing.T) {
	t.Parallel()

	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.FixedZone("X", 3600))
	k := tech.New(mustParse(t, "Kafka"), tech.DefaultThresholdPolicy, at)
	if k.Status() != tech.StatusActive {
		t.Fatalf("new tech status = %s", k.Status())
	}
	changed, err := k.Retire("superseded", at.Add(time.Hour))
	if err != nil || !changed {
		t.Fatalf("Retire = %v, %v", changed, err)
	}
	if k.Status() != tech.StatusRetired || k.RetiredReason != "superseded" || k.RetiredAt.Location() != time.UTC {
		t.Fatalf("after Retire: %+v", k)
	}
	ev := k.Retired("cmd-1")
	if ev.TechID != k.ID || ev.Reason != "superseded" || ev.CommandID != "cmd-1" || !ev.OccurredAt.Equal(k.RetiredAt) {
		t.Fatalf("Retired = %+v", ev)
	}

	// Twice is harmless: nothing changes.
	before := k
	if changed, err := k.Retire("again", at.Add(2*time.Hour)); err != nil || changed || k != before {
		t.Fatalf("second Retire = %v, %v, %+v", changed, err, k)
	}
}

func TestParseRetireReason(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		raw, want string
		err       error
	}{
		{"", "", nil},
		{"  old\nand slow ", "old\nand slow", nil},
		{strings.Repeat("é", 500), strings.Repeat("é", 500), nil},
		{strings.Repeat("a", 501), "", tech.ErrReasonTooLong},
		{"bad\x00", "", tech.ErrReasonInvalid},
		{"bad\xff", "", tech.ErrReasonInvalid},
	} {
		got, err := tech.ParseRetireReason(tt.raw)
		if got != tt.want || !errors.Is(err, tt.err) {
			t.Errorf("ParseRetireReason(%q) = %q, %v; want %q, %v", tt.raw, got, err, tt.want, tt.err)
		}
	}
}

func TestMergeInto(t *testing.T) {
	t.Parallel()

	policy := tech.ThresholdPolicy{Medium: 3, High: 5}
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	dup := tech.New(mustParse(t, "Postgres"), policy, at)
	dup.Mention(policy, at)
	target := tech.New(mustParse(t, "PostgreSQL"), policy, at)
	target.Mention(policy, at)

	changed, err := dup.MergeInto(&target, policy, at.Add(time.Minute))
	if err != nil || !changed {
		t.Fatalf("MergeInto = %v, %v", changed, err)
	}
	if target.Mentions != 4 || target.Priority != tech.PriorityMedium {
		t.Fatalf("target after merge: %+v", target)
	}
	if dup.Status() != tech.StatusMerged || dup.MergedInto != target.ID || dup.Mentions != 2 {
		t.Fatalf("duplicate after merge: %+v", dup)
	}
	ev := dup.Merged(target, "cmd-2")
	if ev.TechID != dup.ID || ev.IntoID != target.ID || ev.Mentions != 4 || ev.Priority != tech.PriorityMedium {
		t.Fatalf("Merged = %+v", ev)
	}

	// The same merge again changes nothing.
	if changed, err := dup.MergeInto(&target, policy, at); err != nil || changed || target.Mentions != 4 {
		t.Fatalf("second MergeInto = %v, %v, %+v", changed, err, target)
	}

	other := tech.New(mustParse(t, "MySQL"), policy, at)
	if _, err := dup.MergeInto(&other, policy, at); !errors.Is(err, tech.ErrMergedIntoAnotherAlready) {
		t.Fatalf("merging a merged tech elsewhere: %v", err)
	}
	if _, err := other.MergeInto(&other, policy, at); !errors.Is(err, tech.ErrMergeIntoItself) {
		t.Fatalf("merging into itself: %v", err)
	}
	if _, err := other.MergeInto(&dup, policy, at); !errors.Is(err, tech.ErrMergeIntoInactive) {
		t.Fatalf("merging into a merged tech: %v", err)
	}
	retired := tech.New(mustParse(t, "CVS"), policy, at)
	if _, err := retired.Retire("", at); err != nil {
		t.Fatal(err)
	}
	if _, err := other.MergeInto(&retired, policy, at); !errors.Is(err, tech.ErrMergeIntoInactive) {
		t.Fatalf("merging into a retired tech: %v", err)
	}
	if _, err := dup.Retire("", at); !errors.Is(err, tech.ErrRetireMerged) {
		t.Fatalf("retiring a merged tech: %v", err)
	}
}

func TestRerank(t *testing.T) {
	t.Parallel()

	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	k := tech.New(mustParse(t, "Kafka"), tech.DefaultThresholdPolicy, at)
	k.Mention(tech.DefaultThresholdPolicy, at)
	if k.Rerank(tech.DefaultThresholdPolicy) {
		t.Fatal("the same policy changed the priority")
	}
	if !k.Rerank(tech.ThresholdPolicy{Medium: 1, High: 2}) || k.Priority != tech.PriorityHigh {
		t.Fatalf("after a stricter policy: %+v", k)
	}
}
