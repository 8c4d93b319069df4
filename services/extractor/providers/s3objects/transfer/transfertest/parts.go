package transfertest

import (
	"net/http"
	"sync"
)

// Parts counts the part uploads (UploadPart, UploadPartCopy) a target S3 server is sent,
// by part number: what a resumed copy sent again is visible there, whatever the copy
// itself reports.
type Parts struct {
	mu     sync.Mutex
	counts map[string]int
}

// Observe counts r if it uploads a part.
func (p *Parts) Observe(r *http.Request) {
	if q := r.URL.Query(); r.Method == http.MethodPut && q.Get("partNumber") != "" {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.counts == nil {
			p.counts = map[string]int{}
		}
		p.counts[q.Get("partNumber")]++
	}
}

// Snapshot returns the counts so far, by part number.
func (p *Parts) Snapshot() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.counts))
	for k, v := range p.counts {
		out[k] = v
	}
	return out
}
