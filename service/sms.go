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
func newSMSFlow(db *sqlstore.DB, commands *sqlstore.CommandLog, outbox *sqlstore.Outbox, cfg config.Config) (smsFlow, error) {
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
		config:   command.SendSMSConfig{MaxAttempts: cfg.SMSMaxAttempts, AttemptTimeout: cfg.SMSProviderTimeout},
	}, nil
}

func newSMSProvider(cfg config.Config) (command.SMSProvider, error) {
	switch cfg.SMSProvider {
	case config.SMSProviderFake:
		fake, err := smsprovider.NewFake(smsprovider.FakeConfig{FailureRate: cfg.SMSFakeFailureRate, Latency: cfg.SMSFakeLatency})
		if err != nil {
			return nil, fmt.Errorf("SMS_PROVIDER=fake: %w", err)
		}
		return fake, nil
	case config.SMSProviderHTTP:
		provider, err := smsprovider.NewHTTP(smsprovider.HTTPConfig{
			URL:           cfg.SMSProviderURL,
			Timeout:       cfg.SMSProviderTimeout,
			Authorization: cfg.SMSProviderAuthHeader,
		})
		if err != nil {
			return nil, fmt.Errorf("SMS_PROVIDER=http: %w", err)
		}
		return provider, nil
	default:
		return nil, fmt.Errorf("SMS_PROVIDER: %q is not available in this build", cfg.SMSProvider)
	}
}
