package service_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/techradar/techradar/config"
)

// radarSeed is a radar's worth of techs across the three priorities (medium
// from 3 mentions, high from 10), with a name long enough to be cut.
var radarSeed = []struct {
	name     string
	mentions int
}{
	{"Kubernetes", 14}, {"PostgreSQL", 11}, {"Go", 10},
	{"Apache Kafka", 7}, {"React", 6}, {"Redis", 5}, {"TypeScript", 4}, {"Terraform", 3}, {"gRPC", 3},
	{"Rust", 2}, {"Tailwind CSS", 2}, {"OpenTelemetry", 2}, {"DuckDB", 2}, {"Elixir", 1}, {"Deno", 1},
	{"SvelteKit", 1}, {"ClickHouse", 1}, {"Temporal", 1}, {"WebAssembly", 1}, {"Bun", 1}, {"htmx", 1},
	{"Zig", 1}, {"Nix", 1}, {"Playwright", 1}, {"Amazon Managed Workflows for Apache Airflow", 1},
}

// radarState is what the page shows, read from the rendered page: the table's
// rows, and each blip and ring with its drawn geometry in CSS pixels.
type radarState struct {
	Rows []struct {
		ID, Name, Priority string
	}
	Blips []struct {
		ID, Name, Priority string
		Mentions           string
		X, Y, R            float64
	}
	Rings []struct {
		Priority     string
		Inner, Outer float64
	}
	CX, CY   float64
	Title    string
	Desc     string
	Overflow bool
}

const readRadar = `(() => {
  const svg = document.querySelector("#radar svg");
  const box = svg.getBoundingClientRect();
  const scale = box.width / svg.viewBox.baseVal.width;
  const centre = (el) => { const b = el.getBoundingClientRect(); return [b.left + b.width / 2, b.top + b.height / 2, b.width / 2]; };
  return {
    rows: [...document.querySelectorAll("#tech-list tr")].map((tr) => ({ id: tr.dataset.id, name: tr.dataset.name, priority: tr.dataset.priority })),
    blips: [...svg.querySelectorAll(".blip")].map((g) => {
      const [x, y, r] = centre(g.querySelector("circle"));
      return { id: g.dataset.id, name: g.dataset.name, priority: g.dataset.priority, mentions: g.dataset.mentions, x, y, r };
    }),
    rings: [...svg.querySelectorAll(".radar-ring")].map((c) => ({ priority: c.dataset.priority, inner: c.dataset.inner * scale, outer: c.dataset.outer * scale })),
    cx: box.left + box.width / 2,
    cy: box.top + box.height / 2,
    title: svg.querySelector("title").textContent,
    desc: svg.querySelector("desc").textContent,
    overflow: document.documentElement.scrollWidth > window.innerWidth,
  };
})()`

// crowdedRadar lays out 100 made-up techs in several mixes and reports, for
// each mix, how many pairs of blips overlap by more than a third of the
// smaller one and how many blips lie outside their ring.
const crowdedRadar = `(() => {
  const mixes = { spread: [15, 30, 55], allLow: [0, 0, 100], allMedium: [0, 100, 0], allHigh: [100, 0, 0] };
  const result = {};
  for (const [mix, counts] of Object.entries(mixes)) {
    for (const size of [340, 600]) {
      const techs = [];
      ["high", "medium", "low"].forEach((priority, ring) => {
        for (let i = 0; i < counts[ring]; i++) {
          const n = techs.length;
          const mentions = priority === "high" ? 10 + (n * 37) % 400 : priority === "medium" ? 3 + n % 7 : 1 + n % 2;
          techs.push({ id: "t" + n + "-" + (n * 2654435761 % 997), name: "Technology number " + n, priority, mentions, createdAt: "2026-01-01T00:00:" + String(n % 60).padStart(2, "0") + "Z" });
        }
      });
      const picture = techradarRadar.layout(techs, size);
      const ring = Object.fromEntries(picture.rings.map((r) => [r.priority, r]));
      let overlaps = 0, outside = 0;
      const b = picture.blips;
      for (let i = 0; i < b.length; i++) {
        const d = Math.hypot(b[i].x - picture.centre, b[i].y - picture.centre);
        const r = ring[b[i].priority];
        if (d - b[i].r < r.inner - 0.5 || d + b[i].r > r.outer + 0.5) outside++;
        for (let j = i + 1; j < b.length; j++) {
          const into = b[i].r + b[j].r - Math.hypot(b[i].x - b[j].x, b[i].y - b[j].y);
          if (into > Math.min(b[i].r, b[j].r) * 2 / 3) overlaps++;
        }
      }
      result[mix + "@" + size] = { blips: b.length, overlaps, outside };
    }
  }
  return result;
})()`

// TestWebRadar seeds techs of every priority and checks the radar in a real
// browser on a desktop and a phone: one blip per row of the table, each in the
// ring of its priority, apart from the others, numbers on focus and on tap, and
// nothing wider than a phone. Screenshots go to the test's artifact directory
// and, when TECHRADAR_SCREENSHOT_DIR is set, there too.
func TestWebRadar(t *testing.T) {
	t.Parallel()
	app := start(t, embeddedConfig(t), config.RoleServe)

	var commands []string
	for _, seed := range radarSeed {
		for range seed.mentions {
			commands = append(commands, app.postTech(seed.name, nil).CommandID)
		}
	}
	for _, id := range commands {
		if c := app.waitProcessed(id); c.Status != "processed" {
			t.Fatalf("command %s: %+v", id, c)
		}
	}
	t.Logf("seeded %d mentions", len(commands))
	// The browser's deadline runs from here, once the seeding is done.
	browser := newBrowser(t)

	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(browser, actions...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	// settled waits until no blip glides or flashes any more.
	settled := chromedp.Poll[bool](`!document.getAnimations().some((a) => a.effect && a.effect.target && a.effect.target.closest("#radar"))`)
	screenshot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(browser, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		saveScreenshot(t, name, png)
	}
	check := func(layout string) radarState {
		t.Helper()
		if _, err := chromedp.Run(browser, settled); err != nil {
			t.Fatalf("%s: the radar does not settle: %v", layout, err)
		}
		state, err := chromedp.Run(browser, chromedp.Evaluate[radarState](readRadar))
		if err != nil {
			t.Fatalf("%s: read the radar: %v", layout, err)
		}
		checkRadar(t, layout, state)
		return state
	}

	run("open the page on a desktop",
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(app.baseURL+"/"),
		chromedp.WaitVisible(`#live-state[data-state="live"]`),
		chromedp.WaitVisible(`#radar .blip[data-name="Kubernetes"]`),
	)
	desktop := check("desktop")
	if desktop.Title == "" || !strings.Contains(desktop.Desc, "3 high, 6 medium, 16 low") {
		t.Errorf("the radar's title %q and description %q do not tell what it shows", desktop.Title, desktop.Desc)
	}
	// Beside the table on a desktop: the radar's centre is left of the table.
	tableLeft, err := chromedp.Run(browser, chromedp.Evaluate[float64](`document.querySelector("#tech-table").getBoundingClientRect().left`))
	if err != nil {
		t.Fatal(err)
	}
	if desktop.CX >= tableLeft {
		t.Errorf("desktop: the radar (centre x %.0f) is not beside the table (left %.0f)", desktop.CX, tableLeft)
	}

	run("focus shows a blip's numbers",
		// A headless page is not the focused window, and an unfocused page
		// fires no focus events.
		chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
			_, err := cdp.Call(ctx, target, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true})
			return err
		}),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#radar .blip[data-name="Go"]').focus()`),
		chromedp.WaitVisible(`#radar .radar-tip:not([hidden])`),
	)
	goID, err := chromedp.Run(browser, chromedp.AttributeValue(`#radar .blip[data-name="Go"]`, "data-id"))
	if err != nil {
		t.Fatal(err)
	}
	if shown, err := chromedp.Run(browser, chromedp.AttributeValue(`#radar .radar-tip`, "data-id")); err != nil || shown.Value != goID.Value {
		t.Fatalf("focus on Go: the tip shows %q (%v)", shown.Value, err)
	}
	// The arrow keys walk the blips in the table's order.
	nextID, err := chromedp.Run(browser, chromedp.Evaluate[string](`(() => {
	  const rows = [...document.querySelectorAll("#tech-list tr")];
	  return rows[rows.findIndex((tr) => tr.dataset.name === "Go") + 1].dataset.id;
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	run("an arrow key moves to the next blip",
		chromedp.KeyEvent(kb.ArrowRight),
		chromedp.WaitVisible(`#radar .radar-tip[data-id="`+nextID+`"]`),
		chromedp.KeyEvent(kb.ArrowLeft),
		chromedp.WaitVisible(`#radar .radar-tip[data-id="`+goID.Value+`"]`),
	)
	tip, err := chromedp.Run(browser, chromedp.Text(`#radar .radar-tip`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tip, "Go") || !strings.Contains(tip, "10 mentions") || !strings.Contains(strings.ToLower(tip), "high") {
		t.Errorf("the tip on Go reads %q", tip)
	}
	label, err := chromedp.Run(browser, chromedp.AttributeValue(`#radar .blip[data-name="Kubernetes"]`, "aria-label"))
	if err != nil {
		t.Fatal(err)
	}
	if label.Value != "Kubernetes: high priority, 14 mentions" {
		t.Errorf("the blip's aria-label is %q", label.Value)
	}
	run("a click shows a blip's numbers",
		chromedp.Click(`#radar .blip[data-name="Playwright"] circle`),
		chromedp.WaitVisible(`#radar .radar-tip[data-id]:not([hidden])`),
	)
	if tip, err := chromedp.Run(browser, chromedp.Text(`#radar .radar-tip`)); err != nil || !strings.Contains(tip, "Playwright") || !strings.Contains(tip, "1 mention") {
		t.Errorf("the tip after a click on Playwright reads %q (%v)", tip, err)
	}
	run("scroll to the radar", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, document.querySelector(".list-card").offsetTop - 12)`))
	screenshot("radar-desktop.png")

	// A mention made elsewhere moves the blip to its new ring without a reload.
	for range 2 {
		app.waitProcessed(app.postTech("Rust", nil).CommandID)
	}
	run("a blip follows the list", chromedp.WaitVisible(`#radar .blip[data-name="Rust"][data-priority="medium"]`))
	check("desktop after a mention")

	crowded, err := chromedp.Run(browser, chromedp.Evaluate[map[string]struct{ Blips, Overlaps, Outside int }](crowdedRadar))
	if err != nil {
		t.Fatal(err)
	}
	for mix, got := range crowded {
		if got.Blips != 100 || got.Outside != 0 || got.Overlaps > 0 {
			t.Errorf("100 techs, %s: %d blips, %d badly overlapping pairs, %d outside their ring", mix, got.Blips, got.Overlaps, got.Outside)
		}
	}

	run("a phone-sized window",
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Reload(),
		chromedp.WaitVisible(`#radar .blip[data-name="Kubernetes"]`),
	)
	phone := check("phone")
	if phone.Overflow {
		t.Error("phone: the page is wider than the screen")
	}
	tableTop, err := chromedp.Run(browser, chromedp.Evaluate[float64](`document.querySelector("#tech-table").getBoundingClientRect().top`))
	if err != nil {
		t.Fatal(err)
	}
	if phone.CY >= tableTop {
		t.Errorf("phone: the radar (centre y %.0f) is not above the table (top %.0f)", phone.CY, tableTop)
	}
	run("a tap shows a blip's numbers",
		chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, document.querySelector(".list-card").offsetTop - 8)`),
		chromedp.Click(`#radar .blip[data-name="Apache Kafka"] circle`),
		chromedp.WaitVisible(`#radar .radar-tip[data-id]`),
	)
	if tip, err := chromedp.Run(browser, chromedp.Text(`#radar .radar-tip`)); err != nil || !strings.Contains(tip, "Apache Kafka") || !strings.Contains(tip, "7 mentions") {
		t.Errorf("the tip after a tap on Apache Kafka reads %q (%v)", tip, err)
	}
	tipFits, err := chromedp.Run(browser, chromedp.Evaluate[bool](`(() => { const b = document.querySelector("#radar .radar-tip").getBoundingClientRect(); return b.left >= 0 && b.right <= window.innerWidth; })()`))
	if err != nil || !tipFits {
		t.Errorf("phone: the tip sticks out of the screen (%v)", err)
	}
	screenshot("radar-phone.png")
}

// checkRadar checks that the radar shows the list: one blip per row, with the
// same id, name and priority, each blip wholly inside the ring of its priority
// and no two blips on top of each other.
func checkRadar(t *testing.T, layout string, s radarState) {
	t.Helper()
	if len(s.Rows) == 0 || len(s.Blips) != len(s.Rows) {
		t.Fatalf("%s: %d blips for %d rows", layout, len(s.Blips), len(s.Rows))
	}
	rows := map[string]string{}
	for _, r := range s.Rows {
		rows[r.ID] = r.Name + "/" + r.Priority
	}
	rings := map[string][2]float64{}
	for _, r := range s.Rings {
		rings[r.Priority] = [2]float64{r.Inner, r.Outer}
	}
	if len(rings) != 3 || !(rings["high"][1] <= rings["medium"][0]+0.5 && rings["medium"][1] <= rings["low"][0]+0.5) {
		t.Fatalf("%s: the rings are not high inside medium inside low: %v", layout, rings)
	}
	const slack = 1.0 // px of rounding
	for i, b := range s.Blips {
		if rows[b.ID] != b.Name+"/"+b.Priority {
			t.Errorf("%s: blip %s %q (%s) matches no row of the table", layout, b.ID, b.Name, b.Priority)
		}
		ring := rings[b.Priority]
		d := math.Hypot(b.X-s.CX, b.Y-s.CY)
		if d-b.R < ring[0]-slack || d+b.R > ring[1]+slack {
			t.Errorf("%s: blip %q (%s) at %.1f±%.1f px from the centre is outside its ring %.1f–%.1f", layout, b.Name, b.Priority, d, b.R, ring[0], ring[1])
		}
		for _, o := range s.Blips[i+1:] {
			if math.Hypot(b.X-o.X, b.Y-o.Y) < b.R+o.R-slack {
				t.Errorf("%s: blips %q and %q overlap", layout, b.Name, o.Name)
			}
		}
	}
	ids := func(n int, id func(int) string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = id(i)
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(ids(len(s.Rows), func(i int) string { return s.Rows[i].ID }), ids(len(s.Blips), func(i int) string { return s.Blips[i].ID })) {
		t.Errorf("%s: the blips' ids are not the rows' ids", layout)
	}
}

// saveScreenshot writes png to the test's artifact directory and, when
// TECHRADAR_SCREENSHOT_DIR names a directory, there too.
func saveScreenshot(t *testing.T, name string, png []byte) {
	t.Helper()
	dirs := []string{t.ArtifactDir()}
	if dir := os.Getenv("TECHRADAR_SCREENSHOT_DIR"); dir != "" {
		dirs = append(dirs, dir)
	}
	for _, dir := range dirs {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatalf("save screenshot: %v", err)
		}
		t.Logf("screenshot: %s", path)
	}
}
