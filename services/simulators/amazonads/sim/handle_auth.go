package sim

import (
	"errors"
	"net/http"
	"time"
)

// tokenResponse is the Login with Amazon token response.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
}

// handleToken is POST /auth/o2/token, the Login with Amazon refresh-token
// grant. Client credentials come from the form or HTTP Basic auth.
// expires_in is whole seconds rounded up (at least 1), so a TokenTTL below
// a second expires before a client that trusts expires_in expects: it must
// then handle the 401.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": err.Error()})
		return
	}
	clientID, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if user, pass, ok := r.BasicAuth(); ok && clientID == "" {
		clientID, secret = user, pass
	}
	if v := s.throttle.admit(ClassToken, clientID, 0, s.clock.Now()); !v.admitted {
		s.tooManyRequests(w, v)
		return
	}
	w, ok := s.inject(w, r, ClassToken)
	if !ok {
		return
	}
	refresh := r.PostForm.Get("refresh_token")
	token, err := s.auth.exchange(r.PostForm.Get("grant_type"), refresh, clientID, secret, s.clock.Now())
	if err != nil {
		var te *tokenError
		if !errors.As(err, &te) {
			te = &tokenError{http.StatusInternalServerError, "server_error", err.Error()}
		}
		writeJSON(w, te.status, map[string]string{"error": te.code, "error_description": te.description})
		return
	}
	s.counters.add(&s.counters.tokensIssued)
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken:  token,
		RefreshToken: refresh,
		TokenType:    "bearer",
		ExpiresIn:    int64(max((s.cfg.Auth.TokenTTL+time.Second-1)/time.Second, 1)),
	})
}
