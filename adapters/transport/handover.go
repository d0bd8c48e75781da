package transport

import (
	"context"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

// handoverStops are what ends a hand-over early: for the SQL transport the
// batch's abandonment, for Kafka the claim's end; and, for both, the
// subscriber's close and the subscription's context.
type handoverStops struct {
	ended, closing, cancelled <-chan struct{}
}

// deliverUntilAcked gives the handlers msg on output, with copyCtx as the
// context of each copy, and, after the resend pause, a new copy each time they nack it,
// until they ack one: it then reports true. It reports false as soon as one
// of stops closes. handedOver, when set, runs after every hand-over; resent,
// when set, gets every new copy before it is handed over.
func deliverUntilAcked(
	copyCtx context.Context,
	output chan<- *message.Message,
	msg *message.Message,
	resend time.Duration,
	stops handoverStops,
	handedOver func(),
	resent func(*message.Message),
) bool {
	for {
		msg.SetContext(copyCtx)
		select {
		case output <- msg:
		case <-stops.ended:
			return false
		case <-stops.closing:
			return false
		case <-stops.cancelled:
			return false
		}
		if handedOver != nil {
			handedOver()
		}
		select {
		case <-msg.Acked():
			return true
		case <-msg.Nacked():
		case <-stops.ended:
			return false
		case <-stops.closing:
			return false
		case <-stops.cancelled:
			return false
		}
		pause := time.NewTimer(resend)
		select {
		case <-pause.C:
		case <-stops.ended:
			pause.Stop()
			return false
		case <-stops.closing:
			pause.Stop()
			return false
		case <-stops.cancelled:
			pause.Stop()
			return false
		}
		msg = msg.Copy()
		if resent != nil {
			resent(msg)
		}
	}
}
