package tech

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Status is where a tech is in its life: listed, retired by a curator, or
// merged into another tech as its duplicate.
type Status string

const (
	StatusActive  Status = "active"
	StatusRetired Status = "retired"
	StatusMerged  Status = "merged"
)

// MaxRetireReasonLength is the longest reason for retiring a tech, in characters.
const MaxRetireReasonLength = 500

var (
	ErrReasonTooLong            = fmt.Errorf("reason is longer than %d characters", MaxRetireReasonLength)
	ErrReasonInvalid            = errors.New("reason must be valid UTF-8 without control characters")
	ErrRetireMerged             = errors.New("the tech was merged into another one; retire that one instead")
	ErrMergeIntoItself          = errors.New("a tech cannot be merged into itself")
	ErrMergeIntoInactive        = errors.New("the tech to merge into is retired or merged")
	ErrMergedIntoAnotherAlready = errors.New("the tech was merged into another tech already")
)

// ParseRetireReason trims raw and checks it: at most MaxRetireReasonLength
// characters, valid UTF-8, no control characters but line breaks and tabs,
// which a curator may well type. An empty reason is allowed.
func ParseRetireReason(raw string) (string, error) {
	if !utf8.ValidString(raw) {
		return "", ErrReasonInvalid
	}
	for _, r := range raw {
		if unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r' {
			return "", ErrReasonInvalid
		}
	}
	reason := strings.TrimSpace(raw)
	if utf8.RuneCountInString(reason) > MaxRetireReasonLength {
		return "", ErrReasonTooLong
	}
	return reason, nil
}

// Status is the tech's status, which follows from its curation fields.
func (t Tech) Status() Status {
	switch {
	case t.MergedInto != "":
		return StatusMerged
	case !t.RetiredAt.IsZero():
		return StatusRetired
	default:
		return StatusActive
	}
}

// Retire hides the tech from the list, with the curator's reason. Retiring
// a retired tech changes nothing (changed is false), so that a command sent
// twice is harmless; a merged tech cannot be retired: its mentions live on in
// the tech it was merged into.
func (t *Tech) Retire(reason string, at time.Time) (changed bool, err error) {
	switch t.Status() {
	case StatusRetired:
		return false, nil
	case StatusMerged:
		return false, ErrRetireMerged
	}
	at = at.UTC()
	t.RetiredAt, t.RetiredReason, t.UpdatedAt = at, reason, at
	return true, nil
}

// MergeInto makes t a duplicate of target: target counts t's mentions and its
// priority is recomputed; t leaves the list, and its name becomes an alias of
// target. Merging again into the same target changes nothing (changed is
// false); target must be another, active tech.
func (t *Tech) MergeInto(target *Tech, policy PriorityPolicy, at time.Time) (changed bool, err error) {
	switch {
	case t.ID == target.ID:
		return false, ErrMergeIntoItself
	case t.MergedInto == target.ID:
		return false, nil
	case t.MergedInto != "":
		return false, ErrMergedIntoAnotherAlready
	case target.Status() != StatusActive:
		return false, ErrMergeIntoInactive
	}
	at = at.UTC()
	target.Mentions += t.Mentions
	target.Priority = policy.Priority(target.Mentions)
	target.UpdatedAt = at
	t.MergedInto, t.MergedAt, t.UpdatedAt = target.ID, at, at
	return true, nil
}

// Rerank recomputes the priority under policy; changed says whether it moved.
func (t *Tech) Rerank(policy PriorityPolicy) (changed bool) {
	p := policy.Priority(t.Mentions)
	if p == t.Priority {
		return false
	}
	t.Priority = p
	return true
}
