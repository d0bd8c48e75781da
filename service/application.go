package service

import (
	"log/slog"

	"github.com/techradar/techradar/app"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/event"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/config"
)

// newApplication builds the use cases the role runs on b; the others stay nil.
func newApplication(b backends, role config.Role, logger *slog.Logger) app.Application {
	var a app.Application
	if role.RunsAPI() {
		a.Commands.SubmitCreateTech = command.NewSubmitCreateTechHandler(b.commands, b.bus, nil, logger, b.submitOptions...)
		a.Queries.ListTechs, a.Queries.TechByID = query.NewTechQueries(b.techs.techs, b.cache, logger)
		a.Queries.CommandStatus = query.NewCommandStatusHandler(b.commands, logger)
		a.Commands.SubmitSendSMS = command.NewSubmitSendSMSHandler(b.sms.messages, b.commands, b.bus, nil, logger, b.submitOptions...)
		a.Queries.SMSStatus = query.NewSMSStatusHandler(b.sms.messages, logger)
		a.Commands.SubmitRetireTech, a.Commands.SubmitMergeTech = command.NewCurationSubmissions(b.techs.techs, b.commands, b.bus, nil, logger, b.submitOptions...)
		a.Queries.Policy = query.NewPolicyHandler(b.techs.techs, b.techs.policy, nil, logger)
	}
	if role.RunsWorkers() {
		a.Commands.CreateTech = command.NewCreateTechHandler(b.techs.techs, b.commands, b.techs.policy, nil, logger)
		a.Events.InvalidateTechReadModel = event.NewInvalidateTechReadModel(b.cache)
		a.Commands.RetireTech = command.NewRetireTechHandler(b.techs.techs, nil, logger)
		a.Commands.MergeTech = command.NewMergeTechHandler(b.techs.techs, b.techs.policy, nil, logger)
		a.Commands.SendSMS = command.NewSendSMSHandler(b.sms.messages, b.sms.provider, b.sms.config, nil, logger)
		a.Commands.RecordPoisonedMessage = command.NewRecordPoisonedMessageHandler(b.poison, b.commands, logger)
	}
	return a
}
