package main

import (
	"net/http"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// loadResult is what one attack measured.
type loadResult struct {
	Rate      float64 // successful requests per second
	P50, P99  time.Duration
	Requests  uint64
	Successes int
	Errors    []string
}

// closedLoop sends requests from conns workers, each waiting for its answer
// before the next, for d: the most the server gives at that concurrency.
func closedLoop(targeter vegeta.Targeter, conns int, d time.Duration, ok int) loadResult {
	attacker := vegeta.NewAttacker(
		vegeta.Workers(uint64(conns)), vegeta.MaxWorkers(uint64(conns)),
		vegeta.Connections(conns), vegeta.MaxConnections(conns),
		vegeta.KeepAlive(true), vegeta.Timeout(10*time.Second),
	)
	return collect(attacker.Attack(targeter, vegeta.ConstantPacer{}, d, "closed-loop"), ok)
}

// openLoop sends rate requests per second for d, whatever the answers take.
func openLoop(targeter vegeta.Targeter, rate int, d time.Duration, ok int) loadResult {
	attacker := vegeta.NewAttacker(vegeta.KeepAlive(true), vegeta.Timeout(10*time.Second), vegeta.MaxWorkers(256))
	return collect(attacker.Attack(targeter, vegeta.ConstantPacer{Freq: rate, Per: time.Second}, d, "open-loop"), ok)
}

func collect(results <-chan *vegeta.Result, ok int) loadResult {
	var (
		metrics   vegeta.Metrics
		successes int
	)
	for r := range results {
		metrics.Add(r)
		if int(r.Code) == ok {
			successes++
		}
	}
	metrics.Close()
	return loadResult{
		Rate:      float64(successes) / metrics.Duration.Seconds(),
		P50:       metrics.Latencies.P50,
		P99:       metrics.Latencies.P99,
		Requests:  metrics.Requests,
		Successes: successes,
		Errors:    metrics.Errors,
	}
}

// getTargeter asks for url again and again.
func getTargeter(url string) vegeta.Targeter {
	return vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: url})
}

// postTechTargeter mentions the techs of names in turn.
func postTechTargeter(url string, names []string) vegeta.Targeter {
	targets := make([]vegeta.Target, len(names))
	header := http.Header{"Content-Type": []string{"application/json"}}
	for i, name := range names {
		targets[i] = vegeta.Target{Method: http.MethodPost, URL: url, Body: []byte(`{"name": "` + name + `"}`), Header: header}
	}
	return vegeta.NewStaticTargeter(targets...)
}
