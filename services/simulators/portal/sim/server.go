package sim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SessionCookie is the name of the portals' session cookie.
const SessionCookie = "portal_session"

// Server is the simulator: an http.Handler for every portal, routed by Host.
type Server struct {
	cfg    Config
	log    *slog.Logger
	hosts  map[string]*portalState
	mu     sync.Mutex
	nonces map[string]string // login-page nonce → host (script portal)
}

type portalState struct {
	Portal
	mu         sync.Mutex
	inFlight   int
	max        int
	requests   int64
	downloads  int64
	logins     int64
	expired    int64
	violations int64
	refused    int64
	sessions   map[string]*session
}

type session struct {
	created  time.Time
	requests int
}

// New returns a simulator for cfg.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, hosts: map[string]*portalState{}, nonces: map[string]string{}}
	for _, p := range cfg.Portals {
		s.hosts[p.Host] = &portalState{Portal: p, sessions: map[string]*session{}}
	}
	return s, nil
}

// Config returns the simulator's configuration.
func (s *Server) Config() Config { return s.cfg }

// page is a response built in full before it is sent: the request leaves the concurrency
// count before its bytes go out, so a client that waits for a response's end before
// sending the next request is never counted twice.
type page struct {
	status int
	header http.Header
	body   []byte
}

func text(status int, msg string) page {
	return page{status: status, header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, body: []byte(msg + "\n")}
}

// ServeHTTP routes by Host and counts the request against its portal's concurrency.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	ps := s.hosts[host]
	if ps == nil {
		http.Error(w, "no portal at "+host, http.StatusNotFound)
		return
	}
	pg := s.serve(ps, r)
	for k, v := range pg.header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(pg.body)))
	w.WriteHeader(pg.status)
	_, _ = w.Write(pg.body)
}

func (s *Server) serve(ps *portalState, r *http.Request) page {
	ps.mu.Lock()
	ps.requests++
	n := ps.requests
	ps.inFlight++
	if ps.inFlight > ps.max {
		ps.max = ps.inFlight
	}
	over := ps.inFlight > s.cfg.MaxConcurrent
	if over && s.cfg.Overlap == OverlapRefuse {
		ps.inFlight--
		ps.refused++
		ps.mu.Unlock()
		return text(http.StatusTooManyRequests, "too many simultaneous requests")
	}
	if over {
		ps.violations++
	}
	ps.mu.Unlock()
	defer func() {
		ps.mu.Lock()
		ps.inFlight--
		ps.mu.Unlock()
	}()
	if over {
		s.log.Error("concurrency violation", "host", ps.Host, "in_flight", s.cfg.MaxConcurrent+1)
		return text(http.StatusInternalServerError, fmt.Sprintf("more than %d simultaneous requests to %s", s.cfg.MaxConcurrent, ps.Host))
	}
	lat := s.cfg.PageLatency
	if s.cfg.SlowEvery > 0 && n%int64(s.cfg.SlowEvery) == 0 {
		lat = s.cfg.SlowLatency
	}
	if lat > 0 {
		t := time.NewTimer(lat)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return text(http.StatusServiceUnavailable, "client went away")
		}
	}
	return s.route(ps, r)
}

func (s *Server) route(ps *portalState, r *http.Request) page {
	path := r.URL.Path
	switch {
	case path == "/login" && r.Method == http.MethodGet:
		return s.loginPage(ps)
	case path == "/login" && r.Method == http.MethodPost:
		return s.formLogin(ps, r)
	case path == "/api/session" && r.Method == http.MethodPost && ps.Login == LoginScript:
		return s.scriptLogin(ps, r)
	}
	if !s.session(ps, r) {
		loc := "/login?next=" + url.QueryEscape(r.URL.RequestURI())
		return page{status: http.StatusFound, header: http.Header{"Location": {loc}}}
	}
	switch {
	case path == "/reports" && r.Method == http.MethodGet:
		return s.listing(ps, r)
	case strings.HasPrefix(path, "/reports/") && strings.HasSuffix(path, "/download") && r.Method == http.MethodGet:
		return s.download(ps, strings.TrimSuffix(strings.TrimPrefix(path, "/reports/"), "/download"))
	}
	return text(http.StatusNotFound, "no page "+path)
}

// session reports whether r carries a live session of ps, counting the request against it.
func (s *Server) session(ps *portalState, r *http.Request) bool {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return false
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ss := ps.sessions[c.Value]
	if ss == nil {
		return false
	}
	ss.requests++
	if (s.cfg.SessionTTL > 0 && time.Since(ss.created) > s.cfg.SessionTTL) ||
		(s.cfg.SessionMaxRequests > 0 && ss.requests > s.cfg.SessionMaxRequests) {
		delete(ps.sessions, c.Value)
		ps.expired++
		return false
	}
	return true
}

func (s *Server) newSession(ps *portalState) string {
	token := randomToken()
	ps.mu.Lock()
	ps.sessions[token] = &session{created: time.Now()}
	ps.logins++
	ps.mu.Unlock()
	return token
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) formLogin(ps *portalState, r *http.Request) page {
	if ps.Login != LoginForm {
		return text(http.StatusBadRequest, "this portal signs in with JavaScript; enable it in your browser")
	}
	if err := r.ParseForm(); err != nil {
		return text(http.StatusBadRequest, "bad form: "+err.Error())
	}
	if r.PostForm.Get("username") != ps.User || r.PostForm.Get("password") != ps.Password {
		return text(http.StatusUnauthorized, "wrong username or password")
	}
	token := s.newSession(ps)
	h := http.Header{"Content-Type": {"text/html; charset=utf-8"}}
	h.Add("Set-Cookie", (&http.Cookie{Name: SessionCookie, Value: token, Path: "/", HttpOnly: true}).String())
	return page{status: http.StatusOK, header: h, body: []byte("<html><body><p id=\"welcome\">Signed in.</p></body></html>\n")}
}

// scriptLogin answers the login page's script: it proves it ran by reversing the page's
// nonce, and gets a token that it stores as the session cookie itself.
func (s *Server) scriptLogin(ps *portalState, r *http.Request) page {
	var in struct{ Username, Password, Nonce, Proof string }
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 4096)).Decode(&in); err != nil {
		return text(http.StatusBadRequest, "bad request: "+err.Error())
	}
	s.mu.Lock()
	host, ok := s.nonces[in.Nonce]
	delete(s.nonces, in.Nonce)
	s.mu.Unlock()
	if !ok || host != ps.Host || in.Proof != reverse(in.Nonce) {
		return text(http.StatusForbidden, "stale or forged login page")
	}
	if in.Username != ps.User || in.Password != ps.Password {
		return text(http.StatusUnauthorized, "wrong username or password")
	}
	b, _ := json.Marshal(map[string]string{"token": s.newSession(ps)})
	return page{status: http.StatusOK, header: http.Header{"Content-Type": {"application/json"}}, body: b}
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// listingPage is one page of a report listing.
type listingPage struct {
	Reports []Report `json:"reports"`
	// Next is the path of the next page, empty on the last.
	Next string `json:"next"`
}

func (s *Server) listing(ps *portalState, r *http.Request) page {
	q := r.URL.Query()
	from, err1 := time.Parse(day, q.Get("from"))
	to, err2 := time.Parse(day, q.Get("to"))
	if err1 != nil || err2 != nil || to.Before(from) || to.Sub(from) > 62*24*time.Hour {
		return text(http.StatusBadRequest, "from and to must be dates (YYYY-MM-DD), from ≤ to, at most 62 days apart")
	}
	pageNo := 1
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return text(http.StatusBadRequest, "page must be a positive integer")
		}
		pageNo = n
	}
	var all []Report
	for _, d := range days(from, to) {
		all = append(all, reportsOn(ps.Portal, d)...)
	}
	size := s.cfg.ListPageSize
	lo := min((pageNo-1)*size, len(all))
	hi := min(lo+size, len(all))
	out := listingPage{Reports: all[lo:hi]}
	if hi < len(all) {
		q.Set("page", strconv.Itoa(pageNo+1))
		out.Next = "/reports?" + q.Encode()
	}
	b, _ := json.Marshal(out)
	return page{status: http.StatusOK, header: http.Header{"Content-Type": {"application/json"}}, body: b}
}

func (s *Server) download(ps *portalState, id string) page {
	r, ok := s.report(ps.Portal, id)
	if !ok {
		return text(http.StatusNotFound, "no report "+id)
	}
	body, ctype := s.render(r)
	ps.mu.Lock()
	ps.downloads++
	ps.mu.Unlock()
	return page{status: http.StatusOK, header: http.Header{"Content-Type": {ctype}}, body: body}
}

// report parses a report id: <kind>-<account>-<yyyymmdd>.
func (s *Server) report(p Portal, id string) (Report, bool) {
	kind, rest, ok := strings.Cut(id, "-")
	if !ok || len(rest) < 10 {
		return Report{}, false
	}
	acct, date := rest[:len(rest)-9], rest[len(rest)-8:]
	d, err := time.Parse("20060102", date)
	if err != nil || rest[len(rest)-9] != '-' {
		return Report{}, false
	}
	for _, r := range reportsOn(p, d.Format(day)) {
		if r.ID == id && r.Kind == kind && r.Account == acct {
			return r, true
		}
	}
	return Report{}, false
}
