package sim

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// Report statuses.
const (
	StatusPending    = "PENDING"
	StatusProcessing = "PROCESSING"
	StatusCompleted  = "COMPLETED"
	StatusFailed     = "FAILED"
)

// failureReason is what FAILED reports say, like the real API.
const failureReason = "Report generation failed due to an internal error. Please retry."

// report is one requested report. Its progress is a function of the clock:
// PENDING until processingAt, PROCESSING until doneAt, then COMPLETED or
// FAILED. Nothing runs in the background.
type report struct {
	id           string
	profile      Profile
	req          *validRequest
	createdAt    time.Time
	processingAt time.Time
	doneAt       time.Time
	failed       bool

	// asked is set by the first status call: the client holds the report's id. Guarded
	// by reportStore.mu.
	asked bool

	// url state, guarded by reportStore.mu.
	urlExpires time.Time
	url        string

	// sizeMu guards the lazily computed file size.
	sizeMu sync.Mutex
	size   int64
	sized  bool
}

// statusAt returns the status at now and when it last changed.
func (r *report) statusAt(now time.Time) (status string, updatedAt time.Time) {
	switch {
	case now.Before(r.processingAt):
		return StatusPending, r.createdAt
	case now.Before(r.doneAt):
		return StatusProcessing, r.processingAt
	case r.failed:
		return StatusFailed, r.doneAt
	default:
		return StatusCompleted, r.doneAt
	}
}

func (r *report) finished(now time.Time) bool {
	st, _ := r.statusAt(now)
	return st == StatusCompleted || st == StatusFailed
}

// reportStore holds reports and the index for duplicate detection.
type reportStore struct {
	cfg  ReportsConfig
	seed uint64

	mu     sync.Mutex
	seq    uint64
	byID   map[string]*report
	latest map[string]*report // by validRequest.dupKey
}

func newReportStore(cfg ReportsConfig, seed uint64) *reportStore {
	return &reportStore{cfg: cfg, seed: seed, byID: make(map[string]*report), latest: make(map[string]*report)}
}

// create registers a new report for req, unless a report with identical
// parameters is still in progress: then it returns that one as dup.
func (s *reportStore) create(prof Profile, req *validRequest, now time.Time) (rep, dup *report) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev := s.latest[req.dupKey]; prev != nil && !prev.finished(now) {
		return nil, prev
	}
	s.seq++
	id := reportID(mix(s.seed, hashString("report"), s.seq))
	rep = &report{id: id, profile: prof, req: req, createdAt: now}
	s.schedule(rep)
	s.byID[id] = rep
	s.latest[req.dupKey] = rep
	return rep, nil
}

// schedule draws the report's latency and outcome from a generator seeded
// by the seed and the report id, so they do not depend on request order.
func (s *reportStore) schedule(r *report) {
	g := newStream(mix(s.seed, hashString(r.id)))
	total := time.Duration(float64(s.cfg.LatencyMedian) * math.Exp(s.cfg.LatencySigma*g.normal()))
	total = min(total, s.cfg.LatencyMax)
	pending := time.Duration(float64(total) * s.cfg.PendingShare)
	processing := total - pending
	if g.float() < s.cfg.StuckRate {
		pending += s.cfg.StuckFor
	}
	r.processingAt = r.createdAt.Add(pending)
	r.doneAt = r.processingAt.Add(processing)
	r.failed = g.float() < s.cfg.FailureRate
}

func (s *reportStore) get(id string) *report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byID[id]
}

// currentURL returns the report's download url, issuing a fresh one via
// issue when there is none or it has expired at now.
func (s *reportStore) currentURL(r *report, now time.Time, issue func(expires time.Time) string) (string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.url == "" || !now.Before(r.urlExpires) {
		r.urlExpires = now.Add(s.cfg.URLTTL)
		r.url = issue(r.urlExpires)
	}
	return r.url, r.urlExpires
}

// lastURL returns the url last issued for r, if any.
func (s *reportStore) lastURL(r *report) (string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return r.url, r.urlExpires
}

// markAsked records that a client asked for r's status.
func (s *reportStore) markAsked(r *report) {
	s.mu.Lock()
	r.asked = true
	s.mu.Unlock()
}

// unasked lists the reports nobody asked the status of, oldest first.
func (s *reportStore) unasked() []Created {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Created
	for _, r := range s.byID {
		if !r.asked {
			out = append(out, Created{ReportID: r.id, ProfileID: r.profile.ProfileID, CreatedAt: r.createdAt})
		}
	}
	slices.SortFunc(out, func(a, b Created) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out
}

// Created names a report and when it was created.
type Created struct {
	ReportID  string
	ProfileID int64
	CreatedAt time.Time
}

func (s *reportStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

// reportID formats h as a version-4 style UUID.
func reportID(h uint64) string {
	l := splitmix64(h)
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x",
		uint32(h>>32), uint16(h>>16), uint16(h)&0x0fff, uint16(l>>48)&0x3fff|0x8000, l&0xffffffffffff)
}

// Report is a report as the status endpoint returns it.
type Report struct {
	ReportID      string              `json:"reportId"`
	Name          string              `json:"name"`
	Status        string              `json:"status"`
	StartDate     string              `json:"startDate"`
	EndDate       string              `json:"endDate"`
	Configuration ReportConfiguration `json:"configuration"`
	CreatedAt     string              `json:"createdAt"`
	UpdatedAt     string              `json:"updatedAt"`
	GeneratedAt   *string             `json:"generatedAt"`
	URL           *string             `json:"url"`
	URLExpiresAt  *string             `json:"urlExpiresAt"`
	FileSize      *int64              `json:"fileSize"`
	FailureReason *string             `json:"failureReason"`
	// ProfileID is the profile the report belongs to; not part of the API.
	ProfileID int64 `json:"-"`
}

// timestampLayout is the API's timestamp format (UTC, milliseconds).
const timestampLayout = "2006-01-02T15:04:05.000Z"

func timestamp(t time.Time) string { return t.UTC().Format(timestampLayout) }

// view renders r at now without url or file size.
func (r *report) view(now time.Time) Report {
	status, updated := r.statusAt(now)
	v := Report{
		ReportID:      r.id,
		Name:          r.req.name,
		Status:        status,
		StartDate:     r.req.start.String(),
		EndDate:       r.req.end.String(),
		Configuration: r.req.conf,
		CreatedAt:     timestamp(r.createdAt),
		UpdatedAt:     timestamp(updated),
		ProfileID:     r.profile.ProfileID,
	}
	switch status {
	case StatusCompleted:
		generated := timestamp(r.doneAt)
		v.GeneratedAt = &generated
	case StatusFailed:
		reason := failureReason
		v.FailureReason = &reason
	}
	return v
}
