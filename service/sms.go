package service

import (
	"fmt"

	"github.com/techradar/techradar/adapters/smsprovider"
	"github.com/techradar/techradar/adapters/sqlstore"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/config"
)

// smsFlow is what the SMS use cases are built on.
type smsFlow struct {
	messages *sqlstore.SMSRepository
	provider command.SMSProvider
	config   command.SendSMSConfig
}

// newSMSFlow builds the SMS repository on db, and the provider SMS_PROVIDER
// names.
func newSMSFlow(db *sqlstore.DB, commands *sqlstore.CommandLog, outbox *sqlstore.Outbox, cfg config.SMSConfig) (smsFlow, error) {
	messages, err := sqlstore.NewSMSRepository(db, commands, outbox)
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
		config:   command.SendSMSConfig{MaxAttempts: cfg.MaxAttempts, AttemptTimeout: cfg.AttemptTimeout()},
	}, nil
}

func newSMSProvider(cfg config.SMSConfig) (command.SMSProvider, error) {
	switch cfg.Provider {
	case config.SMSProviderFake:
		fake, err := smsprovider.NewFake(cfg.Fake)
		if err != nil {
			return nil, fmt.Errorf("SMS_PROVIDER=fake: %w", err)
		}
		return fake, nil
	case config.SMSProviderHTTP:
		provider, err := smsprovider.NewHTTP(cfg.HTTP)
		if err != nil {
			return nil, fmt.Errorf("SMS_PROVIDER=http: %w", err)
		}
		return provider, nil
	default:
		return nil, fmt.Errorf("SMS_PROVIDER: %q is not available in this build", cfg.Provider)
	}
}
