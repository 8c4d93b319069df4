package sim

// HostStats counts what one portal saw.
type HostStats struct {
	// Requests counts every request, logins and refused ones included.
	Requests int64 `json:"requests"`
	// Downloads counts reports served.
	Downloads int64 `json:"downloads"`
	Logins    int64 `json:"logins"`
	// Expired counts requests that found their session expired.
	Expired int64 `json:"expired"`
	// MaxConcurrent is the most requests in flight at once.
	MaxConcurrent int `json:"max_concurrent"`
	// Violations counts requests beyond Config.MaxConcurrent answered 500 (OverlapFail);
	// Refused those answered 429 (OverlapRefuse).
	Violations int64 `json:"violations"`
	Refused    int64 `json:"refused"`
}

// Stats returns the counters of every portal by host.
func (s *Server) Stats() map[string]HostStats {
	out := make(map[string]HostStats, len(s.hosts))
	for h, ps := range s.hosts {
		ps.mu.Lock()
		out[h] = HostStats{Requests: ps.requests, Downloads: ps.downloads, Logins: ps.logins, Expired: ps.expired,
			MaxConcurrent: ps.max, Violations: ps.violations, Refused: ps.refused}
		ps.mu.Unlock()
	}
	return out
}

// Total sums the counters of every portal; MaxConcurrent is the largest of any one.
func (s *Server) Total() HostStats {
	var t HostStats
	for _, h := range s.Stats() {
		t.Requests += h.Requests
		t.Downloads += h.Downloads
		t.Logins += h.Logins
		t.Expired += h.Expired
		t.Violations += h.Violations
		t.Refused += h.Refused
		t.MaxConcurrent = max(t.MaxConcurrent, h.MaxConcurrent)
	}
	return t
}
