package smsprovider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/internal/settings"
)

// HTTPConfig configures HTTP. The configuration embeds it under
// SMS_PROVIDER_: the tags are the settings' flags, variables, defaults and
// help.
type HTTPConfig struct {
	// URL receives one POST per attempt to send an SMS.
	URL string `name:"url" env:"URL" help:"URL the http SMS provider gets one POST at per attempt (SMS_PROVIDER=http)."`
	// Timeout bounds one request, the answer's body included.
	Timeout time.Duration `name:"timeout" env:"TIMEOUT" default:"10s" help:"How long one attempt to send an SMS may take; below HANDLER_TIMEOUT."`
	// Authorization is the value of the Authorization header, e.g.
	// "Bearer <token>"; empty sends none.
	Authorization string `name:"auth-header" env:"AUTH_HEADER" help:"Value of the Authorization header sent to the http SMS provider, e.g. 'Bearer <token>'."`
}

// Check reports every setting out of range, naming its variable. An empty URL
// is not among them: only SMS_PROVIDER=http needs one.
func (c HTTPConfig) Check() error {
	var p settings.Problems
	if c.URL != "" {
		if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.Add("SMS_PROVIDER_URL", "%q is not an absolute http or https URL", c.URL)
		}
	}
	p.Positive("SMS_PROVIDER_TIMEOUT", c.Timeout)
	if strings.IndexFunc(c.Authorization, func(r rune) bool { return r != '\t' && unicode.IsControl(r) }) >= 0 {
		// The value is a secret: the message does not repeat it.
		p.Add("SMS_PROVIDER_AUTH_HEADER", "must not contain line breaks or other control characters")
	}
	return p.Err()
}

// HTTP sends SMS through a provider's HTTP API. Every attempt is
//
//	POST <URL>
//	Content-Type: application/json
//	Idempotency-Key: <SMS id, the same on every attempt>
//	Authorization: <Authorization, if set>
//
//	{"number": "+541112345678", "text": "..."}
//
// and a 2xx answer carries the provider's message id as {"id": "..."}.
// Answers that may change on a retry (5xx, 408, 409, 425, 429), timeouts and
// connection errors are transient; any other answer (4xx, a redirect) is a
// refusal for good.
type HTTP struct {
	url           string
	authorization string
	client        *http.Client
}

var _ command.SMSProvider = (*HTTP)(nil)

const (
	// smsProviderMaxAnswer bounds the body read from the provider.
	smsProviderMaxAnswer = 64 << 10
	// smsProviderMaxQuote bounds how much of an answer a failure reason quotes.
	smsProviderMaxQuote = 200
)

// NewHTTP checks config and builds the provider.
func NewHTTP(config HTTPConfig) (*HTTP, error) {
	if config.URL == "" {
		return nil, errors.New("SMS_PROVIDER_URL: is empty, but the http SMS provider needs the provider's URL")
	}
	if err := config.Check(); err != nil {
		return nil, err
	}
	client := &http.Client{
		Timeout: config.Timeout,
		// A redirected POST becomes a GET: a redirect is a misconfigured URL.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &HTTP{url: config.URL, authorization: config.Authorization, client: client}, nil
}

type smsProviderRequest struct {
	Number string `json:"number"`
	Text   string `json:"text"`
}

type smsProviderAnswer struct {
	ID string `json:"id"`
}

func (p *HTTP) Send(ctx context.Context, msg command.OutgoingSMS) (string, error) {
	if msg.IdempotencyKey == "" {
		// Without a key a retry could send the SMS twice.
		return "", errors.New("SMS without an idempotency key")
	}
	body, err := json.Marshal(smsProviderRequest{Number: msg.Number, Text: msg.Text})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Idempotency-Key", msg.IdempotencyKey)
	if p.authorization != "" {
		req.Header.Set("Authorization", p.authorization)
	}

	resp, err := p.client.Do(req)
	if err != nil {
		return "", p.transportError(err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, smsProviderMaxAnswer))
	if err != nil {
		return "", p.transportError(err)
	}

	status := fmt.Sprintf("the SMS provider answered %s", resp.Status)
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		var decoded smsProviderAnswer
		if err := json.Unmarshal(answer, &decoded); err != nil || decoded.ID == "" {
			// The SMS may be sent: the retry asks again under the same key.
			return "", fmt.Errorf("%s without a message id: %s", status, quoteProviderAnswer(answer))
		}
		return decoded.ID, nil
	case code >= 500, code == http.StatusRequestTimeout, code == http.StatusConflict, code == http.StatusTooEarly, code == http.StatusTooManyRequests:
		// 409: some providers answer so while a request with the same key is under way.
		return "", fmt.Errorf("%s: %s", status, quoteProviderAnswer(answer))
	default:
		return "", fmt.Errorf("%w: %s: %s", command.ErrSMSRejected, strings.TrimPrefix(status, "the SMS provider "), quoteProviderAnswer(answer))
	}
}

// transportError says what went wrong without the URL, which may hold a secret.
func (p *HTTP) transportError(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded) || isTimeoutError(err):
		return fmt.Errorf("the SMS provider did not answer in time: %w", context.DeadlineExceeded)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("the call to the SMS provider was cancelled: %w", err)
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	return fmt.Errorf("the SMS provider is unreachable: %w", err)
}

func isTimeoutError(err error) bool {
	var timeout interface{ Timeout() bool }
	return errors.As(err, &timeout) && timeout.Timeout()
}

// quoteProviderAnswer is the start of an answer, fit for a failure reason.
func quoteProviderAnswer(answer []byte) string {
	text := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(string(answer), "?"))
	text = strings.TrimSpace(text)
	if text == "" {
		return "(empty answer)"
	}
	if len(text) > smsProviderMaxQuote {
		cut := smsProviderMaxQuote
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "…"
	}
	return text
}
