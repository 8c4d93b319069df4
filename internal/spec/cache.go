package spec

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// ErrVersionConflict is returned by Cache.Compile for a spec whose content differs from an
// already compiled spec of the same provider, dataset and version: the spec was changed
// without a version bump, so rows and table schema could silently disagree.
var ErrVersionConflict = errors.New("spec changed without a version bump")

// versionsKept is how many versions of one dataset a Cache keeps; older ones are dropped
// when a newer version is compiled.
const versionsKept = 2

// Cache compiles specs once per (provider, dataset, version) and is safe for concurrent
// use; concurrent calls for the same version wait for one compilation.
type Cache struct {
	mu       sync.Mutex
	datasets map[string][]*cacheSlot // by Key(provider, dataset), oldest version first
}

type cacheSlot struct {
	version     int64
	fingerprint string
	done        chan struct{} // closed when prog and err are set
	prog        *Program
	err         error
}

// NewCache returns an empty Cache.
func NewCache() *Cache {
	return &Cache{datasets: make(map[string][]*cacheSlot)}
}

// Compile returns the compiled program of s, compiling it on first use of its version.
// A compile error is cached too, until a spec with other content arrives for that version.
func (c *Cache) Compile(s *Spec) (*Program, error) {
	key, fp := s.Key(), s.Fingerprint()
	for {
		c.mu.Lock()
		slots := c.datasets[key]
		i := slices.IndexFunc(slots, func(sl *cacheSlot) bool { return sl.version == s.Version })
		if i < 0 {
			sl := &cacheSlot{version: s.Version, fingerprint: fp, done: make(chan struct{})}
			slots = append(slots, sl)
			slices.SortFunc(slots, func(a, b *cacheSlot) int { return cmp.Compare(a.version, b.version) })
			if len(slots) > versionsKept {
				slots = slices.Clone(slots[len(slots)-versionsKept:])
			}
			c.datasets[key] = slots
			c.mu.Unlock()

			sl.prog, sl.err = Compile(s)
			close(sl.done)
			return sl.prog, sl.err
		}
		sl := slots[i]
		c.mu.Unlock()

		<-sl.done
		if sl.fingerprint == fp {
			return sl.prog, sl.err
		}
		if sl.err == nil {
			return nil, fmt.Errorf("spec %s version %d: %w", key, s.Version, ErrVersionConflict)
		}
		// The cached compilation failed and this spec differs: drop it and compile again.
		c.mu.Lock()
		if j := slices.Index(c.datasets[key], sl); j >= 0 {
			c.datasets[key] = slices.Delete(slices.Clone(c.datasets[key]), j, j+1)
		}
		c.mu.Unlock()
	}
}
