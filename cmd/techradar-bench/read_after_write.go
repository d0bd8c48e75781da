package main

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// readAfterWrite sends 500 commands/s for the bench duration and, meanwhile,
// mentions new techs one at a time and times how long each takes to show in
// GET /api/techs. It returns the p50 and p99 of those delays and how many
// there were: with fewer than 200, the p99 is the second longest.
func (b *bench) readAfterWrite(base string, names []string) (time.Duration, time.Duration, int, error) {
	var (
		wg       sync.WaitGroup
		latency  []time.Duration
		probeErr error
	)
	stop := make(chan struct{})
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			name := fmt.Sprintf("Probe %s %d", uniqueName(""), i)
			began := time.Now()
			if err := postJSON(base+"/api/techs", name); err != nil {
				probeErr = err
				return
			}
			for {
				body, err := get(base + "/api/techs?limit=500")
				if err != nil {
					probeErr = err
					return
				}
				if strings.Contains(string(body), `"name":"`+name+`"`) {
					break
				}
				if time.Since(began) > 10*time.Second {
					probeErr = fmt.Errorf("%s never showed", name)
					return
				}
				time.Sleep(time.Millisecond)
			}
			latency = append(latency, time.Since(began))
		}
	})
	openLoop(postTechTargeter(base+"/api/techs", names), 500, b.duration, 202)
	close(stop)
	wg.Wait()
	if probeErr != nil {
		return 0, 0, 0, probeErr
	}
	if len(latency) == 0 {
		return 0, 0, 0, fmt.Errorf("no probe finished")
	}
	sort.Slice(latency, func(i, j int) bool { return latency[i] < latency[j] })
	return latency[len(latency)/2], latency[min(len(latency)-1, len(latency)*99/100)], len(latency), nil
}
