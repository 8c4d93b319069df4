package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// errConflict reports a compare-and-set that lost: the entry changed since it was read.
var errConflict = errors.New("revision conflict")

// store is the compare-and-set key-value store the shared state lives in: JetStream KV
// across processes, or memory within one.
type store interface {
	// get returns the value and revision of key; a missing key has revision 0.
	get(ctx context.Context, key string) ([]byte, uint64, error)
	// set writes value if key is still at revision rev (0: the key must not exist) and
	// returns the new revision, or errConflict.
	set(ctx context.Context, key string, value []byte, rev uint64) (uint64, error)
	// watch calls fn for every later change under prefix until ctx is done.
	watch(ctx context.Context, prefix string, fn func(key string, value []byte, rev uint64)) error
}

// kvStore is a store on a JetStream key-value bucket.
type kvStore struct{ kv jetstream.KeyValue }

// openBucket returns the bucket, creating it (file storage, history 1) if it is missing.
func openBucket(ctx context.Context, js jetstream.JetStream, name string) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, name)
	if err == nil {
		return kv, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("open bucket %s: %w", name, err)
	}
	kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      name,
		Description: "sluice shared rate-limit state (internal/ratelimit)",
		History:     1,
		Storage:     jetstream.FileStorage,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, name) // another replica created it first
	}
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", name, err)
	}
	return kv, nil
}

func (s kvStore) get(ctx context.Context, key string) ([]byte, uint64, error) {
	e, err := s.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return nil, 0, nil
	case err != nil:
		return nil, 0, fmt.Errorf("get %s: %w", key, err)
	}
	return e.Value(), e.Revision(), nil
}

func (s kvStore) set(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	var (
		n   uint64
		err error
	)
	if rev == 0 {
		n, err = s.kv.Create(ctx, key, value)
	} else {
		n, err = s.kv.Update(ctx, key, value, rev)
	}
	switch {
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return 0, errConflict
	case err != nil:
		return 0, fmt.Errorf("set %s: %w", key, err)
	}
	return n, nil
}

func (s kvStore) watch(ctx context.Context, prefix string, fn func(string, []byte, uint64)) error {
	w, err := s.kv.Watch(ctx, prefix+".>", jetstream.UpdatesOnly())
	if err != nil {
		return fmt.Errorf("watch %s: %w", prefix, err)
	}
	defer w.Stop() //nolint:errcheck // nothing to do about a failed unsubscribe at shutdown
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return nil
			}
			if e == nil {
				continue
			}
			var v []byte
			if e.Operation() == jetstream.KeyValuePut {
				v = e.Value()
			}
			fn(e.Key(), v, e.Revision())
		}
	}
}

// memStore is a store in memory, for a governor confined to one process.
type memStore struct {
	mu      sync.Mutex
	rev     uint64
	entries map[string]memEntry
	subs    map[int]memSub
	nextSub int
}

type memEntry struct {
	value []byte
	rev   uint64
}

type memSub struct {
	prefix string
	ch     chan memChange
}

type memChange struct {
	key   string
	value []byte
	rev   uint64
}

func newMemStore() *memStore {
	return &memStore{entries: map[string]memEntry{}, subs: map[int]memSub{}}
}

func (m *memStore) get(_ context.Context, key string) ([]byte, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[key]
	return e.value, e.rev, nil
}

func (m *memStore) set(_ context.Context, key string, value []byte, rev uint64) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries[key].rev != rev {
		return 0, errConflict
	}
	m.rev++
	v := append([]byte(nil), value...)
	m.entries[key] = memEntry{value: v, rev: m.rev}
	for _, s := range m.subs {
		if strings.HasPrefix(key, s.prefix+".") {
			select {
			case s.ch <- memChange{key, v, m.rev}:
			default: // a slow watcher misses a notification; waiters also poll
			}
		}
	}
	return m.rev, nil
}

func (m *memStore) watch(ctx context.Context, prefix string, fn func(string, []byte, uint64)) error {
	ch := make(chan memChange, 1024)
	m.mu.Lock()
	id := m.nextSub
	m.nextSub++
	m.subs[id] = memSub{prefix: prefix, ch: ch}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.subs, id)
		m.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case c := <-ch:
			fn(c.key, c.value, c.rev)
		}
	}
}
