package messaging

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
)

// TestUntracedMessageGetsNoTraceMetadata: a message sent without a span, as
// every message is with tracing off, carries no trace metadata.
func TestUntracedMessageGetsNoTraceMetadata(t *testing.T) {
	t.Parallel()
	msg := message.NewMessage("untraced", nil)
	injectTraceContext(msg)
	if len(msg.Metadata) != 0 {
		t.Fatalf("an untraced message got metadata %v", msg.Metadata)
	}
}
