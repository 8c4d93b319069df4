package bus

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// delivery is what the consumer knows of a message it holds.
type delivery struct {
	seq       uint64 // stream sequence
	delivered uint64 // JetStream's delivery count
	entry     ledgerEntry
	inLedger  bool
}

// tracker holds every message fetched and not yet settled, and keeps them in progress on
// the server so that none is redelivered while it waits in a batch, a handler or an outage.
type tracker struct {
	mu   sync.Mutex
	msgs map[jetstream.Msg]*delivery
}

func newTracker() *tracker { return &tracker{msgs: map[jetstream.Msg]*delivery{}} }

func (t *tracker) add(msg jetstream.Msg, d *delivery) {
	t.mu.Lock()
	t.msgs[msg] = d
	t.mu.Unlock()
}

// remove forgets msg and returns what was known of it (a zero delivery if nothing).
func (t *tracker) remove(msg jetstream.Msg) *delivery {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, ok := t.msgs[msg]
	if !ok {
		return &delivery{}
	}
	delete(t.msgs, msg)
	return d
}

func (t *tracker) get(msg jetstream.Msg) *delivery {
	t.mu.Lock()
	defer t.mu.Unlock()
	if d, ok := t.msgs[msg]; ok {
		return d
	}
	return &delivery{}
}

func (t *tracker) all() []jetstream.Msg {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]jetstream.Msg, 0, len(t.msgs))
	for m := range t.msgs {
		out = append(out, m)
	}
	return out
}

// heartbeat marks every held message in progress every ackWait/3 until ctx ends.
func (t *tracker) heartbeat(ctx context.Context, ackWait time.Duration) {
	tick := time.NewTicker(max(ackWait/3, 300*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			for _, m := range t.all() {
				_ = m.InProgress()
			}
		}
	}
}
