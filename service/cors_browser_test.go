package service_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/techradar/techradar/config"
)

// crossOriginPage is a page of another origin that uses the API the way a
// browser client would: the compat POST /create, POST /api/techs with the
// headers that need a preflight, then GET /get until both techs show. It
// writes what it saw into #result as JSON.
const crossOriginPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>another origin</title></head>
<body><pre id="result"></pre>
<script>
const api = new URLSearchParams(location.search).get("api");
const result = {};
async function run() {
  try {
    const compat = await fetch(api + "/create", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({text: "Cross Origin Compat"})});
    result.createStatus = compat.status;
    const native = await fetch(api + "/api/techs", {method: "POST",
      headers: {"Content-Type": "application/json", "Idempotency-Key": "browser-1", "X-Request-ID": "from-the-browser"},
      body: JSON.stringify({name: "Cross Origin Native"})});
    result.techsStatus = native.status;
    result.location = native.headers.get("Location");
    result.requestId = native.headers.get("X-Request-ID");
    for (let i = 0; i < 100; i++) {
      const list = await (await fetch(api + "/get")).json();
      result.texts = list.data.map(t => t.text);
      if (result.texts.some(t => t.startsWith("Cross Origin Compat")) && result.texts.some(t => t.startsWith("Cross Origin Native"))) break;
      await new Promise(r => setTimeout(r, 100));
    }
  } catch (e) {
    result.error = String(e);
  }
  const out = document.getElementById("result");
  out.textContent = JSON.stringify(result);
  out.dataset.done = "yes";
}
run();
</script></body></html>`

type crossOriginResult struct {
	CreateStatus int      `json:"createStatus"`
	TechsStatus  int      `json:"techsStatus"`
	Location     string   `json:"location"`
	RequestID    string   `json:"requestId"`
	Texts        []string `json:"texts"`
	Error        string   `json:"error"`
}

// TestCrossOriginBrowser runs the page above in Chromium from its own origin
// against an API that lists that origin, and against one that does not.
func TestCrossOriginBrowser(t *testing.T) {
	t.Parallel()
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(crossOriginPage))
	}))
	t.Cleanup(page.Close)

	listing := embeddedConfig(t)
	listing.Limits.CORSAllowedOrigins = []string{"https://elsewhere.example", page.URL}
	allowed := start(t, listing, config.RoleServe)
	notListing := embeddedConfig(t)
	notListing.Limits.CORSAllowedOrigins = []string{"https://elsewhere.example"}
	refused := start(t, notListing, config.RoleServe)

	browser := newBrowser(t)
	open := func(api string) crossOriginResult {
		t.Helper()
		err := chromedp.Do(browser,
			chromedp.Navigate(page.URL+"/?api="+url.QueryEscape(api)),
			chromedp.WaitVisible(`#result[data-done="yes"]`),
		)
		if err != nil {
			t.Fatalf("open the page against %s: %v", api, err)
		}
		text, err := chromedp.Run(browser, chromedp.TextContent(`#result`))
		if err != nil {
			t.Fatal(err)
		}
		var r crossOriginResult
		if err := json.Unmarshal([]byte(text), &r); err != nil {
			t.Fatalf("page result %q: %v", text, err)
		}
		return r
	}

	r := open(allowed.baseURL)
	if r.Error != "" || r.CreateStatus != http.StatusCreated || r.TechsStatus != http.StatusAccepted {
		t.Fatalf("listed origin: %+v", r)
	}
	if r.RequestID != "from-the-browser" || len(r.Location) < len("/api/commands/x") {
		t.Errorf("the page could not read the exposed headers: %+v", r)
	}
	var compat, native bool
	for _, text := range r.Texts {
		compat = compat || text == "Cross Origin Compat - priority (low)"
		native = native || text == "Cross Origin Native - priority (low)"
	}
	if !compat || !native {
		t.Errorf("GET /get from the page: %q, want both techs", r.Texts)
	}

	r = open(refused.baseURL)
	if r.Error == "" || r.CreateStatus != 0 {
		t.Fatalf("an origin not listed read the answer: %+v", r)
	}
}
