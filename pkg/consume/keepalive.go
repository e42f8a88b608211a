package consume

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// KeepAlive tells the server every interval that msgs are still being
// worked on (InProgress, which restarts each message's ack wait), until
// stop is called; stop waits for a heartbeat under way. A consumer can then
// run with a short AckWait: a live one holds its messages as long as its
// work takes, a dead one's come back one AckWait after it died. An interval
// of a third of the AckWait leaves room for two late heartbeats.
func KeepAlive(interval time.Duration, msgs ...jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, m := range msgs {
					// A failed heartbeat (NATS away) is not retried: the
					// message is then redelivered after the ack wait.
					_ = m.InProgress()
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
