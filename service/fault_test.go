package service_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/go-sql-driver/mysql"

	"github.com/techradar/techradar/app"
	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/app/query"
	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/internal/testenv"
	"github.com/techradar/techradar/service"
)

// createTechMessage is a CreateTech as the command bus would publish it.
func createTechMessage(commandID, name string) *message.Message {
	msg := message.NewMessage(testenv.UniqueName("uuid-"), []byte(fmt.Sprintf(
		`{"commandId":%q,"name":%q,"requestedAt":%q}`, commandID, name, time.Now().UTC().Format(time.RFC3339Nano))))
	msg.Metadata.Set("name", "CreateTech")
	return msg
}

func commandTopic(cfg config.Config) string { return cfg.TopicPrefix + ".commands.CreateTech" }

func poisonAdmin(t *testing.T, cfg config.Config) poisonOperator {
	t.Helper()
	admin, err := service.OpenAdmin(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	return poisonOperator{admin.App}
}

// poisonOperator runs the poison use cases as `techradar poison` does.
type poisonOperator struct {
	app app.Application
}

func (o poisonOperator) List(ctx context.Context, limit int) ([]query.PoisonedMessage, error) {
	return o.app.Queries.PoisonedMessages.Handle(ctx, query.PoisonedMessages{Limit: limit})
}

// Requeue requeues ids, or every message when ids is empty.
func (o poisonOperator) Requeue(ctx context.Context, ids []int64) (int, error) {
	return o.app.Commands.RequeuePoisonedMessages.Handle(ctx, command.RequeuePoisonedMessages{IDs: ids, All: len(ids) == 0})
}

// TestDuplicateDeliveries publishes every command several times, as an
// at-least-once transport may deliver it: each counts once.
func TestDuplicateDeliveries(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			cfg := b.config(t)
			app := start(t, cfg, config.RoleServe)

			const commands, copies = 10, 4
			for i := range commands {
				msg := createTechMessage(fmt.Sprintf("dup-%d", i), "Duplicated")
				for range copies {
					// A redelivery is the same message again; a producer retry has a new UUID.
					if err := app.svc.Publisher().Publish(commandTopic(cfg), msg.Copy(), createTechMessage(fmt.Sprintf("dup-%d", i), "Duplicated")); err != nil {
						t.Fatal(err)
					}
				}
			}
			for i := range commands {
				app.waitProcessed(fmt.Sprintf("dup-%d", i))
			}
			assertCounts(t, app, map[string]int{"Duplicated": commands})
			time.Sleep(200 * time.Millisecond) // late copies must change nothing either
			assertCounts(t, app, map[string]int{"Duplicated": commands})
		})
	}
}

// TestUndecodableMessagesArePoisoned puts messages no handler can take on the
// command topic, between good ones: they go to the poison topic, the command
// they carry (when its id can be read) is failed with the reason, and the good
// ones behind them are applied.
func TestUndecodableMessagesArePoisoned(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			cfg := b.config(t)
			// Long enough that a retried message would miss the deadlines below:
			// what cannot succeed is poisoned without retries.
			cfg.Handlers.RetryBackoff, cfg.Handlers.MaxRetries = 5*time.Second, 4
			app := start(t, cfg, config.RoleServe)

			garbage := message.NewMessage("garbage-1", []byte("\x00 not json"))
			garbage.Metadata.Set("name", "CreateTech")
			wrongType := message.NewMessage("wrong-type-1", []byte(`{"commandId":"bad-name-type","name":42}`))
			wrongType.Metadata.Set("name", "CreateTech")
			nameless := message.NewMessage("nameless-1", []byte(`{"hello":"world"}`))
			badTime := message.NewMessage("bad-time-1", []byte(`{"commandId":"bad-time","name":"x","requestedAt":"yesterday"}`))
			badTime.Metadata.Set("name", "CreateTech")

			pub := app.svc.Publisher()
			if err := pub.Publish(commandTopic(cfg), garbage, createTechMessage("good-1", "Survivor"), wrongType, nameless, badTime, createTechMessage("good-2", "Survivor")); err != nil {
				t.Fatal(err)
			}
			app.waitProcessed("good-1")
			app.waitProcessed("good-2")
			assertCounts(t, app, map[string]int{"Survivor": 2})

			report := app.waitProcessed("bad-name-type")
			if report.Status != "failed" || report.Error == "" {
				t.Fatalf("a poisoned command reports %+v", report)
			}

			admin := poisonAdmin(t, cfg)
			var poisoned []query.PoisonedMessage
			eventually(t, 4*time.Second, func() bool {
				var err error
				poisoned, err = admin.List(context.Background(), 10)
				return err == nil && len(poisoned) == 4
			}, "the four bad messages were not all recorded as poisoned at once")
			for _, p := range poisoned {
				if p.Topic != commandTopic(cfg) || p.Handler != "techradar.create-tech" || p.Reason == "" {
					t.Fatalf("poisoned %+v", p)
				}
			}
		})
	}
}

// TestRequeuePoisonedCommand puts a poisoned command back on its topic through
// the admin: it goes from failed to processed.
func TestRequeuePoisonedCommand(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		if !b.durable {
			continue // the in-process transport cannot be reached from another process
		}
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			cfg := b.config(t)
			app := start(t, cfg, config.RoleServe)
			admin := poisonAdmin(t, cfg)

			// A command that was poisoned while, say, a bug was deployed: it is
			// failed in the command log and kept as poisoned.
			msg := createTechMessage("requeue-me", "Second Chance")
			msg.Metadata.Set("topic_poisoned", commandTopic(cfg))
			msg.Metadata.Set("handler_poisoned", "techradar.create-tech")
			msg.Metadata.Set("reason_poisoned", "it was a bad day")
			if err := app.svc.Publisher().Publish(cfg.TopicPrefix+".poison", msg); err != nil {
				t.Fatal(err)
			}
			eventually(t, 20*time.Second, func() bool {
				return app.command("requeue-me").Status == "failed"
			}, "the poisoned command was not marked failed")

			n, err := admin.Requeue(context.Background(), nil)
			if err != nil || n != 1 {
				t.Fatalf("Requeue = %d, %v", n, err)
			}
			if report := app.waitProcessed("requeue-me"); report.Status != "processed" {
				t.Fatalf("after requeue: %+v", report)
			}
			assertCounts(t, app, map[string]int{"Second Chance": 1})
			if left, _ := admin.List(context.Background(), 10); len(left) != 0 {
				t.Fatalf("still poisoned after requeue: %+v", left)
			}
		})
	}
}

// TestDatabaseDown takes MySQL away from a worker while commands arrive: the
// worker reports not ready, retries, and applies every command once MySQL is
// back; none is lost or poisoned.
func TestDatabaseDown(t *testing.T) {
	t.Parallel()
	cfg := sharedBackends(t)
	cfg.Transport = config.TransportRedisStream
	cfg.RedisStream.NackResendSleep = 200 * time.Millisecond
	api := start(t, cfg, config.RoleAPI)

	dsn, err := mysql.ParseDSN(cfg.MySQL.DSN)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, dsn.Addr)
	dsn.Addr = proxy.Addr()
	workerCfg := cfg
	workerCfg.MySQL.DSN = dsn.FormatDSN()
	workerCfg.HTTP.Addr = "127.0.0.1:0"
	worker := start(t, workerCfg, config.RoleWorker)

	api.waitProcessed(api.postTech("Before", nil).CommandID)
	proxy.Down()

	const n = 20
	ids := make([]string, n)
	for i := range n {
		ids[i] = api.postTech("During", nil).CommandID
	}
	eventually(t, 10*time.Second, func() bool {
		resp := worker.get("/readyz")
		return resp.status == http.StatusServiceUnavailable && strings.Contains(string(resp.body), "store")
	}, "the worker stayed ready with its database down")
	if report := api.waitProcessedWithin(ids[0], time.Second); report.Status != "pending" {
		t.Fatalf("a command was %s with the database down", report.Status)
	}

	proxy.Up()
	for _, id := range ids {
		if report := api.waitProcessed(id); report.Status != "processed" {
			t.Fatalf("command %s: %+v", id, report)
		}
	}
	assertCounts(t, api, map[string]int{"Before": 1, "During": n})
	if resp := worker.get("/readyz"); resp.status != http.StatusOK {
		t.Fatalf("the worker is not ready again: %s", resp.body)
	}
	if poisoned, _ := poisonAdmin(t, cfg).List(context.Background(), 10); len(poisoned) != 0 {
		t.Fatalf("an outage poisoned messages: %+v", poisoned)
	}
}

// TestCacheDownOrHung takes Redis away from the read model: reads answer from
// the store, not cached, within a bounded time, and /readyz names the cache.
func TestCacheDownOrHung(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t)
	opts, prefix := testenv.Redis(t)
	proxy := testenv.NewProxy(t, opts.Addr)
	cfg.Cache, cfg.Redis.Addr, cfg.RedisCache.KeyPrefix = config.CacheRedis, proxy.Addr(), prefix
	// Long enough that no probe reaches the broken Redis while the reads
	// below run on a busy machine, short enough for the recovery to show.
	cfg.RedisCache.BreakerCoolDown = 4 * time.Second
	app := start(t, cfg, config.RoleServe)

	app.waitProcessed(app.postTech("Cached", nil).CommandID)
	eventually(t, 10*time.Second, func() bool { return app.list("").IsCached }, "the list is never cached")

	for _, outage := range []struct {
		name  string
		begin func()
	}{{"down", proxy.Down}, {"hung", proxy.Hang}} {
		outage.begin()
		// The process's near copy of the list may still be served until it
		// notices that its subscription to the invalidations is gone: at
		// once when the connection is cut, within a second when it falls
		// silent.
		servedNearUntil := time.Now().Add(2 * time.Second)
		for {
			began := time.Now()
			l := app.list("")
			if took := time.Since(began); took > 3*time.Second {
				t.Fatalf("Redis %s: a read took %s", outage.name, took)
			}
			if len(l.Data) != 1 || l.Data[0].Name != "Cached" {
				t.Fatalf("Redis %s: %+v", outage.name, l)
			}
			if !l.IsCached {
				break
			}
			if time.Now().After(servedNearUntil) {
				t.Fatalf("Redis %s: still served from the cache: %+v", outage.name, l)
			}
			time.Sleep(10 * time.Millisecond)
		}
		// The breaker is open: no read waits for the Redis client's timeout
		// (a second) again.
		for i := range 10 {
			began := time.Now()
			if l := app.list(""); l.IsCached || len(l.Data) != 1 {
				t.Fatalf("Redis %s, read %d: %+v", outage.name, i+2, l)
			}
			if took := time.Since(began); took > 500*time.Millisecond {
				t.Fatalf("Redis %s: read %d took %s", outage.name, i+2, took)
			}
		}
		resp := app.get("/readyz")
		if resp.status != http.StatusServiceUnavailable || !strings.Contains(string(resp.body), "cache (redis)") {
			t.Fatalf("Redis %s: /readyz %d %s", outage.name, resp.status, resp.body)
		}
		proxy.Up()
		eventually(t, 10*time.Second, func() bool { return app.list("").IsCached }, "the cache never came back")
	}
}

// TestTransportDown takes the transport away from the API: a POST answers 503
// with a JSON error, in bounded time, and the command is not left pending.
func TestTransportDown(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t)
	opts, prefix := testenv.Redis(t)
	proxy := testenv.NewProxy(t, opts.Addr)
	cfg.Transport, cfg.Redis.Addr, cfg.TopicPrefix = config.TransportRedisStream, proxy.Addr(), prefix
	app := start(t, cfg, config.RoleServe)
	app.waitProcessed(app.postTech("Fine", nil).CommandID)

	proxy.Down()
	began := time.Now()
	resp := app.do(http.MethodPost, "/api/techs", `{"name": "Lost?"}`, map[string]string{"Idempotency-Key": "transport-down"})
	if took := time.Since(began); took > 10*time.Second {
		t.Fatalf("the POST took %s", took)
	}
	if resp.status != http.StatusServiceUnavailable {
		t.Fatalf("POST with the transport down: %d %s", resp.status, resp.body)
	}
	if code, _ := resp.errorOf(t); code != "unavailable" {
		t.Fatalf("code %q", code)
	}
	if got := app.get("/api/commands/transport-down"); got.status != http.StatusNotFound {
		t.Fatalf("a refused command is reported: %d %s", got.status, got.body)
	}
	proxy.Up()
}
