package tech

import (
	"fmt"
)

// Priority ranks techs by how often they are mentioned.
type Priority string

const (
	PriorityLow    Priority = "low"
	PriorityMedium Priority = "medium"
	PriorityHigh   Priority = "high"
)

// Rank orders priorities: a higher rank sorts first. Unknown priorities rank 0.
func (p Priority) Rank() int {
	switch p {
	case PriorityHigh:
		return 3
	case PriorityMedium:
		return 2
	case PriorityLow:
		return 1
	default:
		return 0
	}
}

// PriorityFromRank is the inverse of Priority.Rank.
func PriorityFromRank(rank int) (Priority, error) {
	switch rank {
	case 3:
		return PriorityHigh, nil
	case 2:
		return PriorityMedium, nil
	case 1:
		return PriorityLow, nil
	default:
		return "", fmt.Errorf("unknown priority rank %d", rank)
	}
}

// ParsePriority accepts the names used on the wire and in storage.
func ParsePriority(s string) (Priority, error) {
	p := Priority(s)
	if p.Rank() == 0 {
		return "", fmt.Errorf("unknown priority %q", s)
	}
	return p, nil
}

// PriorityPolicy decides a tech's priority from its mentions. Implementations must
// be pure: the same mentions always give the same priority.
type PriorityPolicy interface {
	Priority(mentions int) Priority
}

// ThresholdPolicy is the default policy: high from High mentions on, medium from
// Medium mentions on, low below.
type ThresholdPolicy struct {
	Medium int
	High   int
}

// DefaultThresholdPolicy is the policy of the specification: medium at 3, high at 10.
var DefaultThresholdPolicy = ThresholdPolicy{Medium: 3, High: 10}

// NewThresholdPolicy checks that the thresholds make sense together.
func NewThresholdPolicy(medium, high int) (ThresholdPolicy, error) {
	if medium < 1 {
		return ThresholdPolicy{}, fmt.Errorf("medium threshold must be at least 1, got %d", medium)
	}
	if high < medium {
		return ThresholdPolicy{}, fmt.Errorf("high threshold (%d) must not be below the medium threshold (%d)", high, medium)
	}
	return ThresholdPolicy{Medium: medium, High: high}, nil
}

func (p ThresholdPolicy) Priority(mentions int) Priority {
	switch {
	case mentions >= p.High:
		return PriorityHigh
	case mentions >= p.Medium:
		return PriorityMedium
	default:
		return PriorityLow
	}
}
