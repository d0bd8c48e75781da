package messaging

import (
	"github.com/ThreeDotsLabs/watermill/components/cqrs"

	"github.com/techradar/techradar/app"
)

// sendSMSHandlerName is the consumer group of the SendSMS handler: renaming it
// starts a new group that reads its topic from the oldest message kept.
const sendSMSHandlerName = "techradar.send-sms"

// smsFlow: SendSMS applied. Nothing in techradar reacts to its events, SMSSent
// and SMSFailed: they are there for other services.
var smsFlow = flow{
	commandHandlers: func(a app.Application) []cqrs.CommandHandler {
		return []cqrs.CommandHandler{
			cqrs.NewCommandHandler(sendSMSHandlerName, plain(a.Commands.SendSMS.Handle)),
		}
	},
	eventHandlers: func(app.Application) []cqrs.EventHandler { return nil },
}
