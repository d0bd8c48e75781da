package service

import (
	"fmt"

	"github.com/techradar/techradar/adapters/smsprovider"
	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/config"
)

// sendSMSHandlerName is the consumer group of the SendSMS handler: renaming it
// starts a new group that reads its topic from the oldest message kept.
const sendSMSHandlerName = "techradar.send-sms"

// smsFlow is what the SMS use cases are built on.
type smsFlow struct {
	messages *sqlstore.SMSRepository
	provider command.SMSProvider
	config   command.SendSMSConfig
}

// newSMSFlow builds the SMS repository on store, and the provider SMS_PROVIDER
// names.
func newSMSFlow(store *sqlstore.Store, newEventBus sqlstore.EventBusFactory, cfg config.Config) (smsFlow, error) {
	messages, err := sqlstore.NewSMSRepository(store, newEventBus)
	if err != nil {
		return smsFlow{}, err
	}
	provider, err := newSMSProvider(cfg)
	if err != nil {
		return smsFlow{}, err
	}
	return smsFlow{
		messages: messages,
		provider: provider,
		config:   command.SendSMSConfig{MaxAttempts: cfg.SMS.MaxAttempts, AttemptTimeout: cfg.SMS.AttemptTimeout()},
	}, nil
}

func newSMSProvider(cfg config.Config) (command.SMSProvider, error) {
	switch cfg.SMS.Provider {
	case config.SMSProviderFake:
		fake, err := smsprovider.NewFake(cfg.SMS.Fake)
		if err != nil {
			return nil, fmt.Errorf("SMS_PROVIDER=fake: %w", err)
		}
		return fake, nil
	case config.SMSProviderHTTP:
		provider, err := smsprovider.NewHTTP(cfg.SMS.HTTP)
		if err != nil {
			return nil, fmt.Errorf("SMS_PROVIDER=http: %w", err)
		}
		return provider, nil
	default:
		return nil, fmt.Errorf("SMS_PROVIDER: %q is not available in this build", cfg.SMS.Provider)
	}
}
