package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// soakLoad sends commands at a steady rate, and reads beside them, from a
// bounded pool of senders: a request the pool cannot take in time is counted,
// not queued, so the rate never bunches up.
type soakLoad struct {
	base string
	rate int
	// client keeps a connection per sender: a load that opened new ones would
	// show as the service's open files and memory churning.
	client   *http.Client
	accepted atomic.Int64
	failed   atomic.Int64
	skipped  atomic.Int64

	mu        sync.Mutex
	latencies []time.Duration
}

func newSoakLoad(base string, rate int) *soakLoad {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = soakSenders
	return &soakLoad{base: base, rate: rate, client: &http.Client{Transport: transport, Timeout: 30 * time.Second}}
}

const soakSenders = 64

func (l *soakLoad) run(ctx context.Context) {
	work := make(chan func(), soakSenders)
	var senders sync.WaitGroup
	for range soakSenders {
		senders.Go(func() {
			for job := range work {
				job()
			}
		})
	}
	defer func() { close(work); senders.Wait() }()

	// Ten ticks a second, each sending a tenth of the rate, and one read of
	// the list every tick.
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	perTick, carry := l.rate/10, l.rate%10
	for tick := 0; ; tick++ {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		n := perTick
		if tick%10 < carry {
			n++
		}
		for range n {
			l.offer(work, l.post)
		}
		l.offer(work, l.read)
	}
}

func (l *soakLoad) offer(work chan<- func(), job func()) {
	select {
	case work <- job:
	default:
		l.skipped.Add(1)
	}
}

func (l *soakLoad) post() {
	start := time.Now()
	body, _ := json.Marshal(map[string]string{"name": soakName()})
	resp, err := l.client.Post(l.base+"/api/techs", "application/json", strings.NewReader(string(body)))
	if err != nil {
		l.failed.Add(1)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		l.failed.Add(1)
		return
	}
	l.accepted.Add(1)
	l.mu.Lock()
	l.latencies = append(l.latencies, time.Since(start))
	l.mu.Unlock()
}

func (l *soakLoad) read() {
	resp, err := l.client.Get(l.base + "/api/techs?limit=100")
	if err != nil {
		l.failed.Add(1)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		l.failed.Add(1)
	}
}

// takeP99 is the 99th percentile of the POSTs answered since the last call.
func (l *soakLoad) takeP99() time.Duration {
	l.mu.Lock()
	latencies := l.latencies
	l.latencies = nil
	l.mu.Unlock()
	if len(latencies) == 0 {
		return 0
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	return latencies[len(latencies)*99/100]
}

// allMentions adds up the mentions of every tech, page by page.
func allMentions(base string) (int, error) {
	total, cursor := 0, ""
	for range 1000 { // at most 500,000 techs
		u := base + "/api/techs?limit=500"
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		raw, err := get(u)
		if err != nil {
			return 0, err
		}
		var page struct {
			Data []struct {
				Mentions int `json:"mentions"`
			} `json:"data"`
			NextCursor *string `json:"nextCursor"`
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			return 0, err
		}
		for _, t := range page.Data {
			total += t.Mentions
		}
		if page.NextCursor == nil {
			return total, nil
		}
		cursor = *page.NextCursor
	}
	return 0, fmt.Errorf("more than 1000 pages of techs")
}
