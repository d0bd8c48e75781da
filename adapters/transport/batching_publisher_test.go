package transport_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/adapters/transport"
)

// recordingPublisher is the publisher under a BatchingPublisher in these
// tests: it records each publish it gets, waits while hold is open, and fails
// every publish holding a message whose payload is "bad".
type recordingPublisher struct {
	hold chan struct{}

	mu        sync.Mutex
	publishes [][]string // the UUIDs of each publish, in the order they came
	started   chan struct{}
}

func newRecordingPublisher() *recordingPublisher {
	return &recordingPublisher{hold: make(chan struct{}), started: make(chan struct{}, 1000)}
}

var errBadMessage = errors.New("bad message")

func (p *recordingPublisher) Publish(_ string, messages ...*message.Message) error {
	uuids := make([]string, len(messages))
	for i, msg := range messages {
		uuids[i] = msg.UUID
	}
	p.mu.Lock()
	p.publishes = append(p.publishes, uuids)
	p.mu.Unlock()
	p.started <- struct{}{}
	<-p.hold
	for _, msg := range messages {
		if string(msg.Payload) == "bad" {
			return errBadMessage
		}
	}
	return nil
}

func (p *recordingPublisher) Close() error { return nil }

func (p *recordingPublisher) sizes() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	sizes := make([]int, len(p.publishes))
	for i, uuids := range p.publishes {
		sizes[i] = len(uuids)
	}
	return sizes
}

func (p *recordingPublisher) published(uuid string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, uuids := range p.publishes {
		if slices.Contains(uuids, uuid) {
			return true
		}
	}
	return false
}

// waitStarted waits for one more publish to have reached the publisher.
func (p *recordingPublisher) waitStarted(t *testing.T) {
	t.Helper()
	select {
	case <-p.started:
	case <-time.After(waitLimit):
		t.Fatal("no publish reached the publisher")
	}
}

func newBatchingPublisher(t *testing.T, under message.Publisher, config transport.BatchingPublisherConfig) *transport.BatchingPublisher {
	t.Helper()
	publisher, err := transport.NewBatchingPublisher(under, config)
	if err != nil {
		t.Fatal(err)
	}
	return publisher
}

// publishEach publishes each message alone, each from a goroutine of its
// own; the returned func waits for the outcomes, in message order.
func publishEach(publisher message.Publisher, messages ...*message.Message) (wait func() []error) {
	errs := make([]error, len(messages))
	var published sync.WaitGroup
	for i, msg := range messages {
		published.Go(func() { errs[i] = publisher.Publish("topic", msg) })
	}
	return func() []error {
		published.Wait()
		return errs
	}
}

func payloadMessage(payload string) *message.Message {
	return message.NewMessage(watermill.NewUUID(), []byte(payload))
}

func TestBatchingPublisherJoinsThePublishesQueuedBehindABusyOne(t *testing.T) {
	t.Parallel()
	under := newRecordingPublisher()
	publisher := newBatchingPublisher(t, under, transport.BatchingPublisherConfig{MaxBatch: 4, MaxInFlight: 1})

	waitFirst := publishEach(publisher, payloadMessage("first"))
	under.waitStarted(t) // the first went at once, alone
	queued := make([]*message.Message, 10)
	for i := range queued {
		queued[i] = payloadMessage("queued")
	}
	waitQueued := publishEach(publisher, queued...)
	time.Sleep(50 * time.Millisecond) // let them all queue behind the first
	close(under.hold)
	for _, err := range append(waitFirst(), waitQueued()...) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if want := []int{1, 4, 4, 2}; !slices.Equal(under.sizes(), want) {
		t.Fatalf("publishes of %v messages, want %v", under.sizes(), want)
	}
}

func TestBatchingPublisherPassesSeveralMessagesThroughAsOnePublish(t *testing.T) {
	t.Parallel()
	under := newRecordingPublisher()
	close(under.hold)
	publisher := newBatchingPublisher(t, under, transport.BatchingPublisherConfig{})

	if err := publisher.Publish("topic", payloadMessage("a"), payloadMessage("b"), payloadMessage("c")); err != nil {
		t.Fatal(err)
	}
	if err := publisher.Publish("topic", payloadMessage("alone")); err != nil {
		t.Fatal(err)
	}
	if want := []int{3, 1}; !slices.Equal(under.sizes(), want) {
		t.Fatalf("publishes of %v messages, want %v", under.sizes(), want)
	}
}

func TestBatchingPublisherFailsOnlyTheCallerOfTheMessageAtFault(t *testing.T) {
	t.Parallel()
	under := newRecordingPublisher()
	publisher := newBatchingPublisher(t, under, transport.BatchingPublisherConfig{})

	waitFirst := publishEach(publisher, payloadMessage("first"))
	under.waitStarted(t)
	joined := []*message.Message{payloadMessage("good"), payloadMessage("bad"), payloadMessage("good"), payloadMessage("good")}
	waitJoined := publishEach(publisher, joined...)
	time.Sleep(50 * time.Millisecond)
	close(under.hold)
	if err := waitFirst()[0]; err != nil {
		t.Fatal(err)
	}
	for i, err := range waitJoined() {
		bad := string(joined[i].Payload) == "bad"
		if bad && !errors.Is(err, errBadMessage) {
			t.Errorf("the bad message's publish: %v, want %v", err, errBadMessage)
		}
		if !bad && err != nil {
			t.Errorf("a good message's publish failed with its bad neighbour: %v", err)
		}
	}
	// The first alone, the four joined, then each of the four alone.
	if want := []int{1, 4, 1, 1, 1, 1}; !slices.Equal(under.sizes(), want) {
		t.Fatalf("publishes of %v messages, want %v", under.sizes(), want)
	}
}

func TestBatchingPublisherDropsACallerWhoseContextEndsBeforeItsBatch(t *testing.T) {
	t.Parallel()
	under := newRecordingPublisher()
	publisher := newBatchingPublisher(t, under, transport.BatchingPublisherConfig{})

	waitFirst := publishEach(publisher, payloadMessage("first"))
	under.waitStarted(t)
	ctx, cancel := context.WithCancel(context.Background())
	abandoned := payloadMessage("abandoned")
	abandoned.SetContext(ctx)
	kept := payloadMessage("kept")
	waitQueued := publishEach(publisher, abandoned, kept)
	time.Sleep(50 * time.Millisecond)
	cancel()
	time.Sleep(20 * time.Millisecond)
	close(under.hold)

	errs := waitQueued()
	if !errors.Is(errs[0], context.Canceled) || !strings.Contains(errs[0].Error(), abandoned.UUID) {
		t.Errorf("the abandoned publish: %v, want context.Canceled naming the message", errs[0])
	}
	if errs[1] != nil || waitFirst()[0] != nil {
		t.Fatalf("publishes: %v, %v", errs[1], waitFirst()[0])
	}
	if under.published(abandoned.UUID) {
		t.Error("the abandoned message was published")
	}
	if want := []int{1, 1}; !slices.Equal(under.sizes(), want) {
		t.Fatalf("publishes of %v messages, want %v", under.sizes(), want)
	}
}

func TestBatchingPublisherCloseWaitsForThePublishesInFlight(t *testing.T) {
	t.Parallel()
	under := newRecordingPublisher()
	publisher := newBatchingPublisher(t, under, transport.BatchingPublisherConfig{CloseTimeout: waitLimit})

	waitInFlight := publishEach(publisher, payloadMessage("in flight"), payloadMessage("queued"))
	under.waitStarted(t)
	time.Sleep(50 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- publisher.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned with a publish in flight: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := publisher.Publish("topic", payloadMessage("late")); err == nil {
		t.Error("a publish after Close was accepted")
	}
	close(under.hold)
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, err := range waitInFlight() {
		if err != nil {
			t.Errorf("a publish accepted before Close: %v", err)
		}
	}
}

func TestBatchingPublisherCloseIsBounded(t *testing.T) {
	t.Parallel()
	under := newRecordingPublisher()
	defer close(under.hold)
	const closeTimeout = 200 * time.Millisecond
	publisher := newBatchingPublisher(t, under, transport.BatchingPublisherConfig{CloseTimeout: closeTimeout})

	publishEach(publisher, payloadMessage("hung"))
	under.waitStarted(t)
	started := time.Now()
	if err := publisher.Close(); err == nil {
		t.Fatal("Close reported no publish left in flight")
	}
	if took := time.Since(started); took > closeTimeout+time.Second {
		t.Fatalf("Close took %s, bound %s", took, closeTimeout)
	}
}

func TestBatchingPublisherRefusesBadBounds(t *testing.T) {
	t.Parallel()
	if _, err := transport.NewBatchingPublisher(nil, transport.BatchingPublisherConfig{}); err == nil {
		t.Error("no publisher accepted")
	}
	if _, err := transport.NewBatchingPublisher(newRecordingPublisher(), transport.BatchingPublisherConfig{MaxBatch: -1}); err == nil {
		t.Error("a negative batch size accepted")
	}
}

// batchingTransport is a transport whose publishes go through a
// BatchingPublisher.
type batchingTransport struct {
	transport.Transport
	publisher *transport.BatchingPublisher
}

func (t batchingTransport) Publisher() message.Publisher { return t.publisher }

// TestBatchingPublisherOnDurableTransports runs the contract's publishing
// cases through the decorator on the transports it is used with: the joined
// publishes lose, duplicate and change nothing.
func TestBatchingPublisherOnDurableTransports(t *testing.T) {
	t.Parallel()
	for _, kind := range transportKinds {
		if kind.name != "redisstream" && kind.name != "sql" {
			continue
		}
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			backend := *kind.backend(t)
			open := backend.open
			backend.open = func(t *testing.T) transport.Transport {
				opened := open(t)
				publisher := newBatchingPublisher(t, opened.Publisher(), transport.BatchingPublisherConfig{})
				t.Cleanup(func() { _ = publisher.Close() }) // before the transport's
				return batchingTransport{Transport: opened, publisher: publisher}
			}
			t.Run("messages arrive intact", func(t *testing.T) { testMessagesArriveIntact(t, kind, &backend) })
			t.Run("concurrent publishers lose nothing", func(t *testing.T) { testConcurrentPublishersLoseNothing(t, kind, &backend) })
		})
	}
}
