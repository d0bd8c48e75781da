package transport_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/adapters/transport"
	"github.com/techradar/techradar/internal/testenv"
)

// notYet is how long a test watches for something that must not happen.
const notYet = 100 * time.Millisecond

func openGoChannel(t *testing.T, concurrency int) *transport.GoChannel {
	t.Helper()
	goChannel, err := transport.NewGoChannel(transport.GoChannelConfig{Concurrency: concurrency}, watermill.NopLogger{})
	if err != nil {
		t.Fatalf("NewGoChannel: %v", err)
	}
	t.Cleanup(func() { _ = goChannel.Close() })
	return goChannel
}

// publishEachOnGoChannel publishes each message with a Publish of its own, all at once,
// and returns what each Publish returned, by message.
func publishEachOnGoChannel(goChannel *transport.GoChannel, topic string, messages []*message.Message) map[string]chan error {
	returned := map[string]chan error{}
	for _, msg := range messages {
		done := make(chan error, 1)
		returned[msg.UUID] = done
		go func() { done <- goChannel.Publisher().Publish(topic, msg) }()
	}
	return returned
}

func TestGoChannelHandsConcurrencyMessagesAtOnce(t *testing.T) {
	t.Parallel()
	const concurrency = 4
	goChannel := openGoChannel(t, concurrency)
	topic := testenv.UniqueName("topic-")
	messages := subscribe(t, goChannel, topic, "handler")

	sent := newMessages(concurrency)
	returned := publishEachOnGoChannel(goChannel, topic, sent)

	// As the router does, a goroutine per message received; each stays in
	// the handler until all are in, which only happens if they are handed
	// over together.
	var (
		mu     sync.Mutex
		inside int
		allIn  = make(chan struct{})
	)
	for range concurrency {
		msg := receive(t, messages)
		go func() {
			mu.Lock()
			inside++
			if inside == concurrency {
				close(allIn)
			}
			mu.Unlock()
			select {
			case <-allIn:
				msg.Ack()
			case <-time.After(waitLimit):
				msg.Nack()
			}
		}()
	}
	select {
	case <-allIn:
	case <-time.After(waitLimit):
		t.Fatalf("the %d messages were never in the handler at once within %s", concurrency, waitLimit)
	}
	for _, msg := range sent {
		waitReturned(t, returned[msg.UUID], msg.UUID)
	}
}

func TestGoChannelPublishReturnsAfterItsOwnAck(t *testing.T) {
	t.Parallel()
	const concurrency = 3
	goChannel := openGoChannel(t, concurrency)
	topic := testenv.UniqueName("topic-")
	messages := subscribe(t, goChannel, topic, "handler")

	sent := newMessages(concurrency)
	returned := publishEachOnGoChannel(goChannel, topic, sent)
	received := map[string]*message.Message{}
	for range concurrency {
		msg := receive(t, messages)
		received[msg.UUID] = msg
	}

	// Acked in the reverse of the order sent: each Publish returns after its
	// own ack, whatever became of the others.
	for i := len(sent) - 1; i >= 0; i-- {
		for _, waiting := range sent[:i+1] {
			assertNotReturned(t, returned[waiting.UUID], waiting.UUID)
		}
		received[sent[i].UUID].Ack()
		waitReturned(t, returned[sent[i].UUID], sent[i].UUID)
	}
}

func TestGoChannelPublishBeyondConcurrencyWaitsForALane(t *testing.T) {
	t.Parallel()
	const concurrency = 2
	goChannel := openGoChannel(t, concurrency)
	topic := testenv.UniqueName("topic-")
	messages := subscribe(t, goChannel, topic, "handler")

	first := newMessages(concurrency)
	publishEachOnGoChannel(goChannel, topic, first)
	var inHandler []*message.Message
	for range concurrency {
		inHandler = append(inHandler, receive(t, messages))
	}
	extra := newMessages(1)[0]
	returned := publishEachOnGoChannel(goChannel, topic, []*message.Message{extra})
	select {
	case msg := <-messages:
		t.Fatalf("message %s arrived while %d were in the handler", msg.UUID, concurrency)
	case <-time.After(notYet):
	}

	inHandler[0].Ack()
	if msg := receive(t, messages); msg.UUID != extra.UUID {
		t.Fatalf("got message %s, want %s", msg.UUID, extra.UUID)
	} else {
		msg.Ack()
	}
	waitReturned(t, returned[extra.UUID], extra.UUID)
	inHandler[1].Ack()
}

func TestGoChannelKeepsTheOrderOfOnePublish(t *testing.T) {
	t.Parallel()
	goChannel := openGoChannel(t, 8)
	topic := testenv.UniqueName("topic-")
	messages := subscribe(t, goChannel, topic, "handler")

	sent := newMessages(5)
	wait := publishAsync(t, goChannel, topic, sent...)
	for _, want := range sent {
		msg := receive(t, messages)
		if msg.UUID != want.UUID {
			t.Fatalf("got message %s, want %s: one Publish's messages came out of order", msg.UUID, want.UUID)
		}
		msg.Ack()
	}
	wait()
}

func TestGoChannelDropsWhatNoOneSubscribed(t *testing.T) {
	t.Parallel()
	goChannel := openGoChannel(t, 4)
	topic := testenv.UniqueName("topic-")
	publishAsync(t, goChannel, topic, newMessages(3)...)()

	messages := subscribe(t, goChannel, topic, "handler")
	select {
	case msg := <-messages:
		t.Fatalf("message %s, published before any subscriber, arrived", msg.UUID)
	case <-time.After(notYet):
	}
}

// A handler that never acks holds its Publish until the transport closes,
// and a Publish waiting for a lane behind it: Close releases both.
func TestGoChannelCloseReleasesWaitingPublishes(t *testing.T) {
	t.Parallel()
	goChannel := openGoChannel(t, 1)
	topic := testenv.UniqueName("topic-")
	messages := subscribe(t, goChannel, topic, "handler")

	sent := newMessages(1)[0]
	waitingForAck := publishEachOnGoChannel(goChannel, topic, []*message.Message{sent})[sent.UUID]
	receive(t, messages) // and never acked
	behind := newMessages(1)[0]
	waitingForLane := publishEachOnGoChannel(goChannel, topic, []*message.Message{behind})[behind.UUID]
	assertNotReturned(t, waitingForLane, behind.UUID)

	closeWithin(t, goChannel)
	waitReturned(t, waitingForAck, sent.UUID)
	select {
	case err := <-waitingForLane:
		if err == nil {
			t.Error("the Publish waiting for a lane returned nil after Close, as if delivered")
		}
	case <-time.After(waitLimit):
		t.Fatalf("the Publish waiting for a lane did not return within %s of Close", waitLimit)
	}
	assertClosed(t, messages, "the transport's")
}

// Not parallel: it counts the process's goroutines.
func TestGoChannelCloseLeavesNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	goChannel, err := transport.NewGoChannel(transport.GoChannelConfig{Concurrency: 8}, nil)
	if err != nil {
		t.Fatalf("NewGoChannel: %v", err)
	}
	topic := testenv.UniqueName("topic-")
	var handled sync.WaitGroup
	for _, group := range []string{"handler-a", "handler-b"} {
		subscriber, err := goChannel.Subscriber(group)
		if err != nil {
			t.Fatalf("subscriber: %v", err)
		}
		messages, err := subscriber.Subscribe(context.Background(), topic)
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
		handled.Go(func() {
			for msg := range messages {
				msg.Ack()
			}
		})
	}
	publishAsync(t, goChannel, topic, newMessages(20)...)()
	closeWithin(t, goChannel)
	subscriptionsEnded := make(chan struct{})
	go func() {
		handled.Wait()
		close(subscriptionsEnded)
	}()
	select {
	case <-subscriptionsEnded:
	case <-time.After(waitLimit):
		t.Fatalf("the subscriptions stayed open %s after Close", waitLimit)
	}
	eventually(t, func() bool { return runtime.NumGoroutine() <= before }, "goroutines outlived Close")
}

func TestGoChannelRefusesAConcurrencyOutOfRange(t *testing.T) {
	t.Parallel()
	for _, concurrency := range []int{0, -1, 257} {
		if _, err := transport.NewGoChannel(transport.GoChannelConfig{Concurrency: concurrency}, nil); err == nil {
			t.Errorf("NewGoChannel with Concurrency %d: no error", concurrency)
		}
	}
}

func waitReturned(t *testing.T, returned <-chan error, uuid string) {
	t.Helper()
	select {
	case err := <-returned:
		if err != nil {
			t.Errorf("Publish of %s: %v", uuid, err)
		}
	case <-time.After(waitLimit):
		t.Fatalf("Publish of %s did not return within %s of its ack", uuid, waitLimit)
	}
}

func assertNotReturned(t *testing.T, returned <-chan error, uuid string) {
	t.Helper()
	select {
	case err := <-returned:
		t.Fatalf("Publish of %s returned (%v) before its message was acked", uuid, err)
	case <-time.After(notYet):
	}
}
