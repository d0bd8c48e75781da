package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseWrkReport(t *testing.T) {
	t.Parallel()
	out := "Running 1s test @ http://x\n  2 threads and 4 connections\n\n" +
		`WRK_JSON {"requests":120,"duration_us":1000000,"bytes":5,"errors":{"connect":0,"read":1,"write":0,"status":20,"timeout":2},"latency_us":{"p50":800,"p99":4000,"max":9000}}` + "\n"
	r, err := parseWrkReport(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.successes() != 100 || r.rate() != 100 || r.socketErrors() != 3 {
		t.Fatalf("successes %d, rate %v, socket errors %d", r.successes(), r.rate(), r.socketErrors())
	}
	if r.p50() != 800*time.Microsecond || r.p99() != 4*time.Millisecond {
		t.Fatalf("p50 %s, p99 %s", r.p50(), r.p99())
	}
	if _, err := parseWrkReport("Running 1s test\n"); err == nil {
		t.Fatal("an output without the report parsed")
	}
}

// TestWrkPostWorkloads runs the embedded scripts in wrk, when it is
// installed, against a server that records the names it is sent.
func TestWrkPostWorkloads(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Skip("wrk is not installed")
	}
	var (
		mu sync.Mutex
		// sent holds the names each workload sent, by the path it posts
		// to: wrk may leave a request of one workload in flight into the
		// next.
		sent = map[string]map[string]int{}
	)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Name string `json:"name"`
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" ||
			json.NewDecoder(r.Body).Decode(&body) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		if sent[r.URL.Path] == nil {
			sent[r.URL.Path] = map[string]int{}
		}
		sent[r.URL.Path][body.Name]++
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer server.Close()
	w, err := newWrk("wrk", 2, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, workload := range workloads {
		r, err := w.post(server.URL+"/"+workload+"/api/techs", 4, time.Second, workload)
		if err != nil {
			t.Fatal(err)
		}
		if r.Errors.Status != 0 || r.successes() == 0 {
			t.Fatalf("%s: %d answers, %d status errors", workload, r.Requests, r.Errors.Status)
		}
		mu.Lock()
		names := sent["/"+workload+"/api/techs"]
		for name, n := range names {
			switch workload {
			case "hot50":
				if !strings.HasPrefix(name, "Hot ") || len(name) != len("Hot 00") {
					t.Errorf("hot50 sent %q", name)
				}
			case "wide":
				if !strings.HasPrefix(name, "Wide ") || n != 1 {
					t.Errorf("wide sent %q %d times", name, n)
				}
			}
		}
		if workload == "hot50" && len(names) > 50 {
			t.Errorf("hot50 sent %d names", len(names))
		}
		mu.Unlock()
	}
}
