package main

import (
	"net/http"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// The read-after-write measurement's steady load runs in this process, with
// vegeta: it is open loop at a low rate, so what it measures (the delay
// before a mention shows) does not depend on the load generator's speed. The
// closed-loop loads run in wrk (wrk.go).

// loadResult is what one attack measured.
type loadResult struct {
	Rate      float64 // successful requests per second
	P50, P99  time.Duration
	Requests  uint64
	Successes int
	Errors    []string
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

// postTechTargeter mentions the techs of names in turn.
func postTechTargeter(url string, names []string) vegeta.Targeter {
	targets := make([]vegeta.Target, len(names))
	header := http.Header{"Content-Type": []string{"application/json"}}
	for i, name := range names {
		targets[i] = vegeta.Target{Method: http.MethodPost, URL: url, Body: []byte(`{"name": "` + name + `"}`), Header: header}
	}
	return vegeta.NewStaticTargeter(targets...)
}
