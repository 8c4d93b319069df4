package sim

import (
	"strconv"
	"sync"
)

// Stats is a snapshot of what the simulator served, as GET /_sim/stats
// returns it.
type Stats struct {
	// Requests counts responses by endpoint class and HTTP status
	// ("create" → "425" → 3).
	Requests map[string]map[string]int64 `json:"requests"`
	// Statuses counts responses by HTTP status over all classes.
	Statuses map[string]int64 `json:"statuses"`

	ReportsCreated int64 `json:"reportsCreated"`
	TokensIssued   int64 `json:"tokensIssued"`
	// Unauthorized, Duplicates, Throttled and ServerErrors count 401, 425,
	// 429 and 5xx responses (5xx include injected ones and 504 timeouts).
	Unauthorized int64 `json:"unauthorized"`
	Duplicates   int64 `json:"duplicates"`
	Throttled    int64 `json:"throttled"`
	ServerErrors int64 `json:"serverErrors"`
	// ThrottledWithoutRetryAfter counts 429s sent without Retry-After.
	ThrottledWithoutRetryAfter int64 `json:"throttledWithoutRetryAfter"`
	// ExpiredURLs counts downloads refused because the url had expired.
	ExpiredURLs int64 `json:"expiredUrls"`
	// Faults counts injected faults: serverError, timeout, slowBody,
	// truncated, bomb.
	Faults map[string]int64 `json:"faults"`
	// DownloadedBytes is the number of body bytes written by downloads.
	DownloadedBytes int64 `json:"downloadedBytes"`
	// Rates holds the request recorder, by key (see KeyAPI).
	Rates map[string]RateStats `json:"rates"`
}

// Count returns the number of responses of class with HTTP status.
func (s Stats) Count(class string, status int) int64 {
	return s.Requests[class][strconv.Itoa(status)]
}

// counters are the concurrency-safe counters behind Stats.
type counters struct {
	mu              sync.Mutex
	byClass         map[string]map[int]int64
	reportsCreated  int64
	tokensIssued    int64
	noRetryAfter    int64
	expiredURLs     int64
	faults          map[string]int64
	downloadedBytes int64
}

func newCounters() *counters {
	return &counters{byClass: make(map[string]map[int]int64), faults: make(map[string]int64)}
}

func (c *counters) response(class string, status int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.byClass[class]
	if m == nil {
		m = make(map[int]int64)
		c.byClass[class] = m
	}
	m[status]++
	if class == ClassDownload {
		c.downloadedBytes += bytes
	}
}

// add increments one of the named counters.
func (c *counters) add(field *int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	*field++
}

func (c *counters) fault(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults[name]++
}

func (c *counters) snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Stats{
		Requests:                   make(map[string]map[string]int64, len(c.byClass)),
		Statuses:                   make(map[string]int64),
		ReportsCreated:             c.reportsCreated,
		TokensIssued:               c.tokensIssued,
		ThrottledWithoutRetryAfter: c.noRetryAfter,
		ExpiredURLs:                c.expiredURLs,
		Faults:                     make(map[string]int64, len(c.faults)),
		DownloadedBytes:            c.downloadedBytes,
	}
	for class, m := range c.byClass {
		sm := make(map[string]int64, len(m))
		for status, n := range m {
			key := strconv.Itoa(status)
			sm[key] = n
			s.Statuses[key] += n
			switch {
			case status == 401:
				s.Unauthorized += n
			case status == 425:
				s.Duplicates += n
			case status == 429:
				s.Throttled += n
			case status >= 500:
				s.ServerErrors += n
			}
		}
		s.Requests[class] = sm
	}
	for k, n := range c.faults {
		s.Faults[k] = n
	}
	return s
}

// Names of injected faults in Stats.Faults.
const (
	FaultServerError = "serverError"
	FaultTimeout     = "timeout"
	FaultSlowBody    = "slowBody"
	FaultTruncated   = "truncated"
	FaultBomb        = "bomb"
)

func (c *counters) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byClass = make(map[string]map[int]int64)
	c.faults = make(map[string]int64)
	c.reportsCreated, c.tokensIssued, c.noRetryAfter, c.expiredURLs, c.downloadedBytes = 0, 0, 0, 0, 0
}
