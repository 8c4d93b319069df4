package sim

import (
	"math/rand/v2"
	"slices"
	"sync"
)

// fault is a request-level fault.
type fault int

const (
	faultNone fault = iota
	faultServerError
	faultTimeout
	faultSlowBody
)

// downloadFault is a fault of the download body.
type downloadFault struct {
	truncate bool
	// at is the fraction of the file sent before the cut, in [0.1, 0.9).
	at   float64
	bomb bool
}

// faults draws injected failures from a generator seeded by Config.Seed:
// with the same seed and the same sequence of requests the same requests
// fail.
type faults struct {
	cfg FaultConfig

	mu  sync.Mutex
	rng *rand.Rand
}

func newFaults(cfg FaultConfig, seed uint64) *faults {
	return &faults{cfg: cfg, rng: rand.New(rand.NewPCG(seed, hashString("faults")))}
}

func (f *faults) applies(class string) bool {
	return len(f.cfg.Endpoints) == 0 || slices.Contains(f.cfg.Endpoints, class)
}

// request draws the fault of one request of class, and the HTTP status of a
// server error (500, 502 or 503).
func (f *faults) request(class string) (fault, int) {
	f.mu.Lock()
	u, v := f.rng.Float64(), f.rng.IntN(3)
	f.mu.Unlock()
	if !f.applies(class) {
		return faultNone, 0
	}
	c := f.cfg
	switch {
	case u < c.ServerErrorRate:
		return faultServerError, [...]int{500, 502, 503}[v]
	case u < c.ServerErrorRate+c.TimeoutRate:
		return faultTimeout, 0
	case u < c.ServerErrorRate+c.TimeoutRate+c.SlowBodyRate:
		return faultSlowBody, 0
	}
	return faultNone, 0
}

// download draws the body fault of one download.
func (f *faults) download() downloadFault {
	f.mu.Lock()
	u, at := f.rng.Float64(), 0.1+0.8*f.rng.Float64()
	f.mu.Unlock()
	if !f.applies(ClassDownload) {
		return downloadFault{}
	}
	switch {
	case u < f.cfg.TruncateRate:
		return downloadFault{truncate: true, at: at}
	case u < f.cfg.TruncateRate+f.cfg.BombRate:
		return downloadFault{bomb: true}
	}
	return downloadFault{}
}
