package service_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/techradar/techradar/config"
)

// chromiumPath finds the browser the page test drives: TECHRADAR_TEST_CHROMIUM,
// else Debian's chromium. Without one the test fails in CI and is skipped
// elsewhere.
func chromiumPath(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("TECHRADAR_TEST_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	const how = "chromium is not installed: run `bash scripts/test-services.sh` (or `apt-get install chromium`), or point TECHRADAR_TEST_CHROMIUM at a Chrome or Chromium binary"
	if os.Getenv("CI") == "true" {
		t.Fatal(how)
	}
	t.Skip(how)
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile, closed when the
// test ends.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Containers often give /dev/shm a few MiB, too little for a renderer.
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelBrowser()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// TestWebPage drives the page in a real browser against the real service: add a
// tech through the form, see it with its priority, see a mention made elsewhere
// arrive without a reload, and see the API's validation error next to the field.
func TestWebPage(t *testing.T) {
	t.Parallel()
	browser := newBrowser(t)
	app := start(t, embeddedConfig(t), config.RoleServe)

	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(browser, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	// read runs one action that answers a value.
	read := func(step string, action chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(browser, action)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		return v
	}
	screenshot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(t.ArtifactDir(), name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}

	app.waitProcessed(app.postTech("PostgreSQL", nil).CommandID)

	run("open the page",
		chromedp.Navigate(app.baseURL+"/"),
		chromedp.WaitVisible(`#live-state[data-state="live"]`),
		chromedp.WaitVisible(`#tech-list tr[data-name="PostgreSQL"]`),
	)
	run("the legend shows the policy in force",
		chromedp.Poll[chromedp.Void](`document.getElementById("policy-medium").textContent === "3" && document.getElementById("policy-high").textContent === "10"`,
			chromedp.WithPollingTimeout(10*time.Second)),
	)

	run("add a tech through the form",
		chromedp.SendKeys(`#tech-name`, "Apache Kafka"),
		chromedp.Click(`#tech-submit`),
		chromedp.WaitVisible(`#tech-list tr[data-name="Apache Kafka"]`),
		chromedp.WaitVisible(`#form-status[data-kind="ok"]`),
	)
	priority := read("priority", chromedp.TextContent(`#tech-list tr[data-name="Apache Kafka"] .priority`))
	mentions := read("mentions", chromedp.Text(`#tech-list tr[data-name="Apache Kafka"] td.num .count`))
	source := read("cache mark", chromedp.Text(`#cache-text`))
	if priority != "low" || mentions != "1" {
		t.Fatalf("the new tech shows priority %q, mentions %q; want low, 1", priority, mentions)
	}
	if source != "From cache" && source != "From database" {
		t.Fatalf("cache mark reads %q", source)
	}
	if inputValue := read("the form is cleared", chromedp.Value(`#tech-name`)); inputValue != "" {
		t.Fatalf("the name field still holds %q after a successful add", inputValue)
	}

	// Mentions made by another client arrive by polling, without a reload.
	for range 2 {
		app.waitProcessed(app.postTech("apache kafka", nil).CommandID)
	}
	run("a mention made elsewhere shows without a reload",
		chromedp.WaitVisible(`#tech-list tr[data-name="Apache Kafka"][data-priority="medium"]`),
	)
	mentions = read("mentions", chromedp.Text(`#tech-list tr[data-name="Apache Kafka"] td.num .count`))
	if mentions != "3" {
		t.Fatalf("after two more mentions the page shows %q mentions", mentions)
	}
	// An unchanged list is read again from the cache; the page says so.
	run("the cache mark follows the answer", chromedp.WaitVisible(`#cache-state[data-cached="true"]`))

	tooLong := strings.Repeat("x", 101)
	apiMessage := apiErrorMessage(t, app, tooLong)
	run("an invalid name shows the API's error next to the field",
		chromedp.SendKeys(`#tech-name`, tooLong),
		chromedp.Click(`#tech-submit`),
		chromedp.WaitVisible(`#name-error`),
	)
	shown := read("inline error", chromedp.Text(`#name-error`))
	invalid, err := chromedp.Run(browser, chromedp.AttributeValue(`#tech-name`, "aria-invalid"))
	if err != nil {
		t.Fatal(err)
	}
	if shown != apiMessage || invalid.Value != "true" {
		t.Fatalf("inline error %q (aria-invalid %q); want the API's %q", shown, invalid.Value, apiMessage)
	}
	run("send an SMS and follow it until sent",
		chromedp.SendKeys(`#sms-number`, "+541112345678"),
		chromedp.SendKeys(`#sms-text`, "Your code is 1234"),
		chromedp.Click(`#sms-submit`),
		chromedp.WaitVisible(`#sms-list li[data-status="sent"]`),
	)
	run("a bad number shows the API's error next to its field",
		chromedp.SetValue(`#sms-number`, "12"),
		chromedp.SendKeys(`#sms-text`, "hello"),
		chromedp.Click(`#sms-submit`),
		chromedp.WaitVisible(`#sms-number-error`),
	)
	if shown := read("SMS inline error", chromedp.Text(`#sms-number-error`)); shown == "" {
		t.Fatal("the SMS number error is empty")
	}
	screenshot("web-desktop.png")

	run("a phone-sized window",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Reload(),
		chromedp.WaitVisible(`#tech-list tr[data-name="Apache Kafka"]`),
	)
	overflow, err := chromedp.Run(browser, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if overflow {
		t.Fatal("the page is wider than a phone screen")
	}
	screenshot("web-phone.png")
}

// apiErrorMessage is the message the API gives for name, asked directly.
func apiErrorMessage(t *testing.T, app *running, name string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name})
	resp := app.do(http.MethodPost, "/api/techs", string(body), nil)
	var e struct {
		Error struct {
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	resp.json(t, &e)
	if resp.status != http.StatusBadRequest || e.Error.Field != "name" || e.Error.Message == "" {
		t.Fatalf("POST an invalid name: %d %s", resp.status, resp.body)
	}
	return e.Error.Message
}
