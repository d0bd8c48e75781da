package service_test

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/techradar/techradar/config"
	"github.com/techradar/techradar/internal/mysqldb"
	"github.com/techradar/techradar/internal/testenv"
)

// brokerLoss is a transport of the test's own, and a way to make it forget
// every message it holds.
type brokerLoss struct {
	name  string
	setup func(t *testing.T) (cfg config.Config, lose func())
}

var brokerLosses = []brokerLoss{
	{name: "redisstream", setup: func(t *testing.T) (config.Config, func()) {
		c := sharedBackends(t)
		c.Transport = config.TransportRedisStream
		server := testenv.StartRedisServer(t, "")
		c.Redis.Addr = server.Addr()
		// Restarted without persistence, Redis comes back empty.
		return c, func() { server.Stop(); testenv.StartRedisServer(t, server.Addr()) }
	}},
	{name: "sql", setup: func(t *testing.T) (config.Config, func()) {
		c := sharedBackends(t)
		c.Transport = config.TransportSQL
		return c, func() { deleteSQLTransportRows(t, c) }
	}},
	{name: "kafka", setup: func(t *testing.T) (config.Config, func()) {
		c := sharedBackends(t)
		c.Transport = config.TransportKafka
		c.Kafka.Brokers = kafkaCluster(t)
		return c, func() { deleteKafkaTopics(t, c) }
	}},
}

// TestCommandsResentAfterBrokerLoss accepts commands while no worker runs,
// makes the transport forget them, then starts a worker: the resender sends
// each again from the command log, and each is applied once, every SMS sent
// once.
func TestCommandsResentAfterBrokerLoss(t *testing.T) {
	t.Parallel()
	for _, loss := range brokerLosses {
		t.Run(loss.name, func(t *testing.T) {
			t.Parallel()
			var lose func()
			cfg, provider := smsBackend(t, backend{config: func(t *testing.T) (c config.Config) {
				c, lose = loss.setup(t)
				return c
			}})
			cfg.RedisStream.ClaimIdle, cfg.Resend.After = time.Second, 2*time.Second
			api := start(t, cfg, config.RoleAPI)

			const n = 20
			ids := make([]string, n)
			for i := range n {
				ids[i] = api.postTech(fmt.Sprintf("Lost %d", i%4), nil).CommandID
			}
			posted := postSMSConcurrently(t, api, 5, "lost")
			lose()

			worker := start(t, cfg, config.RoleWorker)
			for _, id := range ids {
				if report := api.waitProcessed(id); report.Status != "processed" {
					t.Fatalf("command %s: %+v", id, report)
				}
			}
			assertCounts(t, api, map[string]int{"Lost 0": n / 4, "Lost 1": n / 4, "Lost 2": n / 4, "Lost 3": n / 4})
			assertSentOnce(t, api, provider, posted)
			if resent := scrape(t, worker)["techradar_commands_resent_total"]; resent < n+float64(len(posted)) {
				t.Fatalf("techradar_commands_resent_total = %v, want at least %d", resent, n+len(posted))
			}
		})
	}
}

// deleteSQLTransportRows deletes every message of the SQL transport's
// tables (watermill_<topic>, a table per topic partition).
func deleteSQLTransportRows(t *testing.T, cfg config.Config) {
	t.Helper()
	db, err := mysqldb.Open(cfg.MySQL.DSN, mysqldb.PoolConfig{MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	rows, err := db.QueryContext(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = DATABASE() AND table_name LIKE 'watermill\_%' AND table_name NOT LIKE 'watermill\_offsets\_%' AND table_name <> 'watermill_publish_gates'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, deleted := scanStrings(t, rows), int64(0)
	for _, table := range tables {
		res, err := db.ExecContext(ctx, "DELETE FROM `"+table+"`")
		if err != nil {
			t.Fatal(err)
		}
		n, _ := res.RowsAffected()
		deleted += n
	}
	if deleted == 0 {
		t.Fatalf("no message deleted from the tables %v", tables)
	}
}

func scanStrings(t *testing.T, rows *sql.Rows) []string {
	t.Helper()
	defer rows.Close()
	var values []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		values = append(values, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return values
}

// deleteKafkaTopics deletes the deployment's topics; the worker creates them
// again, empty.
func deleteKafkaTopics(t *testing.T, cfg config.Config) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(cfg.Kafka.Brokers, sarama.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	topics, err := admin.ListTopics()
	if err != nil {
		t.Fatal(err)
	}
	var deleted []string
	for topic := range topics {
		if !strings.HasPrefix(topic, cfg.TopicPrefix+".") {
			continue
		}
		if err := admin.DeleteTopic(topic); err != nil {
			t.Fatalf("deleting %s: %v", topic, err)
		}
		deleted = append(deleted, topic)
	}
	if len(deleted) == 0 {
		t.Fatalf("no topic of %s to delete among %v", cfg.TopicPrefix, topics)
	}
	eventually(t, 10*time.Second, func() bool {
		left, err := admin.ListTopics()
		for _, topic := range deleted {
			if _, ok := left[topic]; ok {
				return false
			}
		}
		return err == nil
	}, "the topics "+strconv.Quote(strings.Join(deleted, ","))+" were never deleted")
}
