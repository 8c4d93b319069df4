package chaos

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Tap listens to the JetStream ack subjects ($JS.ACK.>) on core NATS. Every ack, nak, term
// and in-progress signal a service sends is a message on its delivery's reply subject, which
// names the stream, the consumer, the message's stream sequence and how many times it had
// been delivered: so the tap knows, for every message, the delivery that settled it, whether
// a delivery was spent by a nak, and when each stage last made progress.
type Tap struct {
	sub *nats.Subscription

	mu   sync.Mutex
	msgs map[msgKey]*MsgDeliveries
	// acks holds the time of every ack by stream, for progress after an outage.
	acks map[string][]time.Time
}

type msgKey struct {
	Stream, Consumer string
	Seq              uint64
}

// MsgDeliveries is what the tap saw of one message.
type MsgDeliveries struct {
	// MaxDelivered is the highest delivery count seen in a signal about it.
	MaxDelivered int
	// AckedAt is the delivery count of its first ack, 0 if never acked.
	AckedAt int
	Acks    int
	Naks    int
	// HandBacks are plain naks: given back unspent (shutdown, outage).
	HandBacks int
	Terms     int
}

// StartTap subscribes on nc.
func StartTap(nc *nats.Conn) (*Tap, error) {
	t := &Tap{msgs: map[msgKey]*MsgDeliveries{}, acks: map[string][]time.Time{}}
	sub, err := nc.Subscribe("$JS.ACK.>", t.handle)
	if err != nil {
		return nil, err
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return nil, err
	}
	t.sub = sub
	return t, nc.Flush()
}

// Stop unsubscribes.
func (t *Tap) Stop() { _ = t.sub.Unsubscribe() }

// handle parses $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending> or
// the v2 form $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.… .
func (t *Tap) handle(m *nats.Msg) {
	tok := strings.Split(m.Subject, ".")
	var stream, consumer, delivered, sseq string
	switch {
	case len(tok) == 9:
		stream, consumer, delivered, sseq = tok[2], tok[3], tok[4], tok[5]
	case len(tok) >= 11:
		stream, consumer, delivered, sseq = tok[4], tok[5], tok[6], tok[7]
	default:
		return
	}
	n, err1 := strconv.Atoi(delivered)
	seq, err2 := strconv.ParseUint(sseq, 10, 64)
	if err1 != nil || err2 != nil {
		return
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	k := msgKey{stream, consumer, seq}
	d := t.msgs[k]
	if d == nil {
		d = &MsgDeliveries{}
		t.msgs[k] = d
	}
	d.MaxDelivered = max(d.MaxDelivered, n)
	switch body := m.Data; {
	case len(body) == 0 || bytes.HasPrefix(body, []byte("+ACK")):
		d.Acks++
		if d.AckedAt == 0 {
			d.AckedAt = n
		}
		t.acks[stream] = append(t.acks[stream], now)
	case bytes.HasPrefix(body, []byte("-NAK")):
		// sluice naks a failure with a backoff delay (it counts against the message's
		// budget) and hands a message back at shutdown with a plain nak (it does not).
		if bytes.Contains(body, []byte("delay")) {
			d.Naks++
		} else {
			d.HandBacks++
		}
	case bytes.HasPrefix(body, []byte("+TERM")):
		d.Terms++
		t.acks[stream] = append(t.acks[stream], now)
	}
}

// DeliveryStats summarises the tap.
type DeliveryStats struct {
	// Messages settled or signalled, by stream.
	Messages map[string]int
	// Redelivered counts messages delivered more than once; MaxDelivered is the most
	// deliveries of any one message.
	Redelivered  int
	MaxDelivered int
	// OverTwice counts messages delivered more than twice.
	OverTwice int
	// OverTwiceByStream splits OverTwice by stream.
	OverTwiceByStream map[string]int `json:",omitempty"`
	// Naks counts naks of failures (with a backoff delay): each spends one delivery of
	// its message's retry budget.
	Naks int
	// HandBacks counts plain naks: messages handed back at shutdown or after an outage,
	// redelivered without counting against their budget (the sluice-deliveries ledger).
	HandBacks int
	// NaksByStream splits Naks by stream.
	NaksByStream map[string]int `json:",omitempty"`
	// Terms counts messages terminated (dead-lettered by the stage).
	Terms int
	// Unacked counts messages signalled but never acked or terminated.
	Unacked int
}

// Stats returns what the tap saw so far.
func (t *Tap) Stats() DeliveryStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := DeliveryStats{Messages: map[string]int{}, NaksByStream: map[string]int{}, OverTwiceByStream: map[string]int{}}
	for k, d := range t.msgs {
		s.Messages[k.Stream]++
		if d.MaxDelivered > 1 {
			s.Redelivered++
		}
		if d.MaxDelivered > 2 {
			s.OverTwice++
			s.OverTwiceByStream[k.Stream]++
		}
		s.MaxDelivered = max(s.MaxDelivered, d.MaxDelivered)
		s.Naks += d.Naks
		s.HandBacks += d.HandBacks
		if d.Naks > 0 {
			s.NaksByStream[k.Stream] += d.Naks
		}
		s.Terms += d.Terms
		if d.Acks == 0 && d.Terms == 0 {
			s.Unacked++
		}
	}
	return s
}

// FirstAckAfter returns the time of the first ack on any of streams (all when none) after
// t0, and whether there was one.
func (t *Tap) FirstAckAfter(t0 time.Time, streams ...string) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var first time.Time
	for s, times := range t.acks {
		if len(streams) > 0 && !contains(streams, s) {
			continue
		}
		for _, at := range times {
			if at.After(t0) && (first.IsZero() || at.Before(first)) {
				first = at
			}
		}
	}
	return first, !first.IsZero()
}

// AckCount is the number of acks seen on stream.
func (t *Tap) AckCount(stream string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.acks[stream])
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
