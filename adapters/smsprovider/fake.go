package smsprovider

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/internal/settings"
)

// FakeConfig tunes Fake. The configuration embeds it under SMS_FAKE_: the
// tags are the settings' flags, variables, defaults and help.
type FakeConfig struct {
	// FailureRate is the fraction of calls, from 0 to 1, that fail as an
	// outage would: transiently, before anything is sent.
	FailureRate float64 `name:"failure-rate" env:"FAILURE_RATE" default:"0" help:"Fraction of sends, from 0 to 1, that the fake SMS provider fails transiently (SMS_PROVIDER=fake)."`
	// Latency is how long every call takes.
	Latency time.Duration `name:"latency" env:"LATENCY" default:"0s" help:"How long each send takes on the fake SMS provider, below SMS_PROVIDER_TIMEOUT (SMS_PROVIDER=fake)."`
	// Seed makes the failures reproducible; zero picks one at random. Tests
	// set it; it is no setting.
	Seed uint64 `kong:"-"`
}

// Check reports every setting out of range, naming its variable.
func (c FakeConfig) Check() error {
	var p settings.Problems
	if !(c.FailureRate >= 0 && c.FailureRate <= 1) {
		p.Add("SMS_FAKE_FAILURE_RATE", "must be between 0 and 1, got %v", c.FailureRate)
	}
	if c.Latency < 0 {
		p.Add("SMS_FAKE_LATENCY", "must not be negative, got %s", c.Latency)
	}
	return p.Err()
}

// Fake is the SMS provider of the embedded mode and of tests: it
// sends nothing, but keeps what it was asked to send and answers as a real
// provider would, idempotency keys included: a key it has seen gets the first
// message id back and is counted once. It remembers every key for the life of
// the process.
type Fake struct {
	config FakeConfig

	mu     sync.Mutex
	random *rand.Rand
	calls  int
	sent   map[string]string // provider message id by idempotency key
}

var _ command.SMSProvider = (*Fake)(nil)

// errFakeOutage is the transient failure Fake simulates.
var errFakeOutage = errors.New("the fake SMS provider is failing as configured (SMS_FAKE_FAILURE_RATE)")

// NewFake checks config and builds the fake.
func NewFake(config FakeConfig) (*Fake, error) {
	if err := config.Check(); err != nil {
		return nil, err
	}
	seed := config.Seed
	if seed == 0 {
		seed = rand.Uint64() // #nosec G404 -- the fake provider's simulated failures, no secret
	}
	// #nosec G404 -- a seeded generator, so that a test can replay the fake's failures
	return &Fake{config: config, random: rand.New(rand.NewPCG(seed, seed>>1)), sent: map[string]string{}}, nil
}

func (p *Fake) Send(ctx context.Context, msg command.OutgoingSMS) (string, error) {
	if msg.IdempotencyKey == "" {
		return "", errors.New("SMS without an idempotency key")
	}
	if msg.Number == "" || msg.Text == "" {
		return "", fmt.Errorf("%w: the fake SMS provider needs a number and a text", command.ErrSMSRejected)
	}
	if p.config.Latency > 0 {
		timer := time.NewTimer(p.config.Latency)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return "", fmt.Errorf("the call to the fake SMS provider was abandoned: %w", ctx.Err())
		}
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("the call to the fake SMS provider was abandoned: %w", err)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.config.FailureRate > 0 && p.random.Float64() < p.config.FailureRate {
		return "", errFakeOutage
	}
	if id, ok := p.sent[msg.IdempotencyKey]; ok {
		return id, nil
	}
	id := "fake-" + uuid.NewString()
	p.sent[msg.IdempotencyKey] = id
	return id, nil
}

// Sent reports whether an SMS was sent under key, and its message id.
func (p *Fake) Sent(key string) (providerMessageID string, sent bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	providerMessageID, sent = p.sent[key]
	return providerMessageID, sent
}

// SentCount is how many distinct SMS were sent.
func (p *Fake) SentCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sent)
}

// Calls is how many calls reached the provider, failed ones included.
func (p *Fake) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}
