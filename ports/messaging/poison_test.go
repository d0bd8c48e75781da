package messaging

import (
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
)

// TestPoisonedMessageFrom reads what the poison middleware wrote into a
// message's metadata and gives back the message as it was before.
func TestPoisonedMessageFrom(t *testing.T) {
	t.Parallel()
	msg := message.NewMessage("uuid-1", []byte(`{"commandId":"c-1"`))
	msg.Metadata.Set("name", "CreateTech")
	msg.Metadata.Set(middleware.PoisonedTopicKey, "techradar.commands.CreateTech")
	msg.Metadata.Set(middleware.PoisonedHandlerKey, "techradar.create-tech")
	msg.Metadata.Set(middleware.PoisonedSubscriberKey, "subscriber")
	msg.Metadata.Set(middleware.ReasonForPoisonedKey, "cannot decode")

	p := poisonedMessageFrom(msg, time.Now())
	if p.UUID != "uuid-1" || p.Topic != "techradar.commands.CreateTech" || p.Handler != "techradar.create-tech" || p.Reason != "cannot decode" || p.PoisonedAt.IsZero() {
		t.Fatalf("poisonedMessageFrom = %+v", p)
	}
	if len(p.Metadata) != 1 || p.Metadata["name"] != "CreateTech" {
		t.Fatalf("the original metadata is not restored: %v", p.Metadata)
	}
}

// TestCommandIDOf finds the id of the command a poisoned message carries,
// and none in an event or a payload that does not decode.
func TestCommandIDOf(t *testing.T) {
	t.Parallel()
	topics := Topics{Prefix: "techradar"}
	for _, c := range []struct {
		topic, payload, want string
	}{
		{"techradar.commands.CreateTech", `{"commandId":"c-1","name":"Kafka"}`, "c-1"},
		{"techradar.commands.CreateTech", `{"commandId":`, ""},
		{"techradar.events.TechCreated", `{"commandId":"c-1"}`, ""},
		{"other.commands.CreateTech", `{"commandId":"c-1"}`, ""},
	} {
		p := poisonedMessageFrom(message.NewMessage("u", []byte(c.payload)), time.Now())
		p.Topic = c.topic
		if got := commandIDOf(p, topics); got != c.want {
			t.Errorf("commandIDOf(%s, %s) = %q, want %q", c.topic, c.payload, got, c.want)
		}
	}
}
