package chaos

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestTapParsesAckSubjects(t *testing.T) {
	t.Parallel()
	tap := &Tap{msgs: map[msgKey]*MsgDeliveries{}, acks: map[string][]time.Time{}}
	t0 := time.Now()
	for _, m := range []struct{ subject, body string }{
		// v1: $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
		{"$JS.ACK.ROWS.loader.1.7.7.1700000000000000000.0", `-NAK {"delay":1000000000}`},
		{"$JS.ACK.STAGED.transformer.1.3.3.1700000000000000000.0", "-NAK"},
		{"$JS.ACK.ROWS.loader.2.7.9.1700000000000000000.0", "+ACK"},
		{"$JS.ACK.ROWS.loader.1.8.8.1700000000000000000.0", ""},
		// v2: $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>.<token>
		{"$JS.ACK._.ACCHASH.RAW.staging-store.3.4.12.1700000000000000000.0.xyz", "+TERM"},
		{"$JS.ACK.TASKS.extractor.1.1.1.1700000000000000000.0", "+WPI"},
		{"$JS.ACK.bad", "+ACK"},
	} {
		tap.handle(&nats.Msg{Subject: m.subject, Data: []byte(m.body)})
	}
	s := tap.Stats()
	if s.Messages["ROWS"] != 2 || s.Messages["RAW"] != 1 || s.Messages["TASKS"] != 1 || s.Messages["STAGED"] != 1 {
		t.Errorf("messages by stream %v", s.Messages)
	}
	if s.Redelivered != 2 || s.MaxDelivered != 3 || s.OverTwice != 1 || s.OverTwiceByStream["RAW"] != 1 {
		t.Errorf("redelivered %d, max %d, over twice %d %v", s.Redelivered, s.MaxDelivered, s.OverTwice, s.OverTwiceByStream)
	}
	if s.Naks != 1 || s.NaksByStream["ROWS"] != 1 || s.Terms != 1 || s.HandBacks != 1 {
		t.Errorf("naks %d %v, hand-backs %d, terms %d", s.Naks, s.NaksByStream, s.HandBacks, s.Terms)
	}
	if s.Unacked != 2 { // the task only signalled progress; the STAGED one was handed back
		t.Errorf("unacked %d, want 2", s.Unacked)
	}
	if tap.AckCount("ROWS") != 2 {
		t.Errorf("acks on ROWS %d, want 2", tap.AckCount("ROWS"))
	}
	if _, ok := tap.FirstAckAfter(t0, "ROWS"); !ok {
		t.Error("no ack on ROWS after the start")
	}
	if _, ok := tap.FirstAckAfter(time.Now().Add(time.Hour)); ok {
		t.Error("an ack in the future")
	}
}
