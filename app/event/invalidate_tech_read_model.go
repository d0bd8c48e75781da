// Package event holds the handlers that react to events.
package event

import (
	"context"

	"github.com/techradar/techradar/domain/tech"
)

// ReadModelInvalidator drops every cached answer of the tech read model.
type ReadModelInvalidator interface {
	Invalidate(ctx context.Context) error
}

// InvalidateTechReadModel keeps the cached tech list and techs no older than the
// last change: every tech event invalidates them.
type InvalidateTechReadModel struct {
	cache ReadModelInvalidator
}

func NewInvalidateTechReadModel(cache ReadModelInvalidator) InvalidateTechReadModel {
	if cache == nil {
		panic("nil cache")
	}
	return InvalidateTechReadModel{cache: cache}
}

func (h InvalidateTechReadModel) OnTechCreated(ctx context.Context, _ *tech.TechCreated) error {
	return h.cache.Invalidate(ctx)
}

func (h InvalidateTechReadModel) OnTechMentioned(ctx context.Context, _ *tech.TechMentioned) error {
	return h.cache.Invalidate(ctx)
}

// OnTechRetired: a retired tech leaves the list.
func (h InvalidateTechReadModel) OnTechRetired(ctx context.Context, _ *tech.TechRetired) error {
	return h.cache.Invalidate(ctx)
}

// OnTechMerged: the duplicate leaves the list, the target's mentions change.
func (h InvalidateTechReadModel) OnTechMerged(ctx context.Context, _ *tech.TechMerged) error {
	return h.cache.Invalidate(ctx)
}

// OnTechsReranked: a new priority policy re-ranked the stored techs.
func (h InvalidateTechReadModel) OnTechsReranked(ctx context.Context, _ *tech.TechsReranked) error {
	return h.cache.Invalidate(ctx)
}
