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
