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
)

// HTTPConfig configures HTTP.
type HTTPConfig struct {
	// URL receives one POST per attempt to send an SMS.
	URL string
	// Timeout bounds one request, the answer's body included.
	Timeout time.Duration
	// Authorization is the value of the Authorization header, e.g.
	// "Bearer <token>"; empty sends none.
	Authorization string
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
	u, err := url.Parse(config.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("SMS provider URL %q must be an absolute http or https URL", config.URL)
	}
	if config.Timeout <= 0 {
		return nil, fmt.Errorf("SMS provider timeout must be positive, got %s", config.Timeout)
	}
	if !printableHeaderValue(config.Authorization) {
		return nil, errors.New("SMS provider authorization must be printable, without line breaks")
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

// printableHeaderValue refuses what would break the header or inject another.
func printableHeaderValue(v string) bool {
	for _, r := range v {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return false
		}
	}
	return true
}
