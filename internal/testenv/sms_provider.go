package testenv

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// SMSProvider is an SMS provider's HTTP API for tests, speaking the protocol
// of smsprovider.HTTP. It counts the requests it gets per idempotency
// key, sends (records) one SMS per key however often the key comes, and fails
// requests on demand.
type SMSProvider struct {
	URL string

	// answer decides the status of each request; 2xx sends.
	answer func(SMSProviderRequest) int

	mu       sync.Mutex
	latency  time.Duration
	requests map[string]int
	sent     map[string]SentSMS
	last     SMSProviderRequest
}

// SMSProviderRequest is one request, as the provider understood it.
type SMSProviderRequest struct {
	Key           string
	Number        string
	Text          string
	Authorization string
	// Attempt counts the requests with this key, this one included.
	Attempt int
}

// SentSMS is an SMS the provider sent.
type SentSMS struct {
	ID     string
	Number string
	Text   string
}

// NewSMSProvider starts a provider that answers each request with the status
// answer gives (nil: always 200), and stops it when the test ends.
func NewSMSProvider(t testing.TB, answer func(SMSProviderRequest) int) *SMSProvider {
	t.Helper()
	if answer == nil {
		answer = func(SMSProviderRequest) int { return http.StatusOK }
	}
	p := &SMSProvider{answer: answer, requests: map[string]int{}, sent: map[string]SentSMS{}}
	server := httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(server.Close)
	p.URL = server.URL + "/v1/messages"
	return p
}

// SetLatency makes every later request take d before it is answered.
func (p *SMSProvider) SetLatency(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency = d
}

func (p *SMSProvider) serve(w http.ResponseWriter, r *http.Request) {
	reply := func(status int, body any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var body struct {
		Number string `json:"number"`
		Text   string `json:"text"`
	}
	key := r.Header.Get("Idempotency-Key")
	switch {
	case r.Method != http.MethodPost:
		reply(http.StatusMethodNotAllowed, map[string]string{"error": "POST only"})
		return
	case mediaType != "application/json" || json.NewDecoder(r.Body).Decode(&body) != nil:
		reply(http.StatusBadRequest, map[string]string{"error": "a JSON body is required"})
		return
	case key == "":
		reply(http.StatusBadRequest, map[string]string{"error": "Idempotency-Key is required"})
		return
	}

	p.mu.Lock()
	p.requests[key]++
	req := SMSProviderRequest{Key: key, Number: body.Number, Text: body.Text, Authorization: r.Header.Get("Authorization"), Attempt: p.requests[key]}
	p.last = req
	latency := p.latency
	p.mu.Unlock()

	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	status := p.answer(req)
	if status < 200 || status > 299 {
		reply(status, map[string]string{"error": fmt.Sprintf("failing on demand with %d", status)})
		return
	}

	p.mu.Lock()
	sent, ok := p.sent[key]
	if !ok {
		sent = SentSMS{ID: fmt.Sprintf("msg-%d", len(p.sent)+1), Number: body.Number, Text: body.Text}
		p.sent[key] = sent
	}
	p.mu.Unlock()
	reply(status, map[string]string{"id": sent.ID})
}

// Requests is how many requests came with key, failed ones included.
func (p *SMSProvider) Requests(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests[key]
}

// RequestsByKey is how many requests came with each key.
func (p *SMSProvider) RequestsByKey() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.requests))
	for k, n := range p.requests {
		out[k] = n
	}
	return out
}

// Sent returns the SMS sent under key, if any.
func (p *SMSProvider) Sent(key string) (SentSMS, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.sent[key]
	return s, ok
}

// SentCount is how many distinct SMS were sent.
func (p *SMSProvider) SentCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sent)
}

// LastRequest is the last request that came with a key.
func (p *SMSProvider) LastRequest() SMSProviderRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}
