package service_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/techradar/techradar/config"
)

// TestWorkersDeleteOldCommands: the worker role runs the retention on its
// own. With a retention of a second, a processed command's status is gone
// soon after; the tech it made stays.
func TestWorkersDeleteOldCommands(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t)
	cfg.Retention.Interval, cfg.Retention.Commands = 100*time.Millisecond, time.Second
	app := start(t, cfg, config.RoleServe)

	id := app.postTech("Retained", nil).CommandID
	processed := app.waitProcessed(id)
	eventually(t, 20*time.Second, func() bool { return app.command(id).Status == "" }, "the processed command is still there")
	if tech := app.get("/api/techs/" + processed.TechID); tech.status != http.StatusOK {
		t.Fatalf("the tech of a deleted command: %d %s", tech.status, tech.body)
	}
}
