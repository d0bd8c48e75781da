package service_test

import (
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/domain/access"
)

// TestWebPageSendsItsAPIKey: with AUTH_MODE=apikey, the page sends the key
// the tab keeps as a bearer token, so that its writes are accepted. (The
// reads are public here, so the page loads without asking for a key.)
func TestWebPageSendsItsAPIKey(t *testing.T) {
	t.Parallel()
	browser := newBrowser(t)
	cfg := apiKeyConfig(t)
	cfg.Auth.PublicReads = true
	app := start(t, cfg, config.RoleServe)
	key := createKey(t, admin(t, cfg), "browser", access.TechsRead, access.TechsWrite)

	if err := chromedp.Do(browser,
		chromedp.Navigate(app.baseURL+"/"),
		chromedp.WaitVisible(`#live-state[data-state="live"]`),
	); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	if _, err := chromedp.Run(browser, chromedp.Evaluate[bool](`(sessionStorage.setItem("techradar.apiKey", `+strconv.Quote(key)+`), true)`)); err != nil {
		t.Fatalf("keep the key in the tab: %v", err)
	}
	if err := chromedp.Do(browser,
		chromedp.SendKeys(`#tech-name`, "Keyed"),
		chromedp.Click(`#tech-submit`),
		chromedp.WaitVisible(`#tech-list tr[data-name="Keyed"]`),
	); err != nil {
		t.Fatalf("add a tech with the tab's key: %v", err)
	}
}
