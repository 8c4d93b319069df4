// Package specstore keeps dataset specs in the sluice-specs key-value bucket: providers
// register theirs at start, the transformer and loader read them, and a watcher keeps each
// reader's copy current so a new spec version takes effect without a restart.
package specstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/spec"
)

// ErrNotFound is wrapped when no spec is registered for a dataset.
var ErrNotFound = errors.New("dataset spec not registered")

// ErrConflict is wrapped when a registration would change a spec without raising its version.
var ErrConflict = errors.New("dataset spec conflict")

// Store reads and writes specs.
type Store struct {
	kv jetstream.KeyValue
	mu sync.RWMutex
	// latest holds the newest version of each spec seen by the watcher or a read.
	latest map[string]*spec.Spec
}

// Open binds to the bucket (which bus.Provision creates).
func Open(ctx context.Context, js jetstream.JetStream) (*Store, error) {
	kv, err := js.KeyValue(ctx, bus.BucketSpecs)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", bus.BucketSpecs, err)
	}
	return &Store{kv: kv, latest: map[string]*spec.Spec{}}, nil
}

// Register stores s unless the same version is already there. A spec whose content changed
// must carry a higher version; a lower version than the registered one is refused, so an
// old replica rolling out cannot downgrade a dataset.
func (s *Store) Register(ctx context.Context, sp *spec.Spec) error {
	if err := sp.Validate(); err != nil {
		return err
	}
	data, err := json.Marshal(sp)
	if err != nil {
		return fmt.Errorf("encode spec %s: %w", sp.Key(), err)
	}
	for {
		entry, err := s.kv.Get(ctx, sp.Key())
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			if _, err := s.kv.Create(ctx, sp.Key(), data); err != nil {
				if errors.Is(err, jetstream.ErrKeyExists) {
					continue // another replica registered first: compare with theirs
				}
				return fmt.Errorf("register spec %s: %w", sp.Key(), err)
			}
			s.remember(sp)
			return nil
		case err != nil:
			return fmt.Errorf("read spec %s: %w", sp.Key(), err)
		}
		cur, err := spec.Parse(entry.Value())
		if err != nil {
			return fmt.Errorf("registered spec %s is invalid: %w", sp.Key(), err)
		}
		switch {
		case cur.Version == sp.Version && cur.Fingerprint() == sp.Fingerprint():
			s.remember(cur)
			return nil
		case cur.Version == sp.Version:
			return fmt.Errorf("%w: %s version %d is registered with different content; raise the version", ErrConflict, sp.Key(), sp.Version)
		case cur.Version > sp.Version:
			return fmt.Errorf("%w: %s version %d is registered, refusing older version %d", ErrConflict, sp.Key(), cur.Version, sp.Version)
		}
		if _, err := s.kv.Update(ctx, sp.Key(), data, entry.Revision()); err != nil {
			if errors.Is(err, jetstream.ErrKeyExists) {
				continue
			}
			return fmt.Errorf("update spec %s: %w", sp.Key(), err)
		}
		s.remember(sp)
		return nil
	}
}

func (s *Store) remember(sp *spec.Spec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.latest[sp.Key()]; !ok || cur.Version <= sp.Version {
		s.latest[sp.Key()] = sp
	}
}

// Get returns the newest spec of provider/dataset.
func (s *Store) Get(ctx context.Context, provider, dataset string) (*spec.Spec, error) {
	key := spec.Key(provider, dataset)
	s.mu.RLock()
	sp, ok := s.latest[key]
	s.mu.RUnlock()
	if ok {
		return sp, nil
	}
	entry, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: %s (is the provider's extractor started?)", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("read spec %s: %w", key, err)
	}
	sp, err = spec.Parse(entry.Value())
	if err != nil {
		return nil, fmt.Errorf("registered spec %s is invalid: %w", key, err)
	}
	s.remember(sp)
	return sp, nil
}

// GetAtLeast returns the spec of provider/dataset when its version is at least version,
// reading the bucket when the copy held is older (a row batch made by a spec version this
// process has not seen yet). It wraps ErrNotFound when no such version is registered yet.
func (s *Store) GetAtLeast(ctx context.Context, provider, dataset string, version int64) (*spec.Spec, error) {
	sp, err := s.Get(ctx, provider, dataset)
	if err != nil || sp.Version >= version {
		return sp, err
	}
	entry, err := s.kv.Get(ctx, spec.Key(provider, dataset))
	if err != nil {
		return nil, fmt.Errorf("read spec %s: %w", spec.Key(provider, dataset), err)
	}
	if sp, err = spec.Parse(entry.Value()); err != nil {
		return nil, fmt.Errorf("registered spec %s is invalid: %w", spec.Key(provider, dataset), err)
	}
	s.remember(sp)
	if sp.Version < version {
		return nil, fmt.Errorf("%w: %s version %d (version %d is registered)", ErrNotFound, sp.Key(), version, sp.Version)
	}
	return sp, nil
}

// List returns the newest spec of every dataset.
func (s *Store) List(ctx context.Context) ([]*spec.Spec, error) {
	keys, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list specs: %w", err)
	}
	var out []*spec.Spec
	for key := range keys.Keys() {
		entry, err := s.kv.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("read spec %s: %w", key, err)
		}
		sp, err := spec.Parse(entry.Value())
		if err != nil {
			return nil, fmt.Errorf("registered spec %s is invalid: %w", key, err)
		}
		out = append(out, sp)
	}
	return out, nil
}

// Watch keeps the store's copies current until ctx ends.
func (s *Store) Watch(ctx context.Context, log *slog.Logger) error {
	w, err := s.kv.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		return fmt.Errorf("watch specs: %w", err)
	}
	defer w.Stop() //nolint:errcheck
	for {
		select {
		case <-ctx.Done():
			return nil
		case entry, ok := <-w.Updates():
			if !ok {
				return nil
			}
			if entry == nil || entry.Operation() != jetstream.KeyValuePut {
				continue
			}
			sp, err := spec.Parse(entry.Value())
			if err != nil {
				log.Warn("ignoring invalid spec update", "key", entry.Key(), "err", err)
				continue
			}
			s.remember(sp)
			log.Info("spec updated", "key", entry.Key(), "version", sp.Version)
		}
	}
}
