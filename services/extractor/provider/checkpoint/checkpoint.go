// Package checkpoint keeps the cursors of backfills and incremental extractions in the
// sluice-checkpoints key-value bucket: where a copy got to, the last day extracted, the
// last page token. A cursor is saved with compare-and-set, so two replicas working the
// same range cannot overwrite each other's progress, and a killed run resumes from the
// last saved cursor with no progress lost.
package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/bus"
)

// ErrConflict is wrapped by Save when the cursor changed since it was loaded.
var ErrConflict = errors.New("checkpoint changed concurrently")

// Store holds one provider's cursors.
type Store struct {
	kv       jetstream.KeyValue
	provider string
}

// New returns the checkpoint store of provider in kv (the sluice-checkpoints bucket).
func New(kv jetstream.KeyValue, provider string) (*Store, error) {
	if kv == nil {
		return nil, errors.New("checkpoint: a key-value bucket is required")
	}
	return &Store{kv: kv, provider: provider}, nil
}

// Cursor is a loaded checkpoint: its value and the revision to save over.
type Cursor[T any] struct {
	Key   string
	Value T
	// Found is false when nothing was saved yet (Value is the zero value).
	Found    bool
	Revision uint64
}

// Key builds a checkpoint key of the provider from parts; characters a bucket key cannot
// hold become '_'.
func (s *Store) Key(parts ...string) string {
	return bus.KVKey(append([]string{s.provider}, parts...)...)
}

// Load reads the cursor at key into a Cursor of T.
func Load[T any](ctx context.Context, s *Store, key string) (Cursor[T], error) {
	c := Cursor[T]{Key: key}
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("load checkpoint %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), &c.Value); err != nil {
		return c, fmt.Errorf("decode checkpoint %s: %w", key, err)
	}
	c.Found, c.Revision = true, e.Revision()
	return c, nil
}

// Save writes c.Value if the cursor did not change since c was loaded, and returns c
// with its new revision. On ErrConflict, Load again and decide.
func Save[T any](ctx context.Context, s *Store, c Cursor[T]) (Cursor[T], error) {
	data, err := json.Marshal(c.Value)
	if err != nil {
		return c, fmt.Errorf("encode checkpoint %s: %w", c.Key, err)
	}
	var rev uint64
	if c.Found {
		rev, err = s.kv.Update(ctx, c.Key, data, c.Revision)
	} else {
		rev, err = s.kv.Create(ctx, c.Key, data)
	}
	if err != nil {
		if isConflict(err) {
			return c, fmt.Errorf("save checkpoint %s: %w", c.Key, ErrConflict)
		}
		return c, fmt.Errorf("save checkpoint %s: %w", c.Key, err)
	}
	c.Found, c.Revision = true, rev
	return c, nil
}

// Delete removes the cursor at key (a finished backfill).
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("delete checkpoint %s: %w", key, err)
	}
	return nil
}

// Claim records value at key only if nothing is there yet, and reports whether this call
// wrote it: a once-only marker, e.g. "this schedule slot is planned".
func (s *Store) Claim(ctx context.Context, key string, value any) (bool, error) {
	data, err := json.Marshal(value)
	if err != nil {
		return false, fmt.Errorf("encode checkpoint %s: %w", key, err)
	}
	if _, err := s.kv.Create(ctx, key, data); err != nil {
		if isConflict(err) {
			return false, nil
		}
		return false, fmt.Errorf("claim checkpoint %s: %w", key, err)
	}
	return true, nil
}

func isConflict(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}
