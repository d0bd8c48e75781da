// Package app is techradar's application layer: the use cases, and the small
// interfaces (ports) each declares for what it needs from the outside. It knows
// nothing of HTTP, Watermill, SQL or Redis; the service package wires those in.
package app

import (
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/event"
	"github.com/techradar/techradar/app/query"
)

// Application is every use case of techradar.
type Application struct {
	Commands Commands
	Queries  Queries
	Events   Events
}

// Commands change state. Submit* run in the API and send a command on the bus;
// CreateTech and SendSMS are the command bus's handlers and run in workers;
// RecordPoisonedMessage runs in workers too, on the poison topic; the other
// poison commands are the operator's.
type Commands struct {
	SubmitCreateTech command.SubmitCreateTechHandler
	CreateTech       command.CreateTechHandler
	SubmitSendSMS    command.SubmitSendSMSHandler
	SendSMS          command.SendSMSHandler
	SubmitRetireTech command.SubmitRetireTechHandler
	RetireTech       command.RetireTechHandler
	SubmitMergeTech  command.SubmitMergeTechHandler
	MergeTech        command.MergeTechHandler

	RecordPoisonedMessage   command.RecordPoisonedMessageHandler
	RequeuePoisonedMessages command.RequeuePoisonedMessagesHandler
	DeletePoisonedMessages  command.DeletePoisonedMessagesHandler

	CreateAPIKey command.CreateAPIKeyHandler
	RevokeAPIKey command.RevokeAPIKeyHandler
}

// Queries read state.
type Queries struct {
	ListTechs     query.ListTechsHandler
	TechByID      query.TechByIDHandler
	CommandStatus query.CommandStatusHandler
	SMSStatus     query.SMSStatusHandler
	Policy        query.PolicyHandler

	PoisonedMessages query.PoisonedMessagesHandler

	APIKeys            query.APIKeysHandler
	AuthenticateAPIKey query.AuthenticateAPIKeyHandler
}

// Events are the event bus's handlers.
type Events struct {
	InvalidateTechReadModel event.InvalidateTechReadModel
}
