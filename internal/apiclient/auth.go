package apiclient

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// refreshTimeout bounds one credential refresh; it runs detached from the context of
// the request that triggered it, because other requests wait for it too.
const refreshTimeout = time.Minute

// Authorizer sets credentials on requests and renews them. Implementations must be
// safe for concurrent use.
type Authorizer interface {
	// Authorize sets the credentials of req (for example its Authorization header). It
	// is called before every attempt waits for its permit, and again once the permit is
	// granted when the wait was long, so that the credentials sent have not expired. A
	// token fetch it makes draws a permit of its own: keep the token endpoint out of a
	// concurrency cap that the calls being authorized can fill.
	Authorize(ctx context.Context, req *http.Request) error
	// Refresh obtains new credentials after a 401. The client calls it once for all
	// concurrent requests rejected with the same credentials (single flight), then
	// retries each of them once.
	Refresh(ctx context.Context) error
}

// auth wraps an Authorizer with the single-flight refresh. gen counts successful
// refreshes: a request remembers the generation it was authorized with, and a 401 for
// an older generation than the current one just retries with the new credentials.
type auth struct {
	a Authorizer

	mu      sync.Mutex
	gen     uint64
	pending *refreshCall
}

type refreshCall struct {
	done chan struct{}
	err  error
}

// authorize sets the credentials on req and returns their generation.
func (s *auth) authorize(ctx context.Context, req *http.Request) (uint64, error) {
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	if err := s.a.Authorize(ctx, req); err != nil {
		return 0, fmt.Errorf("authorize: %w", err)
	}
	return gen, nil
}

// refresh renews the credentials unless they changed since generation seen, sharing
// one Refresh among all concurrent callers.
func (s *auth) refresh(ctx context.Context, seen uint64) error {
	s.mu.Lock()
	if s.gen != seen {
		s.mu.Unlock()
		return nil
	}
	if c := s.pending; c != nil {
		s.mu.Unlock()
		select {
		case <-c.done:
			return c.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c := &refreshCall{done: make(chan struct{})}
	s.pending = c
	s.mu.Unlock()

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
	err := s.a.Refresh(rctx)
	cancel()
	if err != nil {
		err = fmt.Errorf("refresh credentials: %w", err)
	}
	s.mu.Lock()
	c.err = err
	if err == nil {
		s.gen++
	}
	s.pending = nil
	s.mu.Unlock()
	close(c.done)
	return err
}
