package ratelimit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// hostSlots holds the concurrency slots of one host: a shared set of leases in one KV
// entry, each with an expiry its holder renews. A lease whose holder died expires after
// LeaseTTL and its slot is free again; a holder that is alive never loses its lease.
type hostSlots struct {
	g    *Governor
	host string
	key  string
	cap  int
	// turn serialises the local attempts (one token): local callers queue here in FIFO
	// order instead of all racing for the same entry.
	turn chan struct{}

	mu      sync.Mutex
	st      leaseSet
	rev     uint64
	known   bool
	mine    map[string]bool // leases held by this governor, renewed by the heartbeat
	notify  chan struct{}
	users   int
	lastUse time.Time
}

func newHostSlots(g *Governor, host, key string, capacity int) *hostSlots {
	h := &hostSlots{
		g: g, host: host, key: key, cap: capacity,
		turn: make(chan struct{}, 1), mine: map[string]bool{}, notify: make(chan struct{}),
		lastUse: time.Now(),
	}
	h.turn <- struct{}{}
	return h
}

func (h *hostSlots) observe(value []byte, rev uint64) {
	st, err := decodeLeases(value)
	if err != nil {
		h.g.log.Warn("ignore undecodable lease set", "key", h.key, "err", err)
		return
	}
	h.mu.Lock()
	h.observeLocked(st, rev)
	h.mu.Unlock()
}

func (h *hostSlots) observeLocked(st leaseSet, rev uint64) {
	if h.known && rev <= h.rev {
		return
	}
	h.st, h.rev, h.known = st, rev, true
	close(h.notify)
	h.notify = make(chan struct{})
}

func (h *hostSlots) refresh(ctx context.Context) error {
	v, rev, err := h.g.store.get(ctx, h.key)
	if err != nil {
		return err
	}
	h.observe(v, rev)
	return nil
}

// acquire waits for a free slot and returns the id of the lease that holds it.
func (h *hostSlots) acquire(ctx context.Context) (string, error) {
	h.mu.Lock()
	h.users++
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.users--
		h.lastUse = time.Now()
		h.mu.Unlock()
	}()
	select {
	case <-h.turn:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { h.turn <- struct{}{} }()
	for {
		h.mu.Lock()
		st, rev, known, notify := h.st, h.rev, h.known, h.notify
		h.mu.Unlock()
		if !known {
			if err := h.refresh(ctx); err != nil {
				return "", err
			}
			continue
		}
		now := time.Now().UnixNano()
		live := st.live(now)
		if len(live) < h.cap {
			id := h.g.newID()
			next := leaseSet{Leases: append(live, lease{ID: id, Holder: h.g.id, Exp: now + int64(h.g.cfg.LeaseTTL)})}
			err := h.write(ctx, next, rev)
			if err == nil {
				// A heartbeat that runs before this line misses the fresh lease, which
				// has a full LeaseTTL ahead of it anyway.
				h.mu.Lock()
				h.mine[id] = true
				h.mu.Unlock()
				return id, nil
			}
			if !errors.Is(err, errConflict) {
				return "", fmt.Errorf("lease a slot of %s: %w", h.host, err)
			}
			if err := h.refresh(ctx); err != nil {
				return "", err
			}
			continue
		}
		next := live[0].Exp
		for _, l := range live[1:] {
			next = min(next, l.Exp)
		}
		wait := min(time.Duration(next-now)+time.Millisecond, maxPoll)
		t := time.NewTimer(wait)
		select {
		case <-notify:
			t.Stop()
		case <-t.C:
			if err := h.refresh(ctx); err != nil { // in case the watch is lagging
				return "", err
			}
		case <-ctx.Done():
			t.Stop()
			return "", ctx.Err()
		}
	}
}

func (h *hostSlots) write(ctx context.Context, st leaseSet, rev uint64) error {
	val, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode lease set: %w", err)
	}
	newRev, err := h.g.store.set(ctx, h.key, val, rev)
	h.g.metrics.write(ctx, err)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.observeLocked(st, newRev)
	h.mu.Unlock()
	return nil
}

// modify applies fn to the lease set with compare-and-set until it sticks; fn returns
// false when there is nothing to write.
func (h *hostSlots) modify(ctx context.Context, fn func(now int64, st leaseSet) (leaseSet, bool)) error {
	for {
		h.mu.Lock()
		st, rev, known := h.st, h.rev, h.known
		h.mu.Unlock()
		if !known {
			if err := h.refresh(ctx); err != nil {
				return err
			}
			continue
		}
		next, ok := fn(time.Now().UnixNano(), st)
		if !ok {
			return nil
		}
		err := h.write(ctx, next, rev)
		if errors.Is(err, errConflict) {
			if err := h.refresh(ctx); err != nil {
				return err
			}
			continue
		}
		return err
	}
}

// release frees the slot of lease id. If it cannot be written, the lease expires after
// LeaseTTL because the heartbeat no longer renews it.
func (h *hostSlots) release(ctx context.Context, id string) error {
	h.mu.Lock()
	delete(h.mine, id)
	h.mu.Unlock()
	err := h.modify(ctx, func(now int64, st leaseSet) (leaseSet, bool) {
		next := leaseSet{Leases: make([]lease, 0, len(st.Leases))}
		found := false
		for _, l := range st.Leases {
			if l.ID == id {
				found = true
				continue
			}
			if l.Exp > now {
				next.Leases = append(next.Leases, l)
			}
		}
		return next, found
	})
	if err != nil {
		return fmt.Errorf("release slot of %s: %w", h.host, err)
	}
	return nil
}

// renew pushes the expiry of every lease this governor holds on the host. A lease that
// is gone was taken over after this process stalled for longer than LeaseTTL: it is
// reported and forgotten (the request it covers is already running).
func (h *hostSlots) renew(ctx context.Context) error {
	h.mu.Lock()
	mine := make(map[string]bool, len(h.mine))
	for id := range h.mine {
		mine[id] = true
	}
	h.mu.Unlock()
	if len(mine) == 0 {
		return nil
	}
	var lost []string
	err := h.modify(ctx, func(now int64, st leaseSet) (leaseSet, bool) {
		lost = lost[:0]
		seen := map[string]bool{}
		next := leaseSet{Leases: make([]lease, 0, len(st.Leases))}
		for _, l := range st.Leases {
			if mine[l.ID] {
				l.Exp = now + int64(h.g.cfg.LeaseTTL)
				seen[l.ID] = true
			}
			if l.Exp > now {
				next.Leases = append(next.Leases, l)
			}
		}
		for id := range mine {
			if !seen[id] {
				lost = append(lost, id)
			}
		}
		return next, len(seen) > 0
	})
	if err != nil {
		return fmt.Errorf("renew leases on %s: %w", h.host, err)
	}
	if len(lost) > 0 {
		h.mu.Lock()
		for _, id := range lost {
			if h.mine[id] { // still held locally: not released meanwhile
				delete(h.mine, id)
				h.g.log.Warn("concurrency lease lost (expired while held)", "host", h.host, "lease", id)
			}
		}
		h.mu.Unlock()
	}
	return nil
}

// held returns the number of leases this governor holds on the host.
func (h *hostSlots) held() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.mine)
}

func (h *hostSlots) idle(now time.Time, after time.Duration) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.users == 0 && len(h.mine) == 0 && now.Sub(h.lastUse) > after
}
