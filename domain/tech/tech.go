package tech

import (
	"time"

	"github.com/google/uuid"
)

// idNamespace scopes the name-based UUIDs of techs, so that a tech keeps the same
// id in every store and across rebuilds of the database.
var idNamespace = uuid.MustParse("5b0c2f1e-6d7a-4c56-9a0e-2b1f7c3d8e41")

// IDFor is the stable id of the tech called name.
func IDFor(name Name) string {
	return IDForKey(name.Key())
}

// IDForKey is the stable id of the tech whose Name.Key() is key. The id
// depends on the key alone, so two techs have the same key exactly when
// they have the same id: a store needs no index of its own on the key.
func IDForKey(key string) string {
	return uuid.NewSHA1(idNamespace, []byte(key)).String()
}

// Tech is a technology and how often it has been mentioned.
type Tech struct {
	ID        string
	Name      string // the first spelling seen, normalized
	Key       string // Name.Key(): what identifies the tech
	Mentions  int
	Priority  Priority
	CreatedAt time.Time
	UpdatedAt time.Time

	// RetiredAt is when a curator retired the tech (zero while it is not),
	// RetiredReason why.
	RetiredAt     time.Time
	RetiredReason string
	// MergedInto is the id of the tech this one was merged into as a
	// duplicate ("" while it is not), MergedAt when.
	MergedInto string
	MergedAt   time.Time
}

// New is a tech at its first mention.
func New(name Name, policy PriorityPolicy, at time.Time) Tech {
	at = at.UTC()
	return Tech{
		ID:        IDFor(name),
		Name:      name.String(),
		Key:       name.Key(),
		Mentions:  1,
		Priority:  policy.Priority(1),
		CreatedAt: at,
		UpdatedAt: at,
	}
}

// Mention counts one more mention and recomputes the priority. The display name
// stays the first spelling seen.
func (t *Tech) Mention(policy PriorityPolicy, at time.Time) {
	t.Mentions++
	t.Priority = policy.Priority(t.Mentions)
	t.UpdatedAt = at.UTC()
}
