package messaging

import (
	"github.com/ThreeDotsLabs/watermill/components/cqrs"

	"github.com/techradar/techradar/app"
	"github.com/techradar/techradar/domain/tech"
)

// Handler names are consumer-group names on every durable transport: renaming
// one starts a new group that reads its topic from the oldest message kept.
const (
	createTechHandlerName                  = "techradar.create-tech"
	invalidateReadModelOnTechCreatedName   = "techradar.invalidate-tech-read-model.on-tech-created"
	invalidateReadModelOnTechMentionedName = "techradar.invalidate-tech-read-model.on-tech-mentioned"
)

// techFlow: CreateTech applied, and the read model invalidated by its events.
var techFlow = flow{
	commandHandlers: func(a app.Application) []cqrs.CommandHandler {
		return []cqrs.CommandHandler{
			cqrs.NewCommandHandler(createTechHandlerName, plain(a.Commands.CreateTech.Handle)),
		}
	},
	eventHandlers: func(a app.Application) []cqrs.EventHandler {
		invalidate := a.Events.InvalidateTechReadModel
		return []cqrs.EventHandler{
			cqrs.NewEventHandler[tech.TechCreated](invalidateReadModelOnTechCreatedName, invalidate.OnTechCreated),
			cqrs.NewEventHandler[tech.TechMentioned](invalidateReadModelOnTechMentionedName, invalidate.OnTechMentioned),
		}
	},
}
