package main

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestRemaining(t *testing.T) {
	info := func(ackFloor, pending uint64, ackPending int) *jetstream.ConsumerInfo {
		return &jetstream.ConsumerInfo{AckFloor: jetstream.SequenceInfo{Stream: ackFloor}, NumPending: pending, NumAckPending: ackPending}
	}
	for _, tc := range []struct {
		name    string
		ci      *jetstream.ConsumerInfo
		from    uint64
		elapsed time.Duration
		want    time.Duration
	}{
		{"no progress yet", info(100, 50, 10), 100, time.Second, 0},
		{"no time yet", info(150, 50, 10), 100, 0, 0},
		{"half done", info(150, 40, 10), 100, time.Second, time.Second},
		{"pending only in flight", info(200, 0, 25), 100, 2 * time.Second, 500 * time.Millisecond},
		{"ack floor behind the origin (a new consumer)", info(5, 10, 0), 100, time.Second, 0},
	} {
		if got := remaining(tc.ci, tc.from, tc.elapsed); got != tc.want {
			t.Errorf("%s: remaining = %v, want %v", tc.name, got, tc.want)
		}
	}
}
