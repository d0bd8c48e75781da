package transport

import (
	"sync"

	"github.com/ThreeDotsLabs/watermill/message"
)

// mergeSubscriptions forwards what inputs deliver into one channel, closed
// once all of them are: how GoChannel, whose subscriptions each hand over
// one message at a time, handles several at once. A message not yet taken
// when closing closes is left unacknowledged: the transport delivers it
// again.
func mergeSubscriptions(inputs []<-chan *message.Message, closing <-chan struct{}) <-chan *message.Message {
	output := make(chan *message.Message)
	var forwarding sync.WaitGroup
	for _, input := range inputs {
		forwarding.Go(func() {
			for msg := range input {
				select {
				case output <- msg:
				case <-closing:
					return
				}
			}
		})
	}
	go func() {
		forwarding.Wait()
		close(output)
	}()
	return output
}
