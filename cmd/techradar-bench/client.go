package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// The bench's HTTP calls to the service, and how it prints figures.

func postJSON(url, name string) error {
	body, _ := json.Marshal(map[string]string{"name": name})
	resp, err := http.Post(url, "application/json", strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST %s: %d", url, resp.StatusCode)
	}
	return nil
}

func get(url string) ([]byte, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
}

type listBody struct {
	IsCached bool `json:"isCached"`
	Data     []struct {
		Mentions int `json:"mentions"`
	} `json:"data"`
}

func totalMentions(base string) (int, error) {
	raw, err := get(base + "/api/techs?limit=500")
	if err != nil {
		return 0, err
	}
	var l listBody
	if err := json.Unmarshal(raw, &l); err != nil {
		return 0, err
	}
	n := 0
	for _, t := range l.Data {
		n += t.Mentions
	}
	return n, nil
}

func waitForMentions(ctx context.Context, base string, want int) error {
	return waitFor(ctx, 5*time.Millisecond, func() (bool, error) {
		n, err := totalMentions(base)
		return n >= want, err
	})
}

// warmList reads the list until it comes from the cache, and returns its bytes.
func warmList(base string) ([]byte, error) {
	for range 100 {
		raw, err := get(base + "/api/techs")
		if err != nil {
			return nil, err
		}
		var l listBody
		if err := json.Unmarshal(raw, &l); err != nil {
			return nil, err
		}
		if l.IsCached {
			return raw, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, fmt.Errorf("the list never came from the cache")
}

func perSecond(v float64) string { return fmt.Sprintf("%.0f/s", v) }

func percent(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}
