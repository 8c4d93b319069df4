package sim

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Server is the simulated Amazon Ads API. It is an http.Handler and safe for
// concurrent use.
type Server struct {
	cfg      Config
	clock    Clock
	log      *slog.Logger
	profiles []Profile
	byID     profileIndex
	zones    map[int64]*time.Location
	signKey  []byte

	auth     *authStore
	reports  *reportStore
	throttle *throttler
	faults   *faults
	counters *counters
	mux      *http.ServeMux

	bombOnce sync.Once
	bomb     *bomb
	bombErr  error

	closing   chan struct{}
	closeOnce sync.Once
}

// Option customises a Server.
type Option func(*Server)

// WithClock makes the server read time from c (default: the system clock).
func WithClock(c Clock) Option { return func(s *Server) { s.clock = c } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// New validates cfg and returns a Server.
func New(cfg Config, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("amazon ads simulator config: %w", err)
	}
	s := &Server{
		cfg:      cfg,
		clock:    systemClock{},
		log:      slog.New(slog.DiscardHandler),
		profiles: Profiles(cfg),
		auth:     newAuthStore(cfg.Auth),
		reports:  newReportStore(cfg.Reports, cfg.Seed),
		throttle: newThrottler(cfg.Throttle, cfg.Stats, cfg.Seed),
		faults:   newFaults(cfg.Faults, cfg.Seed),
		counters: newCounters(),
		closing:  make(chan struct{}),
	}
	key := sha256.Sum256([]byte("sluice-sim-url-signing|" + strconv.FormatUint(cfg.Seed, 10)))
	s.signKey = key[:]
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With("component", "amazonads-sim")
	s.byID = indexProfiles(s.profiles)
	s.zones = make(map[int64]*time.Location, len(s.profiles))
	for _, p := range s.profiles {
		s.zones[p.ProfileID] = profileLocation(p)
	}
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	s.mux = http.NewServeMux()
	s.mux.Handle("POST /auth/o2/token", s.endpoint(ClassToken, s.handleToken))
	s.mux.Handle("GET /v2/profiles", s.endpoint(ClassProfiles, s.handleProfiles))
	s.mux.Handle("POST /reporting/reports", s.endpoint(ClassCreate, s.handleCreate))
	s.mux.Handle("GET /reporting/reports/{reportId}", s.endpoint(ClassStatus, s.handleStatus))
	s.mux.Handle("GET /download/{reportId}", s.endpoint(ClassDownload, s.handleDownload))
	s.mux.HandleFunc("GET /_sim/stats", s.handleStats)
	s.mux.HandleFunc("POST /_sim/reset", s.handleReset)
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// endpoint wraps a handler of an endpoint class with response counting and
// request logging.
func (s *Server) endpoint(class string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		start := time.Now()
		defer func() {
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			s.counters.response(class, status, sw.bytes)
			s.log.LogAttrs(r.Context(), slog.LevelDebug, "request", slog.String("class", class),
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", status),
				slog.Int64("bytes", sw.bytes), slog.Duration("took", time.Since(start)))
		}()
		h(sw, r)
	})
}

// Serve serves on ln until ctx is cancelled, then ends injected hangs and
// shuts down gracefully, waiting up to 10 s for requests in flight.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.Close()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := hs.Shutdown(shutdownCtx)
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	if err != nil {
		return fmt.Errorf("shut down %s: %w", ln.Addr(), err)
	}
	return nil
}

// Close ends every injected hang and slow body at once so that an
// http.Server (or httptest.Server) can shut down; later faults of that kind
// end immediately. The Server keeps serving otherwise.
func (s *Server) Close() { s.closeOnce.Do(func() { close(s.closing) }) }

// sleep waits for d, or until ctx is done or the server closes. d == 0
// waits for one of the latter only.
func (s *Server) sleep(ctx context.Context, d time.Duration) error {
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return errClosing
	}
}

var errClosing = errors.New("simulator closing")

// Config returns the server's configuration.
func (s *Server) Config() Config { return s.cfg }

// Profiles returns the server's profiles.
func (s *Server) Profiles() []Profile { return append([]Profile(nil), s.profiles...) }

// Stats returns a snapshot of the counters and the request recorder.
func (s *Server) Stats() Stats {
	st := s.counters.snapshot()
	st.Rates = s.throttle.snapshot()
	return st
}

// Reset zeroes the counters, the recorder and the token buckets. Reports and
// access tokens are kept.
func (s *Server) Reset() {
	s.counters.reset()
	s.throttle.reset(s.cfg.Stats)
}

// Unasked lists the reports whose status nobody has asked for, oldest first. A client
// that dies between the create call and recording the id it got leaves such a report
// behind (the API offers no way to find it again); so does one that requests a report
// twice and keeps only one id.
func (s *Server) Unasked() []Created { return s.reports.unasked() }

// Report returns report id as the status endpoint would show it now, but
// with the url last issued by a status call (if any) and no file size.
func (s *Server) Report(id string) (Report, bool) {
	rep := s.reports.get(id)
	if rep == nil {
		return Report{}, false
	}
	v := rep.view(s.clock.Now())
	if u, exp := s.reports.lastURL(rep); u != "" {
		e := timestamp(exp)
		v.URL, v.URLExpiresAt = &u, &e
	}
	return v, true
}

// ReportCount returns how many reports were created.
func (s *Server) ReportCount() int { return s.reports.count() }

func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

func (s *Server) handleReset(w http.ResponseWriter, r *http.Request) {
	s.Reset()
	w.WriteHeader(http.StatusNoContent)
}
