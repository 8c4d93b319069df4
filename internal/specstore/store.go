// Package specstore keeps dataset specs in the sluice-specs key-value bucket: providers
// register theirs at start, the transformer and loader read them, and a watcher keeps each
// reader's copy current so a new spec version takes effect without a restart.
//
// The bucket also records which dataset owns each Postgres table (see Register), so two
// specs can never write one table.
package specstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/spec"
)

// ErrNotFound is wrapped when no spec is registered for a dataset.
var ErrNotFound = errors.New("dataset spec not registered")

// ErrConflict is wrapped when a registration would change a spec without raising its version.
var ErrConflict = errors.New("dataset spec conflict")

// ErrTableClaimed is wrapped when a spec names a table that another dataset already writes.
var ErrTableClaimed = errors.New("table belongs to another dataset")

// claimPrefix starts the key that records a table's owner, "_table.<table>", whose value is
// the owning spec's key. Provider names start with a letter, so no spec key collides.
const claimPrefix = "_table."

func claimKey(table string) string { return claimPrefix + table }

func isClaim(key string) bool { return strings.HasPrefix(key, claimPrefix) }

// Store reads and writes specs.
type Store struct {
	kv jetstream.KeyValue
	mu sync.RWMutex
	// latest holds the newest version of each spec seen by the watcher or a read.
	latest map[string]*spec.Spec

	watchMu sync.Mutex
	// watchErr is why the copies may be stale (nil while a watch is current), and
	// watchLost when that began.
	watchErr  error
	watchLost time.Time
}

// Open binds to the bucket (which bus.Provision creates).
func Open(ctx context.Context, js jetstream.JetStream) (*Store, error) {
	kv, err := js.KeyValue(ctx, bus.BucketSpecs)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", bus.BucketSpecs, err)
	}
	return &Store{kv: kv, latest: map[string]*spec.Spec{}, watchErr: errWatchNotStarted}, nil
}

// Register stores s unless the same version is already there. A spec whose content changed
// must carry a higher version; a lower version than the registered one is refused, so an
// old replica rolling out cannot downgrade a dataset.
//
// A spec's table belongs to the first dataset that registers it: a spec of any other
// dataset naming that table is refused with ErrTableClaimed, since the loader applies one
// spec per table (rows of two datasets would be loaded under the wrong columns, key and
// freshness). The claim is a key created with KV Create, so of two concurrent
// registrations exactly one wins. A claim outlives a spec version that moves its dataset
// to another table, because the old table still holds the dataset's rows; an operator
// hands a table over by deleting its claim key ("_table.<table>").
func (s *Store) Register(ctx context.Context, sp *spec.Spec) error {
	if err := sp.Validate(); err != nil {
		return err
	}
	if err := s.claimTable(ctx, sp); err != nil {
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

// claimTable records sp's dataset as the owner of sp.Table, or returns ErrTableClaimed
// naming the dataset that owns it.
func (s *Store) claimTable(ctx context.Context, sp *spec.Spec) error {
	key, owner := claimKey(sp.Table), sp.Key()
	for {
		_, err := s.kv.Create(ctx, key, []byte(owner))
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("claim table %s for spec %s: %w", sp.Table, owner, err)
		}
		entry, err := s.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // released between our Create and Get: try again
		}
		if err != nil {
			return fmt.Errorf("read owner of table %s: %w", sp.Table, err)
		}
		if cur := string(entry.Value()); cur != owner {
			return fmt.Errorf("%w: spec %s (provider %s, dataset %s) names table %q, which belongs to dataset %s; "+
				"choose another table, or, once %s no longer writes it, delete key %s from bucket %s",
				ErrTableClaimed, owner, sp.Provider, sp.Dataset, sp.Table, cur, cur, key, bus.BucketSpecs)
		}
		return nil
	}
}

// TableOwner returns the key of the dataset spec ("provider.dataset") that owns table, or
// ErrNotFound.
func (s *Store) TableOwner(ctx context.Context, table string) (string, error) {
	entry, err := s.kv.Get(ctx, claimKey(table))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", fmt.Errorf("%w: no dataset owns table %s", ErrNotFound, table)
	}
	if err != nil {
		return "", fmt.Errorf("read owner of table %s: %w", table, err)
	}
	return string(entry.Value()), nil
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
		if isClaim(key) {
			continue
		}
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

// How Watch keeps its watch alive: every watchCheck it compares what the watch delivered
// with the bucket's last revision, and it re-establishes a lost watch after a backoff that
// doubles from watchMinBackoff to watchMaxBackoff.
const (
	watchCheck      = 5 * time.Second
	watchMinBackoff = 250 * time.Millisecond
	watchMaxBackoff = 10 * time.Second
)

// errWatchNotStarted is what Ready reports before the first watch has replayed the bucket.
var errWatchNotStarted = errors.New("spec watch not started")

// Watch keeps the store's copies current until ctx ends, then returns nil.
//
// A watch can end or go silent while the process runs on: the connection closes, or the
// server restarts and the watch's consumer cannot be recreated (bucket lost). Watch notices
// either (a closed watch, or a watch that has not delivered the bucket's last revision one
// check later) and re-establishes it with backoff; each new watch first replays every
// current spec, so updates made while it was down are not missed. From the moment a watch
// is lost until its replacement has replayed the bucket, Ready returns an error: a reader
// with a stale copy must not look ready.
func (s *Store) Watch(ctx context.Context, log *slog.Logger) error {
	backoff := watchMinBackoff
	for {
		wasCurrent, err := s.watchOnce(ctx, log)
		if ctx.Err() != nil {
			s.setWatchErr(fmt.Errorf("spec watch stopped: %w", ctx.Err()))
			return nil
		}
		s.setWatchErr(err)
		if wasCurrent {
			backoff = watchMinBackoff
		}
		log.Warn("spec watch lost; re-establishing it", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			s.setWatchErr(fmt.Errorf("spec watch stopped: %w", ctx.Err()))
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, watchMaxBackoff)
	}
}

// watchOnce runs one watch until it ends, stalls or ctx ends. It reports whether the watch
// had replayed the bucket (so the next failure starts a fresh backoff).
func (s *Store) watchOnce(ctx context.Context, log *slog.Logger) (bool, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.kv.WatchAll(wctx)
	if err != nil {
		return false, fmt.Errorf("watch specs: %w", err)
	}
	defer w.Stop() //nolint:errcheck
	check := time.NewTicker(watchCheck)
	defer check.Stop()
	var current bool
	// seen is the highest revision delivered; expect is the bucket's last revision at the
	// previous check, which a live watch has delivered by now.
	var seen, expect uint64
	for {
		select {
		case <-ctx.Done():
			return current, nil
		case entry, ok := <-w.Updates():
			if !ok {
				return current, errors.New("spec watch ended")
			}
			if entry == nil { // every current value replayed
				if !current {
					current = true
					if lost := s.setWatchErr(nil); !lost.IsZero() {
						log.Info("spec watch re-established", "down_for", time.Since(lost).Round(time.Millisecond), "revision", seen)
					}
				}
				continue
			}
			seen = max(seen, entry.Revision())
			s.apply(entry, log)
		case <-check.C:
			st, err := s.kv.Status(ctx)
			if err != nil {
				return current, fmt.Errorf("check spec watch: %w", err)
			}
			bs, ok := st.(*jetstream.KeyValueBucketStatus)
			if !ok {
				return current, fmt.Errorf("check spec watch: unexpected bucket status %T", st)
			}
			state := bs.StreamInfo().State
			// A purged bucket keeps its last sequence with no message at it: nothing to see.
			if seen < expect && state.Msgs > 0 && expect >= state.FirstSeq {
				return current, fmt.Errorf("spec watch stalled at revision %d, bucket at %d", seen, expect)
			}
			expect = state.LastSeq
		}
	}
}

// apply remembers the spec an update carries.
func (s *Store) apply(entry jetstream.KeyValueEntry, log *slog.Logger) {
	if entry.Operation() != jetstream.KeyValuePut || isClaim(entry.Key()) {
		return
	}
	sp, err := spec.Parse(entry.Value())
	if err != nil {
		log.Warn("ignoring invalid spec update", "key", entry.Key(), "err", err)
		return
	}
	s.mu.RLock()
	old, ok := s.latest[sp.Key()]
	s.mu.RUnlock()
	s.remember(sp)
	if !ok || old.Version < sp.Version {
		log.Info("spec updated", "key", entry.Key(), "version", sp.Version)
	}
}

// setWatchErr records why the copies may be stale (nil: they are current) and returns
// when the watch was lost before, zero if it was not.
func (s *Store) setWatchErr(err error) time.Time {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	lost := s.watchLost
	switch {
	case err == nil:
		s.watchErr, s.watchLost = nil, time.Time{}
	case s.watchErr == nil || errors.Is(s.watchErr, errWatchNotStarted):
		s.watchErr, s.watchLost = err, time.Now()
	default:
		s.watchErr = err // keep the time it was first lost
	}
	return lost
}

// Ready is a readiness check (service.Check) for a process that reads specs: it fails
// until Watch has replayed the bucket, and from the moment the watch is lost until it is
// re-established, so that a reader whose copies may be stale is not ready.
func (s *Store) Ready(context.Context) error {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	if s.watchErr == nil {
		return nil
	}
	if s.watchLost.IsZero() {
		return s.watchErr
	}
	return fmt.Errorf("spec copies may be stale since %s: %w", s.watchLost.UTC().Format(time.RFC3339), s.watchErr)
}
