package sim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Request headers of the advertising API.
const (
	HeaderClientID = "Amazon-Advertising-API-ClientId"
	HeaderScope    = "Amazon-Advertising-API-Scope"
)

// caller is an authorized API caller.
type caller struct {
	clientID string
	profile  Profile // zero for calls without a profile scope
}

// guard runs the checks every API call passes, in this order: client id and
// bearer token (401), profile scope when scoped (400 when missing or not a
// number, 401 when not a profile of this account), throttling (429) and
// fault injection (5xx, hang then 504, slow body). It returns the writer to
// answer with, or ok=false when it has already answered.
func (s *Server) guard(w http.ResponseWriter, r *http.Request, class string, scoped bool) (http.ResponseWriter, caller, bool) {
	now := s.clock.Now()
	c := caller{clientID: r.Header.Get(HeaderClientID)}
	token := bearerToken(r.Header.Get("Authorization"))
	if err := s.auth.authorize(c.clientID, token, now); err != nil {
		apiError(w, http.StatusUnauthorized, err.Error())
		return nil, c, false
	}
	if scoped {
		scope := r.Header.Get(HeaderScope)
		if scope == "" {
			apiError(w, http.StatusBadRequest, "missing "+HeaderScope+" header")
			return nil, c, false
		}
		id, err := strconv.ParseInt(scope, 10, 64)
		if err != nil {
			apiError(w, http.StatusBadRequest, fmt.Sprintf("%s %q is not a profile id", HeaderScope, scope))
			return nil, c, false
		}
		p, ok := s.byID[id]
		if !ok {
			apiError(w, http.StatusUnauthorized, fmt.Sprintf("Not authorized to access scope %d", id))
			return nil, c, false
		}
		c.profile = p
	}
	if v := s.throttle.admit(class, c.clientID, c.profile.ProfileID, now); !v.admitted {
		s.tooManyRequests(w, v)
		return nil, c, false
	}
	w, ok := s.inject(w, r, class)
	return w, c, ok
}

func bearerToken(h string) string {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// tooManyRequests answers 429, with Retry-After unless the verdict omits it.
func (s *Server) tooManyRequests(w http.ResponseWriter, v verdict) {
	if v.omitRetryAfter {
		s.counters.add(&s.counters.noRetryAfter)
	} else {
		w.Header().Set("Retry-After", retryAfterValue(v.retryAfter, s.cfg.Throttle.FractionalRetryAfter))
	}
	apiError(w, http.StatusTooManyRequests, "Too Many Requests")
}

// inject applies a request-level fault of class. A server error or a
// timeout answers (ok=false); a slow body returns a trickling writer.
func (s *Server) inject(w http.ResponseWriter, r *http.Request, class string) (http.ResponseWriter, bool) {
	f, status := s.faults.request(class)
	switch f {
	case faultServerError:
		s.counters.fault(FaultServerError)
		apiError(w, status, http.StatusText(status))
		return nil, false
	case faultTimeout:
		s.counters.fault(FaultTimeout)
		// Whether the delay ran out, the client gave up or the server
		// closes, the answer is a gateway timeout (unread if the client left).
		_ = s.sleep(r.Context(), s.cfg.Faults.TimeoutAfter)
		apiError(w, http.StatusGatewayTimeout, "Gateway Timeout")
		return nil, false
	case faultSlowBody:
		s.counters.fault(FaultSlowBody)
		return &trickleWriter{ResponseWriter: w, ctx: r.Context(), sleep: s.sleep,
			chunk: s.cfg.Faults.SlowChunkBytes, every: s.cfg.Faults.SlowChunkInterval}, true
	}
	return w, true
}
