package sim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxScanPerPage bounds the hotels one list call looks at under an updated_since filter:
// a sparse filter answers a short (even empty) page with a next cursor rather than
// scanning millions of hotels in one call, as real APIs do.
const maxScanPerPage = 50

// Server serves the catalog API. It is safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	buckets map[string]*bucket
	count   *counters
	closed  chan struct{}
	once    sync.Once
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// New returns a simulator serving cfg's catalog.
func New(cfg Config, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("catalog sim: %w", err)
	}
	s := &Server{cfg: cfg, log: slog.New(slog.DiscardHandler), mux: http.NewServeMux(),
		buckets: map[string]*bucket{}, count: newCounters(), closed: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With("component", "catalog-sim")
	for _, k := range cfg.APIKeys {
		if cfg.KeyRate > 0 {
			s.buckets[k] = newBucket(cfg.KeyRate, cfg.KeyBurst)
		}
	}
	s.mux.HandleFunc("GET /v1/hotels", s.api(s.handleList))
	s.mux.HandleFunc("GET /v1/hotels/{id}", s.api(s.handleDetail))
	s.mux.HandleFunc("GET /_sim/stats", s.handleStats)
	s.mux.HandleFunc("POST /_sim/reset", s.handleReset)
	s.mux.HandleFunc("GET /_sim/expected", s.handleExpected)
	return s, nil
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close ends slow answers in progress.
func (s *Server) Close() { s.once.Do(func() { close(s.closed) }) }

// Serve serves on ln until ctx ends, then drains.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Stats returns the counters since the start or the last Reset.
func (s *Server) Stats() Stats { st, _ := s.count.snapshot(); return st }

// PageRequests returns how many times each list page was requested (admitted calls that
// were answered), by the id of the first hotel the page scans (1 for the first page).
func (s *Server) PageRequests() map[int64]int64 { _, p := s.count.snapshot(); return p }

// Reset zeroes the counters.
func (s *Server) Reset() { s.count.reset() }

// api wraps an endpoint with the key check, the per-key limit and the injected faults.
func (s *Server) api(h func(w http.ResponseWriter, r *http.Request, key string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("X-Api-Key")
		s.count.add(func(st *Stats) { st.Requests++ })
		if !s.known(key) {
			s.count.add(func(st *Stats) { st.Unauthorized++ })
			writeError(w, http.StatusUnauthorized, "missing or unknown X-Api-Key")
			return
		}
		if b := s.buckets[key]; b != nil {
			if ok, wait := b.take(time.Now()); !ok {
				s.count.add(func(st *Stats) { st.Throttled++ })
				if rand.Float64() >= s.cfg.NoRetryAfter {
					w.Header().Set("Retry-After", strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second))))
				}
				writeError(w, http.StatusTooManyRequests, "rate limit of this API key exceeded")
				return
			}
		}
		now := time.Now()
		s.count.add(func(st *Stats) {
			st.Admitted++
			st.PerKey[key]++
			if st.First.IsZero() {
				st.First = now
			}
			st.Last = now
		})
		delay := s.cfg.Latency
		if s.cfg.SlowRate > 0 && rand.Float64() < s.cfg.SlowRate {
			delay += s.cfg.Slow
		}
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			case <-s.closed:
			}
		}
		if s.cfg.ErrorRate > 0 && rand.Float64() < s.cfg.ErrorRate {
			s.count.add(func(st *Stats) { st.Errors++ })
			code := http.StatusInternalServerError
			if rand.IntN(2) == 0 {
				code = http.StatusServiceUnavailable
			}
			writeError(w, code, "injected failure")
			return
		}
		h(w, r, key)
	}
}

func (s *Server) known(key string) bool {
	for _, k := range s.cfg.APIKeys {
		if key != "" && k == key {
			return true
		}
	}
	return false
}

// listItem is one entry of a list page: the list endpoint has the same shape for every
// supplier; details differ.
type listItem struct {
	ID        int64  `json:"id"`
	Supplier  string `json:"supplier"`
	UpdatedAt string `json:"updated_at"`
}

type listPage struct {
	Data       []listItem `json:"data"`
	NextCursor *string    `json:"next_cursor"`
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request, _ string) {
	q := r.URL.Query()
	limit := s.cfg.DefaultPageSize
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "limit: want a positive integer")
			return
		}
		limit = min(n, s.cfg.MaxPageSize)
	}
	start := int64(1)
	if c := q.Get("cursor"); c != "" {
		id, err := decodeCursor(s.cfg.Seed, c)
		if err != nil {
			writeError(w, http.StatusBadRequest, "cursor: "+err.Error())
			return
		}
		start = id
	}
	var since time.Time
	if v := q.Get("updated_since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "updated_since: want RFC 3339")
			return
		}
		since = t
	}
	page := listPage{Data: []listItem{}}
	id := start
	for scanned := 0; id <= s.cfg.Hotels && len(page.Data) < limit && scanned < limit*maxScanPerPage; id, scanned = id+1, scanned+1 {
		u := UpdatedAt(s.cfg.Seed, id)
		if !u.After(since) {
			continue
		}
		page.Data = append(page.Data, listItem{ID: id, Supplier: MakeHotel(s.cfg.Seed, id).Supplier, UpdatedAt: u.Format(time.RFC3339)})
	}
	if id <= s.cfg.Hotels {
		c := encodeCursor(s.cfg.Seed, id)
		page.NextCursor = &c
	}
	s.count.page(start)
	s.count.add(func(st *Stats) { st.ListOK++ })
	writeJSON(w, page)
}

func (s *Server) handleDetail(w http.ResponseWriter, r *http.Request, _ string) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 || id > s.cfg.Hotels {
		writeError(w, http.StatusNotFound, "no such hotel")
		return
	}
	s.count.add(func(st *Stats) { st.DetailOK++ })
	writeJSON(w, Detail(s.cfg.Seed, MakeHotel(s.cfg.Seed, id)))
}

func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	st, pages := s.count.snapshot()
	out := struct {
		Stats
		Pages map[string]int64 `json:"pages"`
	}{Stats: st, Pages: map[string]int64{}}
	for k, v := range pages {
		out.Pages[strconv.FormatInt(k, 10)] = v
	}
	writeJSON(w, out)
}

func (s *Server) handleReset(w http.ResponseWriter, _ *http.Request) {
	s.Reset()
	w.WriteHeader(http.StatusNoContent)
}

// handleExpected streams the expected hotels (with rooms) updated after updated_since.
func (s *Server) handleExpected(w http.ResponseWriter, r *http.Request) {
	var since time.Time
	if v := r.URL.Query().Get("updated_since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "updated_since: want RFC 3339")
			return
		}
		since = t
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	_, _ = w.Write([]byte("["))
	first := true
	for _, h := range Expected(s.cfg, since) {
		if !first {
			_, _ = w.Write([]byte(","))
		}
		first = false
		if err := enc.Encode(h); err != nil {
			return
		}
	}
	_, _ = w.Write([]byte("]"))
}

// Expected returns the hotels a complete extraction of cfg's catalog updated after since
// yields (all of them for the zero time), in id order.
func Expected(cfg Config, since time.Time) []Hotel {
	var out []Hotel
	for id := int64(1); id <= cfg.Hotels; id++ {
		if UpdatedAt(cfg.Seed, id).After(since) {
			out = append(out, MakeHotel(cfg.Seed, id))
		}
	}
	return out
}

// Cursors are opaque to clients: the next hotel id, tagged with the seed so a cursor of
// another catalog is refused.
func encodeCursor(seed, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%d:%d", seed, id)))
}

func decodeCursor(seed int64, c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, errors.New("malformed")
	}
	sd, id, ok := strings.Cut(string(b), ":")
	if !ok || sd != strconv.FormatInt(seed, 10) {
		return 0, errors.New("not a cursor of this catalog")
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n < 1 {
		return 0, errors.New("malformed")
	}
	return n, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
