package transfer

import (
	"context"
	"sync"
)

// MemJournal keeps a copy's state in memory: for a copy that need not survive its
// process (benchmarks, tools, tests). The provider journals to sluice-checkpoints.
type MemJournal struct {
	mu    sync.Mutex
	st    State
	found bool
}

// Load returns the state last saved.
func (j *MemJournal) Load(context.Context) (State, bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.st, j.found, nil
}

// Save keeps s.
func (j *MemJournal) Save(_ context.Context, s State) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.st, j.found = s, true
	return nil
}
