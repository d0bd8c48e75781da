package messaging

import (
	"bytes"
	"errors"
	"maps"
	"reflect"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/techradar/techradar/app/command"
	"github.com/techradar/techradar/domain/sms"
	"github.com/techradar/techradar/domain/tech"
)

// watermillMarshaler is what the messages of earlier versions were encoded
// with; jsonMarshaler must read and write the same messages.
var watermillMarshaler = cqrs.JSONMarshaler{GenerateName: cqrs.StructName}

// wireValues are the commands and events the buses carry (every type
// ARCHITECTURE.md names on the wire), pointers and values alike, with every
// field set.
func wireValues() []any {
	at := time.Date(2026, 12, 3, 15, 7, 45, 622724656, time.UTC)
	values := []any{
		command.CreateTech{CommandID: "01a23c72-7c56-7b0c-a138-c9c223261f07", Name: "Kafka <&> \"Streams\"", RequestedAt: at},
		command.RetireTech{CommandID: "c-2", TechID: "t-1", Reason: "gone", RequestedAt: at},
		command.MergeTech{CommandID: "c-3", TechID: "t-1", IntoID: "t-2", RequestedAt: at},
		command.SendSMS{CommandID: "c-4", RequestedAt: at},
		tech.TechCreated{TechID: "t-1", Name: "Kafka", Mentions: 1, Priority: tech.PriorityLow, CommandID: "c-1", OccurredAt: at},
		tech.TechMentioned{TechID: "t-1", Name: "Kafka", Mentions: 12, Priority: tech.PriorityHigh, CommandID: "c-1", OccurredAt: at},
		tech.TechRetired{TechID: "t-1", Name: "Kafka", Reason: "gone", CommandID: "c-2", OccurredAt: at},
		tech.TechMerged{TechID: "t-1", Name: "Kafka", IntoID: "t-2", IntoName: "Apache Kafka", Mentions: 14, Priority: tech.PriorityHigh, CommandID: "c-3", OccurredAt: at},
		tech.TechsReranked{MediumAt: 3, HighAt: 10, Changed: 7, OccurredAt: at},
		sms.SMSSent{SMSID: "s-1", Number: "+541100000000", ProviderMessageID: "p-1", Attempts: 2, OccurredAt: at},
		sms.SMSFailed{SMSID: "s-1", Number: "+541100000000", Reason: "refused", Attempts: 3, OccurredAt: at},
	}
	for _, v := range values[:len(values):len(values)] {
		p := reflect.New(reflect.TypeOf(v))
		p.Elem().Set(reflect.ValueOf(v))
		values = append(values, p.Interface())
	}
	return values
}

// TestMarshalerWritesWhatWatermillsWrites: payload and metadata byte for
// byte, and each reads the other's messages back to the same value.
func TestMarshalerWritesWhatWatermillsWrites(t *testing.T) {
	t.Parallel()
	for _, v := range wireValues() {
		ours, err := marshaler.Marshal(v)
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		theirs, err := watermillMarshaler.Marshal(v)
		if err != nil {
			t.Fatalf("%T: %v", v, err)
		}
		if !bytes.Equal(ours.Payload, theirs.Payload) || !maps.Equal(ours.Metadata, theirs.Metadata) || ours.UUID == "" {
			t.Fatalf("%T: ours %s %v %q, Watermill's %s %v", v, ours.Payload, ours.Metadata, ours.UUID, theirs.Payload, theirs.Metadata)
		}
		if marshaler.Name(v) != watermillMarshaler.Name(v) || marshaler.NameFromMessage(theirs) != watermillMarshaler.NameFromMessage(ours) {
			t.Fatalf("%T: named %q, Watermill %q", v, marshaler.Name(v), watermillMarshaler.Name(v))
		}
		for _, pair := range []struct {
			from *message.Message
			into cqrs.CommandEventMarshaler
		}{{theirs, marshaler}, {ours, watermillMarshaler}} {
			back := reflect.New(reflect.Indirect(reflect.ValueOf(v)).Type())
			if err := pair.into.Unmarshal(pair.from, back.Interface()); err != nil {
				t.Fatalf("%T: %v", v, err)
			}
			if !reflect.DeepEqual(back.Elem().Interface(), reflect.Indirect(reflect.ValueOf(v)).Interface()) {
				t.Fatalf("%T: read back %+v", v, back.Elem().Interface())
			}
		}
	}
}

// TestMarshalerMarksUndecodablePayloads: a payload that is not the type's
// JSON is permanent, whatever failed in it, so the poison queue takes it at
// once.
func TestMarshalerMarksUndecodablePayloads(t *testing.T) {
	t.Parallel()
	for _, payload := range []string{`{`, `[]`, `{"requestedAt": "yesterday"}`, `{"name": 7}`} {
		var cmd command.CreateTech
		err := marshaler.Unmarshal(message.NewMessage("m-1", []byte(payload)), &cmd)
		var undecodable *undecodableMessageError
		if !errors.As(err, &undecodable) || !isPermanent(err) {
			t.Fatalf("%s: %v", payload, err)
		}
	}
}

// BenchmarkMarshaler is a command's and an event's trips through the bus:
// each is encoded once, named four times (the bus, its topic, the
// processor's check, the handler's) and decoded once.
func BenchmarkMarshaler(b *testing.B) {
	values := []any{wireValues()[0], wireValues()[5]}
	for _, m := range []struct {
		name string
		cqrs.CommandEventMarshaler
	}{{"watermill", watermillMarshaler}, {"ours", marshaler}} {
		b.Run(m.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, v := range values {
					msg, err := m.Marshal(v)
					if err != nil {
						b.Fatal(err)
					}
					for range 4 {
						_ = m.Name(v)
					}
					back := reflect.New(reflect.TypeOf(v))
					if err := m.Unmarshal(msg, back.Interface()); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
