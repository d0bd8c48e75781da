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
	retireTechHandlerName                  = "techradar.retire-tech"
	mergeTechHandlerName                   = "techradar.merge-tech"
	invalidateReadModelOnTechRetiredName   = "techradar.invalidate-tech-read-model.on-tech-retired"
	invalidateReadModelOnTechMergedName    = "techradar.invalidate-tech-read-model.on-tech-merged"
	invalidateReadModelOnTechsRerankedName = "techradar.invalidate-tech-read-model.on-techs-reranked"
)

// techFlow: CreateTech, RetireTech and MergeTech applied, and the read model
// invalidated by their events and by a re-ranking.
var techFlow = flow{
	commandHandlers: func(a app.Application) []cqrs.CommandHandler {
		return []cqrs.CommandHandler{
			cqrs.NewCommandHandler(createTechHandlerName, plain(a.Commands.CreateTech.Handle)),
			cqrs.NewCommandHandler(retireTechHandlerName, plain(a.Commands.RetireTech.Handle)),
			cqrs.NewCommandHandler(mergeTechHandlerName, plain(a.Commands.MergeTech.Handle)),
		}
	},
	eventHandlers: func(a app.Application) []cqrs.EventHandler {
		invalidate := a.Events.InvalidateTechReadModel
		return []cqrs.EventHandler{
			cqrs.NewEventHandler[tech.TechCreated](invalidateReadModelOnTechCreatedName, invalidate.OnTechCreated),
			cqrs.NewEventHandler[tech.TechMentioned](invalidateReadModelOnTechMentionedName, invalidate.OnTechMentioned),
			cqrs.NewEventHandler[tech.TechRetired](invalidateReadModelOnTechRetiredName, invalidate.OnTechRetired),
			cqrs.NewEventHandler[tech.TechMerged](invalidateReadModelOnTechMergedName, invalidate.OnTechMerged),
			cqrs.NewEventHandler[tech.TechsReranked](invalidateReadModelOnTechsRerankedName, invalidate.OnTechsReranked),
		}
	},
}
