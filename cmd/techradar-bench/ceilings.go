package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"
)

// serveBareEcho is the ceiling of the read path: an echo server whose one
// handler returns body, in a process of its own like the service.
func serveBareEcho(addr, bodyFile string) error {
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		return err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/api/techs", func(c echo.Context) error { return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body) })
	return e.Start(addr)
}

// startBareEcho runs this binary as the bare echo server.
func (b *bench) startBareEcho(body []byte) (*process, error) {
	bodyFile := b.tempDir + "/bare-echo-body.json"
	if err := os.WriteFile(bodyFile, body, 0o644); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(os.Args[0], "-bare-echo-addr", addr, "-bare-echo-body", bodyFile)
	cmd.Stdout, cmd.Stderr = b.log, b.log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, base: "http://" + addr}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if resp, err := http.Get(p.base + "/api/techs"); err == nil {
			resp.Body.Close()
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("the bare echo server never answered")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rate runs op from workers goroutines for d and returns the operations per second.
func rate(workers int, d time.Duration, op func(ctx context.Context, worker int) error) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var (
		done     atomic.Int64
		firstErr error
		once     sync.Once
		wg       sync.WaitGroup
	)
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := op(ctx, w); err != nil {
					if ctx.Err() == nil {
						once.Do(func() { firstErr = err; cancel() })
					}
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds(), firstErr
}

// redisXAddRate is how many entries 32 clients append to a stream per second.
func (b *bench) redisXAddRate(d time.Duration) (float64, error) {
	client := redis.NewClient(&redis.Options{Addr: b.redisAddr, PoolSize: 32})
	defer client.Close()
	stream := uniqueName("techradar-bench-ceiling-")
	defer client.Del(context.Background(), stream)
	payload := map[string]any{"payload": `{"commandId":"0192f0c4-5d39-5a29-b4fe-b37db44eaafd","name":"Kafka"}`}
	return rate(32, d, func(ctx context.Context, _ int) error {
		return client.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: payload}).Err()
	})
}

// redisXReadGroupRate is how many entries one consumer group reads and
// acknowledges per second, 100 at a time, as the transport's subscriber does.
func (b *bench) redisXReadGroupRate(entries int) (float64, error) {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: b.redisAddr})
	defer client.Close()
	stream := uniqueName("techradar-bench-ceiling-")
	defer client.Del(ctx, stream)
	pipe := client.Pipeline()
	for range entries {
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: map[string]any{"payload": "x"}})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, err
	}
	if err := client.XGroupCreate(ctx, stream, "g", "0").Err(); err != nil {
		return 0, err
	}
	start, read := time.Now(), 0
	for read < entries {
		res, err := client.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{stream, ">"}, Count: 100}).Result()
		if err != nil {
			return 0, err
		}
		for _, s := range res {
			ids := make([]string, len(s.Messages))
			for i, m := range s.Messages {
				ids[i] = m.ID
			}
			if err := client.XAck(ctx, stream, "g", ids...).Err(); err != nil {
				return 0, err
			}
			read += len(ids)
		}
	}
	return float64(entries) / time.Since(start).Seconds(), nil
}

// mysqlTxRate is how many small write transactions 32 connections commit per second.
func (b *bench) mysqlTxRate(d time.Duration) (float64, error) {
	dsn, drop, err := b.freshDatabase()
	if err != nil {
		return 0, err
	}
	defer drop()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(32)
	if _, err := db.Exec("CREATE TABLE t (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64)) ENGINE=InnoDB"); err != nil {
		return 0, err
	}
	return rate(32, d, func(ctx context.Context, _ int) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO t (v) VALUES (?)", "x"); err != nil {
			_ = tx.Rollback()
			return err
		}
		return tx.Commit()
	})
}

// kafkaProduceRate is how many records 32 producers append per second to the
// in-memory Kafka, in a process of its own as the kafka backend's, waiting
// for each acknowledgement as the transport does.
func (b *bench) kafkaProduceRate(d time.Duration) (float64, error) {
	kafka, err := b.startKafka()
	if err != nil {
		return 0, err
	}
	defer kafka.stop()
	client, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(kafka.brokers, ",")...), kgo.DefaultProduceTopic("ceiling"), kgo.AllowAutoTopicCreation())
	if err != nil {
		return 0, err
	}
	defer client.Close()
	value := []byte(`{"commandId":"0192f0c4-5d39-5a29-b4fe-b37db44eaafd","name":"Kafka"}`)
	return rate(32, d, func(ctx context.Context, _ int) error {
		return client.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr()
	})
}
