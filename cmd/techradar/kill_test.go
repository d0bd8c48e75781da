package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/techradar/techradar/internal/testenv"
)

// TestWorkerKilledMidStream runs the API and a worker as real processes on each
// durable transport, kills the worker with SIGKILL while commands stream in,
// and starts another: every accepted command is applied exactly once. What
// the dead worker held comes back through the transport: a pending entry
// claimed on Redis Streams, an uncommitted offset on Kafka, a rolled-back
// transaction on SQL.
func TestWorkerKilledMidStream(t *testing.T) {
	t.Parallel()
	for _, transport := range []string{"redisstream", "kafka", "sql"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			opts, prefix := testenv.Redis(t)
			env := []string{
				"TRANSPORT=" + transport,
				"STORE=mysql", "MYSQL_DSN=" + testenv.MySQLDatabase(t),
				"CACHE=redis", "REDIS_ADDR=" + opts.Addr, "CACHE_KEY_PREFIX=" + prefix + ":readmodel",
				"TOPIC_PREFIX=" + prefix,
				"REDISSTREAM_CLAIM_IDLE=1s", "REDISSTREAM_CLAIM_INTERVAL=250ms",
				"KAFKA_SESSION_TIMEOUT=6s", // the shortest a broker allows by default
				"LOG_LEVEL=warn",
			}
			if transport == "kafka" {
				cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(cluster.Close)
				env = append(env, "KAFKA_BROKERS="+strings.Join(cluster.ListenAddrs(), ","))
			}

			apiAddr := freeAddr(t)
			startChild(t, "api", append(env, "HTTP_ADDR="+apiAddr))
			first := startChild(t, "worker", append(env, "HTTP_ADDR="+freeAddr(t), "REDISSTREAM_CONSUMER=first"))
			base := "http://" + apiAddr

			const total = 300
			var (
				mu  sync.Mutex
				ids []string
				wg  sync.WaitGroup
			)
			for w := range 4 {
				wg.Go(func() {
					for i := w; i < total; i += 4 {
						id := postMention(t, base, fmt.Sprintf("Tech %d", i%5))
						mu.Lock()
						ids = append(ids, id)
						mu.Unlock()
					}
				})
			}

			// Kill the worker once it is busy: some commands applied, some not.
			deadline := time.Now().Add(30 * time.Second)
			for appliedMentions(t, base) < total/5 {
				if time.Now().After(deadline) {
					t.Fatal("the first worker never got going")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := first.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = first.Wait()
			killedAt := appliedMentions(t, base)

			startChild(t, "worker", append(env, "HTTP_ADDR="+freeAddr(t), "REDISSTREAM_CONSUMER=second"))
			wg.Wait()

			deadline = time.Now().Add(60 * time.Second)
			for _, id := range ids {
				for status := commandStatus(t, base, id); status != "processed"; status = commandStatus(t, base, id) {
					if status == "failed" || time.Now().After(deadline) {
						t.Fatalf("command %s is %s; %d of %d mentions applied", id, status, appliedMentions(t, base), total)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			if got := appliedMentions(t, base); got != total {
				t.Fatalf("%d mentions applied for %d commands", got, total)
			}
			t.Logf("killed the first worker after %d of %d mentions; all %d applied exactly once", killedAt, total, total)
		})
	}
}

// startChild runs techradar with args and env as a child process, waits until
// it answers /healthz, and kills it when the test ends.
func startChild(t *testing.T, args string, env []string) *exec.Cmd {
	t.Helper()
	cmd := command(t, args, env...)
	cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})

	var addr string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "HTTP_ADDR="); ok {
			addr = v
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("techradar %s never answered: %v", args, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testWriter sends a child's output to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func postMention(t *testing.T, base, name string) string {
	t.Helper()
	resp, err := http.Post(base+"/api/techs", "application/json", strings.NewReader(fmt.Sprintf(`{"name": %q}`, name)))
	if err != nil {
		t.Error(err)
		return ""
	}
	defer resp.Body.Close()
	var body struct {
		CommandID string `json:"commandId"`
	}
	if resp.StatusCode != http.StatusAccepted || json.NewDecoder(resp.Body).Decode(&body) != nil {
		t.Errorf("POST: %d", resp.StatusCode)
	}
	return body.CommandID
}

func commandStatus(t *testing.T, base, id string) string {
	t.Helper()
	resp, err := http.Get(base + "/api/commands/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return body.Status
}

// appliedMentions adds up the mentions of every tech in the list.
func appliedMentions(t *testing.T, base string) int {
	t.Helper()
	resp, err := http.Get(base + "/api/techs?limit=500")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data []struct {
			Mentions int `json:"mentions"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tech := range body.Data {
		n += tech.Mentions
	}
	return n
}

// TestKilledBetweenCommitAndPublish stops a worker, with SIGKILL, after its
// command committed and before the event left: the broker refuses the event
// until then. The event waits in the outbox and is published by the next
// worker.
func TestKilledBetweenCommitAndPublish(t *testing.T) {
	t.Parallel()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)

	opts, prefix := testenv.Redis(t)
	eventsTopic := prefix + ".events.TechCreated"
	// Created here, so that its id is known: a produce request may name a
	// topic by its id alone.
	if err := cluster.CreateTopic(eventsTopic, 1, nil); err != nil {
		t.Fatal(err)
	}
	eventsTopicID := cluster.TopicInfo(eventsTopic).TopicID
	var refuseEvents atomic.Bool
	refuseEvents.Store(true)
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		if !refuseEvents.Load() {
			return nil, nil, false
		}
		for _, topic := range req.(*kmsg.ProduceRequest).Topics {
			if topic.Topic == eventsTopic || topic.TopicID == eventsTopicID {
				return nil, errors.New("events refused"), true // the broker drops the connection
			}
		}
		return nil, nil, false
	})

	brokers := cluster.ListenAddrs()
	env := []string{
		"TRANSPORT=kafka", "KAFKA_BROKERS=" + strings.Join(brokers, ","),
		"STORE=mysql", "MYSQL_DSN=" + testenv.MySQLDatabase(t),
		"CACHE=redis", "REDIS_ADDR=" + opts.Addr, "CACHE_KEY_PREFIX=" + prefix + ":readmodel",
		"TOPIC_PREFIX=" + prefix, "KAFKA_SESSION_TIMEOUT=6s", "LOG_LEVEL=error",
	}
	apiAddr := freeAddr(t)
	startChild(t, "api", append(env, "HTTP_ADDR="+apiAddr))
	first := startChild(t, "worker", append(env, "HTTP_ADDR="+freeAddr(t)))
	base := "http://" + apiAddr

	// The event of this command is committed to the outbox, and refused by the broker.
	id := postMention(t, base, "Outboxed")
	deadline := time.Now().Add(30 * time.Second)
	for commandStatus(t, base, id) != "processed" {
		if time.Now().After(deadline) {
			t.Fatal("the command was never applied")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // the relay keeps trying, and failing
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	refuseEvents.Store(false)

	events := consumeTopic(t, brokers, eventsTopic)
	select {
	case msg := <-events:
		t.Fatalf("an event left before the worker died: %s", msg)
	case <-time.After(time.Second):
	}

	startChild(t, "worker", append(env, "HTTP_ADDR="+freeAddr(t)))
	select {
	case payload := <-events:
		if !strings.Contains(payload, id) {
			t.Fatalf("an unexpected event: %s", payload)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the event committed before the crash never arrived")
	}
}

// consumeTopic reads topic from its start and sends each record's value.
func consumeTopic(t *testing.T, brokers []string, topic string) <-chan string {
	t.Helper()
	client, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	values := make(chan string, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			client.PollFetches(ctx).EachRecord(func(r *kgo.Record) { values <- string(r.Value) })
		}
	}()
	t.Cleanup(func() { cancel(); <-done; client.Close() })
	return values
}

// TestSMSWorkerKilledMidSend kills a worker with SIGKILL while it waits on the
// SMS provider, and starts another: every SMS is sent once. The attempts cut
// short are made again under the same idempotency key, which the provider
// honours.
func TestSMSWorkerKilledMidSend(t *testing.T) {
	t.Parallel()
	provider := testenv.NewSMSProvider(t, nil)
	provider.SetLatency(200 * time.Millisecond) // kills land mid-send
	opts, prefix := testenv.Redis(t)
	env := []string{
		"TRANSPORT=redisstream", "STORE=mysql", "MYSQL_DSN=" + testenv.MySQLDatabase(t),
		"CACHE=redis", "REDIS_ADDR=" + opts.Addr, "CACHE_KEY_PREFIX=" + prefix + ":readmodel", "TOPIC_PREFIX=" + prefix,
		"REDISSTREAM_CLAIM_IDLE=1s", "REDISSTREAM_CLAIM_INTERVAL=250ms",
		"SMS_PROVIDER=http", "SMS_PROVIDER_URL=" + provider.URL, "SMS_PROVIDER_TIMEOUT=1s",
		"LOG_LEVEL=error",
	}
	apiAddr := freeAddr(t)
	startChild(t, "api", append(env, "HTTP_ADDR="+apiAddr))
	first := startChild(t, "worker", append(env, "HTTP_ADDR="+freeAddr(t), "REDISSTREAM_CONSUMER=first"))
	base := "http://" + apiAddr

	const n = 40
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body := fmt.Sprintf(`{"number": "+54911%08d", "text": "killed mid-send %d"}`, i, i)
			resp, err := http.Post(base+"/api/sms", "application/json", strings.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var accepted struct {
				ID string `json:"id"`
			}
			if resp.StatusCode != http.StatusAccepted || json.NewDecoder(resp.Body).Decode(&accepted) != nil {
				t.Errorf("POST /api/sms: %d", resp.StatusCode)
			}
			ids[i] = accepted.ID
		})
	}
	wg.Wait()

	deadline := time.Now().Add(30 * time.Second)
	for provider.SentCount() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the first worker never sent anything")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	startChild(t, "worker", append(env, "HTTP_ADDR="+freeAddr(t), "REDISSTREAM_CONSUMER=second"))

	deadline = time.Now().Add(60 * time.Second)
	for _, id := range ids {
		for {
			status, providerID := smsStatus(t, base, id)
			if status == "sent" {
				if sent, ok := provider.Sent(id); !ok || sent.ID != providerID {
					t.Fatalf("SMS %s reports provider id %q; the provider sent %+v", id, providerID, sent)
				}
				break
			}
			if status == "failed" || time.Now().After(deadline) {
				t.Fatalf("SMS %s is %s", id, status)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if got := provider.SentCount(); got != n {
		t.Fatalf("the provider sent %d SMS for %d submitted", got, n)
	}
	retried := 0
	for _, requests := range provider.RequestsByKey() {
		if requests > 1 {
			retried++
		}
	}
	t.Logf("all %d SMS sent once; %d were asked for again under their key after the kill", n, retried)
}

func smsStatus(t *testing.T, base, id string) (status, providerMessageID string) {
	t.Helper()
	resp, err := http.Get(base + "/api/sms/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status            string `json:"status"`
		ProviderMessageID string `json:"providerMessageId"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return body.Status, body.ProviderMessageID
}
