package messaging

import (
	"encoding/json"
	"reflect"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/components/cqrs"
	"github.com/ThreeDotsLabs/watermill/message"
)

// marshaler encodes commands and events as Watermill's cqrs.JSONMarshaler
// with cqrs.StructName does, byte for byte: the payload is the value's JSON
// and the "name" metadata its Go type name without the package, so that
// moving a type between packages does not change its wire name, and
// messages of either marshaler are read by the other.
var marshaler = jsonMarshaler{}

var _ cqrs.CommandEventMarshaler = jsonMarshaler{}

// nameMetadata is the metadata key of a message's command or event name.
const nameMetadata = "name"

// jsonMarshaler differs from cqrs.JSONMarshaler in two ways. It keeps the
// name of each type once found: the buses and processors ask a message's
// name several times for each message, and cqrs.StructName formats the type
// and splits the result on every call. And every decoding failure is marked
// as such, whatever part of the payload it came from (a field's own
// UnmarshalJSON returns errors of any type), so that an undecodable message
// is poisoned without retries.
type jsonMarshaler struct{}

func (m jsonMarshaler) Marshal(v any) (*message.Message, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	msg := message.NewMessage(watermill.NewUUID(), payload)
	msg.Metadata.Set(nameMetadata, m.Name(v))
	return msg, nil
}

func (jsonMarshaler) Unmarshal(msg *message.Message, v any) error {
	if err := json.Unmarshal(msg.Payload, v); err != nil {
		return &undecodableMessageError{err: err}
	}
	return nil
}

// typeNames maps a reflect.Type to its name, cqrs.StructName's answer. It
// holds the types the buses are given and the handlers name, a fixed set.
var typeNames sync.Map

func (jsonMarshaler) Name(v any) string {
	t := reflect.TypeOf(v)
	if name, ok := typeNames.Load(t); ok {
		return name.(string)
	}
	name, _ := typeNames.LoadOrStore(t, cqrs.StructName(v))
	return name.(string)
}

func (jsonMarshaler) NameFromMessage(msg *message.Message) string {
	return msg.Metadata.Get(nameMetadata)
}
