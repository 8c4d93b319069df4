package ratelimit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// slotGrace is how late an unassigned slot may still be handed out. Slots are reserved
// for callers already waiting, so only slots whose caller gave up go stale.
const slotGrace = 2 * time.Millisecond

// demandWindow is the time constant of the local demand estimate that sizes batches.
const demandWindow = time.Second

// maxPoll bounds every wait on a notification, so a lost watch costs latency, not
// liveness.
const maxPoll = time.Second

// grant is one slot taken from a bucket: what a throttle report needs to know.
type grant struct {
	b     *bucket
	epoch uint64
	rate  float64
	at    time.Time
}

// bucket dispenses the slots of one quota, or of one key of a quota, to local callers.
// It reserves them from the shared schedule (quotaState.TAT) in batches with one
// compare-and-set, and hands each caller a slot time to sleep until.
type bucket struct {
	g     *Governor
	quota string // quota name, for metrics
	key   string // KV entry
	lim   Limit

	mu        sync.Mutex
	st        quotaState
	rev       uint64
	known     bool
	slots     []int64 // reserved, not yet handed out, ascending, all of slotEpoch
	slotEpoch uint64
	slotRate  float64
	waiting   int  // callers in take without a slot
	reserving bool // one caller at a time runs the compare-and-set
	reserved  chan struct{}
	changed   chan struct{} // closed when the epoch moves: slots handed out are void
	notify    chan struct{} // closed on every new revision
	pendingOK int           // successes not yet folded into the shared rate
	demand    float64       // decayed count of local take calls (time constant demandWindow)
	demandAt  time.Time
	users     int
	lastUse   time.Time
	// for the utilisation gauge
	obsIssued uint64
	obsAt     time.Time
}

func newBucket(g *Governor, quota, key string, lim Limit) *bucket {
	return &bucket{
		g: g, quota: quota, key: key, lim: lim,
		reserved: make(chan struct{}), changed: make(chan struct{}), notify: make(chan struct{}),
		lastUse: time.Now(),
	}
}

// observe records a revision of the shared state read from the store or the watch.
func (b *bucket) observe(value []byte, rev uint64) {
	st, err := decodeQuota(value)
	if err != nil {
		b.g.log.Warn("ignore undecodable quota state", "key", b.key, "err", err)
		return
	}
	b.mu.Lock()
	b.observeLocked(st, rev)
	b.mu.Unlock()
}

func (b *bucket) observeLocked(st quotaState, rev uint64) {
	if b.known && rev <= b.rev {
		return
	}
	b.st, b.rev, b.known = st, rev, true
	if st.Epoch != b.slotEpoch {
		b.slots = nil
		b.slotEpoch = st.Epoch
		close(b.changed)
		b.changed = make(chan struct{})
	}
	close(b.notify)
	b.notify = make(chan struct{})
}

// refresh reads the entry from the store.
func (b *bucket) refresh(ctx context.Context) error {
	v, rev, err := b.g.store.get(ctx, b.key)
	if err != nil {
		return err
	}
	b.observe(v, rev)
	return nil
}

// take returns a slot of this bucket once its time has come.
func (b *bucket) take(ctx context.Context) (grant, error) {
	b.mu.Lock()
	b.waiting++
	b.users++
	b.noteDemandLocked(time.Now())
	defer func() {
		b.mu.Lock()
		b.users--
		b.lastUse = time.Now()
		b.mu.Unlock()
	}()
	for {
		now := time.Now().UnixNano()
		tol := int64(slotGrace)
		if b.slotRate > 0 {
			tol += int64(float64(b.lim.Burst-1) / b.slotRate * 1e9)
		}
		for len(b.slots) > 0 && b.slots[0] < now-tol {
			b.slots = b.slots[1:]
		}
		if len(b.slots) > 0 {
			s := b.slots[0]
			b.slots = b.slots[1:]
			gr := grant{b: b, epoch: b.slotEpoch, rate: b.slotRate, at: time.Unix(0, s)}
			changed := b.changed
			b.waiting--
			b.mu.Unlock()
			if d := time.Duration(s - now); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-changed: // decrease or pause: the slot is void, queue again
					t.Stop()
					b.mu.Lock()
					b.waiting++
					continue
				case <-ctx.Done():
					t.Stop()
					return grant{}, ctx.Err()
				}
				// A timer that fired late (the process was descheduled, a GC pause)
				// would send this slot together with the next ones: a burst the
				// server's bucket pays for. The slot is void like any stale slot.
				if late := time.Now().UnixNano() - s; late > tol {
					b.g.metrics.late(ctx, b)
					b.mu.Lock()
					b.waiting++
					continue
				}
			}
			return gr, nil
		}
		if b.reserving {
			ch := b.reserved
			b.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				b.mu.Lock()
				b.waiting--
				b.mu.Unlock()
				return grant{}, ctx.Err()
			}
			b.mu.Lock()
			continue
		}
		b.reserving = true
		b.mu.Unlock()
		err := b.reserve(ctx)
		b.mu.Lock()
		b.reserving = false
		close(b.reserved)
		b.reserved = make(chan struct{})
		if err != nil {
			b.waiting--
			b.mu.Unlock()
			return grant{}, err
		}
	}
}

// noteDemandLocked counts one local request for a slot.
func (b *bucket) noteDemandLocked(now time.Time) {
	if !b.demandAt.IsZero() {
		b.demand *= math.Exp(-now.Sub(b.demandAt).Seconds() / demandWindow.Seconds())
	}
	b.demand++
	b.demandAt = now
}

// reserve takes a batch of slots from the shared schedule: one slot per waiting caller,
// or the local demand of the next Lookahead if that is more (so callers that come back
// for another permit find one), at most rate × Lookahead (or Burst) and MaxBatch, starting no earlier than the end of
// the last reservation (TAT), the pause, and now minus the burst credit, and no later
// than now + Lookahead (else it waits). The batch and the AIMD growth from the
// successes seen since the last reservation go in one compare-and-set.
func (b *bucket) reserve(ctx context.Context) error {
	la := b.g.cfg.Lookahead
	for {
		b.mu.Lock()
		st, rev, known, notify := b.st, b.rev, b.known, b.notify
		want, ok := b.waiting, b.pendingOK
		want = max(want, int(math.Ceil(b.demand/demandWindow.Seconds()*la.Seconds())))
		b.mu.Unlock()
		if !known {
			if err := b.refresh(ctx); err != nil {
				return err
			}
			continue
		}
		now := time.Now()
		nowN := now.UnixNano()
		st = b.lim.grow(st, ok, now)
		r := math.Min(st.Rate, b.lim.ceiling())
		interval := 1e9 / r
		start := max(st.TAT, nowN-int64(float64(b.lim.Burst-1)*interval), st.Pause)
		if wait := time.Duration(start - nowN - int64(la)); wait > 0 {
			if err := sleep(ctx, min(wait, maxPoll), notify); err != nil {
				return err
			}
			continue
		}
		n := min(max(want, 1), max(b.lim.Burst, int(r*la.Seconds()), 1), b.g.cfg.MaxBatch)
		slots := make([]int64, n)
		for i := range slots {
			slots[i] = start + int64(float64(i)*interval)
		}
		st.TAT = start + int64(float64(n)*interval)
		st.Issued += uint64(n)
		st.ran(n, interval, b.lim.Adaptive.MinRun)
		val, err := json.Marshal(st)
		if err != nil {
			return fmt.Errorf("encode quota state: %w", err)
		}
		newRev, err := b.g.store.set(ctx, b.key, val, rev)
		b.g.metrics.write(ctx, err)
		if errors.Is(err, errConflict) {
			if err := b.refresh(ctx); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("reserve %d slots of %s: %w", n, b.key, err)
		}
		b.mu.Lock()
		b.pendingOK -= ok
		b.observeLocked(st, newRev)
		if b.slotEpoch == st.Epoch { // else a newer epoch voided this batch already
			b.slots = append(b.slots, slots...)
			b.slotRate = r
		}
		b.mu.Unlock()
		return nil
	}
}

// update applies fn to the shared state with compare-and-set until it sticks.
func (b *bucket) update(ctx context.Context, fn func(quotaState) quotaState) error {
	for {
		b.mu.Lock()
		st, rev, known := b.st, b.rev, b.known
		b.mu.Unlock()
		if !known {
			if err := b.refresh(ctx); err != nil {
				return err
			}
			continue
		}
		st = fn(st)
		val, err := json.Marshal(st)
		if err != nil {
			return fmt.Errorf("encode quota state: %w", err)
		}
		newRev, err := b.g.store.set(ctx, b.key, val, rev)
		b.g.metrics.write(ctx, err)
		if errors.Is(err, errConflict) {
			if err := b.refresh(ctx); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("update %s: %w", b.key, err)
		}
		b.mu.Lock()
		b.observeLocked(st, newRev)
		b.mu.Unlock()
		return nil
	}
}

// succeeded counts a success, folded into the shared rate by the next reservation.
func (b *bucket) succeeded() {
	b.mu.Lock()
	b.pendingOK++
	b.mu.Unlock()
}

// throttled reports a throttle of a permit taken from this bucket.
func (b *bucket) throttled(ctx context.Context, gr grant, retryAfter time.Duration) error {
	return b.update(ctx, func(st quotaState) quotaState {
		return b.lim.throttle(st, gr.epoch, gr.rate, retryAfter, time.Now(), b.g.jitter())
	})
}

// idle reports whether the bucket can be dropped from the local cache.
func (b *bucket) idle(now time.Time, after time.Duration) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.users == 0 && !b.reserving && now.Sub(b.lastUse) > after
}

// sleep waits for d, a notification or the end of ctx.
func sleep(ctx context.Context, d time.Duration, notify <-chan struct{}) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-notify:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
