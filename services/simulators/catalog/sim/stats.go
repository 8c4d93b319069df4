package sim

import (
	"maps"
	"sync"
	"time"
)

// Stats counts what the simulator answered.
type Stats struct {
	// Requests is every API call (list and detail), Admitted those not throttled.
	Requests int64 `json:"requests"`
	Admitted int64 `json:"admitted"`
	// Throttled calls were answered 429; Unauthorized 401; Errors injected 5xx.
	Throttled    int64 `json:"throttled"`
	Unauthorized int64 `json:"unauthorized"`
	Errors       int64 `json:"errors"`
	// ListOK and DetailOK count 200 answers of each endpoint.
	ListOK   int64 `json:"listOK"`
	DetailOK int64 `json:"detailOK"`
	// PerKey counts admitted calls by API key.
	PerKey map[string]int64 `json:"perKey"`
	// First and Last are when the first and the last admitted call arrived.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}

type counters struct {
	mu    sync.Mutex
	s     Stats
	pages map[int64]int64
}

func newCounters() *counters {
	return &counters{s: Stats{PerKey: map[string]int64{}}, pages: map[int64]int64{}}
}

func (c *counters) add(f func(s *Stats)) {
	c.mu.Lock()
	f(&c.s)
	c.mu.Unlock()
}

func (c *counters) page(start int64) {
	c.mu.Lock()
	c.pages[start]++
	c.mu.Unlock()
}

func (c *counters) snapshot() (Stats, map[int64]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.s
	s.PerKey = maps.Clone(c.s.PerKey)
	return s, maps.Clone(c.pages)
}

func (c *counters) reset() {
	c.mu.Lock()
	c.s = Stats{PerKey: map[string]int64{}}
	c.pages = map[int64]int64{}
	c.mu.Unlock()
}
