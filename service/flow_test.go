package service_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/internal/testenv"
)

// backend is one transport with the store and cache it runs with in production.
type backend struct {
	name string
	// durable transports keep messages while no worker runs and share them
	// between the workers of a consumer group.
	durable bool
	config  func(t *testing.T) config.Config
}

var backends = []backend{
	{name: "gochannel", config: embeddedConfig},
	{name: "redisstream", durable: true, config: func(t *testing.T) config.Config {
		c := sharedBackends(t)
		c.Transport = config.TransportRedisStream
		return c
	}},
	{name: "kafka", durable: true, config: func(t *testing.T) config.Config {
		c := sharedBackends(t)
		c.Transport = config.TransportKafka
		c.Kafka.Brokers = kafkaCluster(t)
		return c
	}},
	{name: "sql", durable: true, config: func(t *testing.T) config.Config {
		c := sharedBackends(t)
		c.Transport = config.TransportSQL
		return c
	}},
}

// sharedBackends is MySQL and Redis of the test's own: a fresh database, and
// key and stream names no other test uses.
func sharedBackends(t *testing.T) config.Config {
	t.Helper()
	c := embeddedConfig(t)
	opts, prefix := testenv.Redis(t)
	c.Store, c.Cache = config.StoreMySQL, config.CacheRedis
	c.MySQL.DSN = testenv.MySQLDatabase(t)
	c.Redis.Addr = opts.Addr
	c.RedisCache.KeyPrefix = prefix + ":readmodel"
	c.TopicPrefix = prefix
	return c
}

func kafkaCluster(t *testing.T) []string {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatalf("starting an in-process Kafka: %v", err)
	}
	t.Cleanup(cluster.Close)
	return cluster.ListenAddrs()
}

// TestFlowOnEveryTransport runs the whole flow, HTTP to read model, on each
// transport: mentions are applied exactly once and the cache follows them.
func TestFlowOnEveryTransport(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			app := start(t, b.config(t), config.RoleServe)

			// Concurrent mentions of a few techs, one of them retried with the
			// same idempotency key.
			counts := map[string]int{"Kafka": 12, "Redis": 4, "MySQL": 1}
			var (
				wg  sync.WaitGroup
				mu  sync.Mutex
				ids []string
			)
			for name, n := range counts {
				for range n {
					wg.Go(func() {
						a := app.postTech(name, nil)
						mu.Lock()
						ids = append(ids, a.CommandID)
						mu.Unlock()
					})
				}
			}
			wg.Wait()
			key := map[string]string{"Idempotency-Key": "flow-" + b.name}
			ids = append(ids, app.postTech("Watermill", key).CommandID)
			app.postTech("Watermill", key)
			counts["Watermill"] = 1

			for _, id := range ids {
				if report := app.waitProcessed(id); report.Status != "processed" {
					t.Fatalf("command %s: %+v", id, report)
				}
			}
			assertCounts(t, app, counts)

			// The read model follows: cached while nothing changes, invalidated by
			// the next event.
			if l := app.list(""); !l.IsCached {
				eventually(t, 10*time.Second, func() bool { return app.list("").IsCached }, "the list is never cached")
			}
			app.waitProcessed(app.postTech("redis", nil).CommandID)
			counts["Redis"]++
			eventually(t, 10*time.Second, func() bool {
				r, _ := find(app.list(""), "Redis")
				return r.Mentions == counts["Redis"]
			}, "the new mention never showed: the cache was not invalidated")

			want := []string{"Kafka", "Redis", "MySQL", "Watermill"} // high, medium, then low by name
			l := app.list("")
			for i, name := range want {
				if i >= len(l.Data) || l.Data[i].Name != name {
					t.Fatalf("order %v, want %v", l.Data, want)
				}
			}
			if l.Data[0].Priority != "high" || l.Data[1].Priority != "medium" || l.Data[2].Priority != "low" {
				t.Fatalf("priorities: %+v", l.Data)
			}
		})
	}
}

// TestSplitRoles runs the API and two workers as separate services on each
// durable transport: commands sent while no worker runs wait for one, and the
// workers of a consumer group share them without applying any twice.
func TestSplitRoles(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		if !b.durable {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			cfg := b.config(t)
			api := start(t, cfg, config.RoleAPI)

			const n = 100
			ids := make([]string, n)
			for i := range n {
				ids[i] = api.postTech(fmt.Sprintf("Tech %d", i%4), nil).CommandID
			}
			if report := api.waitProcessedWithin(ids[0], 300*time.Millisecond); report.Status != "pending" {
				t.Fatalf("a command was applied with no worker running: %+v", report)
			}

			for range 2 {
				start(t, cfg, config.RoleWorker)
			}
			for _, id := range ids {
				if report := api.waitProcessed(id); report.Status != "processed" {
					t.Fatalf("command %s: %+v", id, report)
				}
			}
			assertCounts(t, api, map[string]int{"Tech 0": n / 4, "Tech 1": n / 4, "Tech 2": n / 4, "Tech 3": n / 4})
		})
	}
}

func assertCounts(t *testing.T, app *running, want map[string]int) {
	t.Helper()
	eventually(t, 20*time.Second, func() bool {
		l := app.list("")
		for name, n := range want {
			if got, _ := find(l, name); got.Mentions != n {
				return false
			}
		}
		return true
	}, fmt.Sprintf("the list never showed %v: %+v", want, app.list("").Data))
}
