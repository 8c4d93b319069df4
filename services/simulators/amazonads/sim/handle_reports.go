package sim

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"time"
)

// maxCreateBody bounds the create request body.
const maxCreateBody = 1 << 20

// handleCreate is POST /reporting/reports.
func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	w, c, ok := s.guard(w, r, ClassCreate, true)
	if !ok {
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != CreateReportContentType {
		apiError(w, http.StatusUnsupportedMediaType,
			fmt.Sprintf("Content-Type %q is not supported; use %s", r.Header.Get("Content-Type"), CreateReportContentType))
		return
	}
	if !c.profile.Reportable() {
		apiError(w, http.StatusBadRequest, fmt.Sprintf(
			"profile %d is an agency profile; reports can only be requested for advertiser profiles", c.profile.ProfileID))
		return
	}
	now := s.clock.Now()
	req, err := parseCreate(http.MaxBytesReader(w, r.Body, maxCreateBody), c.profile, s.zones[c.profile.ProfileID], s.cfg.Data, now)
	if err != nil {
		var re *requestError
		if errors.As(err, &re) {
			apiError(w, http.StatusBadRequest, re.msg)
		} else {
			apiError(w, http.StatusBadRequest, err.Error()) // unreadable or oversized body
		}
		return
	}
	rep, dup := s.reports.create(c.profile, req, now)
	if dup != nil {
		apiError(w, http.StatusTooEarly, "The Request is a duplicate of : "+dup.id)
		return
	}
	s.counters.add(&s.counters.reportsCreated)
	s.log.Debug("report created", "reportId", rep.id, "profileId", c.profile.ProfileID,
		"ready", rep.doneAt.Sub(now), "failed", rep.failed)
	writeJSON(w, http.StatusOK, rep.view(now))
}

// handleStatus is GET /reporting/reports/{reportId}. A COMPLETED report
// carries a pre-signed url, reissued once it has expired.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	w, c, ok := s.guard(w, r, ClassStatus, true)
	if !ok {
		return
	}
	id := r.PathValue("reportId")
	rep := s.reports.get(id)
	if rep == nil || rep.profile.ProfileID != c.profile.ProfileID {
		apiError(w, http.StatusNotFound, fmt.Sprintf("Report %s not found for profile %d", id, c.profile.ProfileID))
		return
	}
	s.reports.markAsked(rep)
	now := s.clock.Now()
	v := rep.view(now)
	if v.Status == StatusCompleted {
		size, err := s.fileSize(r.Context(), rep)
		if err != nil {
			apiError(w, http.StatusInternalServerError, "Internal Server Error")
			s.log.Warn("report file size", "reportId", id, "err", err)
			return
		}
		base := s.baseURL(r)
		u, exp := s.reports.currentURL(rep, now, func(expires time.Time) string {
			return s.downloadURL(base, rep.id, expires)
		})
		expStr := timestamp(exp)
		v.URL, v.URLExpiresAt, v.FileSize = &u, &expStr, &size
	}
	writeJSON(w, http.StatusOK, v)
}

// baseURL is Config.PublicURL, or the scheme and host the client used.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
