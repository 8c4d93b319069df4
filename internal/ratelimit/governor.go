package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	randv2 "math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// idleAfter is how long an unused per-key bucket or host stays in the local cache.
const idleAfter = 2 * time.Minute

// ErrUnknownQuota is returned by Acquire for a quota the Config does not name.
var ErrUnknownQuota = errors.New("unknown quota")

// ErrClosed is returned by Acquire after Close.
var ErrClosed = errors.New("governor closed")

// Governor issues permits under limits shared by every replica of a service. It is
// safe for concurrent use. Close it to stop its watch and heartbeat.
type Governor struct {
	cfg     Config
	id      string
	store   store
	log     *slog.Logger
	metrics *metrics

	mu      sync.Mutex
	buckets map[string]*bucket
	hosts   map[string]*hostSlots
	closed  bool

	stop   context.CancelFunc
	wg     sync.WaitGroup
	closer sync.Once
}

// New returns a governor whose state lives in the JetStream key-value bucket
// cfg.Bucket (created when missing), shared with every governor of the same Namespace
// on any process. It starts a watch and a lease heartbeat that run until Close; ctx
// bounds only the setup.
func New(ctx context.Context, js jetstream.JetStream, cfg Config) (*Governor, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ratelimit config: %w", err)
	}
	kv, err := openBucket(ctx, js, cfg.Bucket)
	if err != nil {
		return nil, err
	}
	return start(kvStore{kv}, cfg)
}

// NewLocal returns a governor whose state lives in this process only: for a single
// replica, tools and tests. Governors made by separate NewLocal calls share nothing.
func NewLocal(cfg Config) (*Governor, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ratelimit config: %w", err)
	}
	return start(newMemStore(), cfg)
}

func start(st store, cfg Config) (*Governor, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	g := &Governor{
		cfg: cfg, store: st,
		log:     log.With("component", "ratelimit", "namespace", cfg.Namespace),
		buckets: map[string]*bucket{}, hosts: map[string]*hostSlots{},
	}
	g.id = g.newID()
	m, err := newMetrics(g, cfg.MeterProvider)
	if err != nil {
		return nil, err
	}
	g.metrics = m
	ctx, cancel := context.WithCancel(context.Background())
	g.stop = cancel
	g.wg.Add(2)
	go func() {
		defer g.wg.Done()
		g.watch(ctx)
	}()
	go func() {
		defer g.wg.Done()
		g.heartbeat(ctx)
	}()
	return g, nil
}

// Close stops the watch and the heartbeat and waits for them. Leases still held stop
// being renewed and expire after LeaseTTL. Close is idempotent.
func (g *Governor) Close() error {
	g.closer.Do(func() {
		g.mu.Lock()
		g.closed = true
		g.mu.Unlock()
		g.stop()
		g.wg.Wait()
		_ = g.metrics.reg.Unregister()
	})
	return nil
}

// Acquire waits until one call may start under req's quota, its per-key limit and its
// host's concurrency cap, and returns the permit. The caller must Release it. The
// concurrency slot is taken first, then the per-key slot, then the quota slot, so a
// slow limit does not burn slots of a faster one while it waits.
func (g *Governor) Acquire(ctx context.Context, req Request) (*Permit, error) {
	began := time.Now()
	name, q, err := g.quotaFor(req.Quota)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	closed := g.closed
	g.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	p := &Permit{g: g}
	fail := func(err error) (*Permit, error) {
		if p.host != nil {
			_ = p.Release(ctx, Outcome{Kind: Failed}) // frees the slot; a failed write expires
		}
		return nil, err
	}
	if n := g.hostCap(req.Host); n > 0 {
		h := g.hostSlots(req.Host, n)
		id, err := h.acquire(ctx)
		if err != nil {
			return nil, fmt.Errorf("acquire %s concurrency slot: %w", req.Host, err)
		}
		p.host, p.leaseID = h, id
	}
	if q.PerKey != nil && req.Key != "" {
		b := g.bucket(name, perKeyKey(g.cfg.Namespace, name, req.Key), *q.PerKey)
		gr, err := b.take(ctx)
		if err != nil {
			return fail(fmt.Errorf("acquire %s key %s: %w", name, req.Key, err))
		}
		p.perKey = &gr
	}
	gr, err := g.bucket(name, quotaKey(g.cfg.Namespace, name), q.Limit).take(ctx)
	if err != nil {
		return fail(fmt.Errorf("acquire %s: %w", name, err))
	}
	p.quota = gr
	p.waited = time.Since(began)
	g.metrics.issued(ctx, name, p.waited)
	return p, nil
}

// Wait waits for a slot of req's quota (and per-key limit) and counts it as a success:
// for work that is paced but has no outcome to report. It takes no concurrency slot
// (req.Host is ignored).
func (g *Governor) Wait(ctx context.Context, req Request) error {
	req.Host = ""
	p, err := g.Acquire(ctx, req)
	if err != nil {
		return err
	}
	return p.Release(ctx, Outcome{Kind: Success})
}

// Status is the shared state of a quota or of one key of it.
type Status struct {
	// Rate is the allowed rate now; Limit the rate that last caused a throttle (0 if none).
	Rate, Limit float64
	// PauseUntil is the end of the current pause (zero or past when there is none).
	PauseUntil time.Time
	// Issued and Throttled count slots reserved and throttles reported by all replicas.
	Issued, Throttled uint64
	// Epoch counts decreases and pauses.
	Epoch uint64
}

// Status reads the shared state of quota (or of its key when key is not empty).
func (g *Governor) Status(ctx context.Context, quota, key string) (Status, error) {
	name, q, err := g.quotaFor(quota)
	if err != nil {
		return Status{}, err
	}
	k, lim := quotaKey(g.cfg.Namespace, name), q.Limit
	if key != "" && q.PerKey != nil {
		k, lim = perKeyKey(g.cfg.Namespace, name, key), *q.PerKey
	}
	v, _, err := g.store.get(ctx, k)
	if err != nil {
		return Status{}, fmt.Errorf("status of %s: %w", k, err)
	}
	st, err := decodeQuota(v)
	if err != nil {
		return Status{}, err
	}
	if st.Rate <= 0 {
		st = lim.initial(st, time.Now())
	}
	s := Status{Rate: st.Rate, Limit: st.Limit, Issued: st.Issued, Throttled: st.Throttled, Epoch: st.Epoch}
	if st.Pause > 0 {
		s.PauseUntil = time.Unix(0, st.Pause)
	}
	return s, nil
}

func (g *Governor) quotaFor(name string) (string, QuotaConfig, error) {
	if name == "" {
		if len(g.cfg.Quotas) == 1 {
			for n, q := range g.cfg.Quotas {
				return n, q, nil
			}
		}
		name = DefaultQuota
	}
	q, ok := g.cfg.Quotas[name]
	if !ok {
		return "", QuotaConfig{}, fmt.Errorf("%w %q", ErrUnknownQuota, name)
	}
	return name, q, nil
}

func (g *Governor) hostCap(host string) int {
	if host == "" {
		return 0
	}
	if n, ok := g.cfg.Hosts[host]; ok {
		return n
	}
	return g.cfg.HostConcurrency
}

func (g *Governor) bucket(quota, key string, lim Limit) *bucket {
	g.mu.Lock()
	defer g.mu.Unlock()
	b, ok := g.buckets[key]
	if !ok {
		b = newBucket(g, quota, key, lim)
		g.buckets[key] = b
	}
	b.mu.Lock()
	b.lastUse = time.Now() // not evicted between here and take
	b.mu.Unlock()
	return b
}

func (g *Governor) hostSlots(host string, capacity int) *hostSlots {
	key := hostKey(g.cfg.Namespace, host)
	g.mu.Lock()
	defer g.mu.Unlock()
	h, ok := g.hosts[key]
	if !ok {
		h = newHostSlots(g, host, key, capacity)
		g.hosts[key] = h
	}
	h.mu.Lock()
	h.lastUse = time.Now()
	h.mu.Unlock()
	return h
}

// quotaBuckets returns the local buckets of whole quotas (not keys), for metrics.
func (g *Governor) quotaBuckets() []*bucket {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*bucket
	for k, b := range g.buckets {
		if k == quotaKey(g.cfg.Namespace, b.quota) {
			out = append(out, b)
		}
	}
	return out
}

func (g *Governor) leasesHeld() int {
	g.mu.Lock()
	hs := make([]*hostSlots, 0, len(g.hosts))
	for _, h := range g.hosts {
		hs = append(hs, h)
	}
	g.mu.Unlock()
	n := 0
	for _, h := range hs {
		n += h.held()
	}
	return n
}

// watch feeds every change of this namespace's entries to the local caches, so that a
// pause or decrease made by another replica stops local waiters at once and a freed
// concurrency slot wakes the next local caller. It retries after errors until ctx ends.
func (g *Governor) watch(ctx context.Context) {
	prefix := keyToken(g.cfg.Namespace)
	for {
		err := g.store.watch(ctx, prefix, func(key string, value []byte, rev uint64) {
			g.mu.Lock()
			b := g.buckets[key]
			h := g.hosts[key]
			g.mu.Unlock()
			switch {
			case b != nil:
				b.observe(value, rev)
			case h != nil:
				h.observe(value, rev)
			}
		})
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			g.log.Warn("limit watch stopped; retrying", "err", err)
		}
		if sleep(ctx, time.Second, nil) != nil {
			return
		}
	}
}

// heartbeat renews this governor's leases every LeaseTTL/3 and drops idle entries from
// the local caches.
func (g *Governor) heartbeat(ctx context.Context) {
	t := time.NewTicker(g.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		g.mu.Lock()
		hs := make([]*hostSlots, 0, len(g.hosts))
		for k, h := range g.hosts {
			if h.idle(now, idleAfter) {
				delete(g.hosts, k)
				continue
			}
			hs = append(hs, h)
		}
		for k, b := range g.buckets {
			if k != quotaKey(g.cfg.Namespace, b.quota) && b.idle(now, idleAfter) {
				delete(g.buckets, k)
			}
		}
		g.mu.Unlock()
		for _, h := range hs {
			rctx, cancel := context.WithTimeout(ctx, g.cfg.LeaseTTL/3)
			if err := h.renew(rctx); err != nil && ctx.Err() == nil {
				g.log.Warn("lease heartbeat failed", "host", h.host, "err", err)
			}
			cancel()
		}
	}
}

func (g *Governor) newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

func (g *Governor) jitter() float64 { return randv2.Float64() }
