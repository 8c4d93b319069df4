package sim_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/services/simulators/amazonads/sim"
)

func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	tests := []struct {
		name       string
		edit       func(url.Values)
		wantStatus int
		wantError  string
	}{
		{"valid", func(url.Values) {}, http.StatusOK, ""},
		{"wrong secret", func(f url.Values) { f.Set("client_secret", "nope") }, http.StatusUnauthorized, "invalid_client"},
		{"unknown client", func(f url.Values) { f.Set("client_id", "nope") }, http.StatusUnauthorized, "invalid_client"},
		{"wrong refresh token", func(f url.Values) { f.Set("refresh_token", "Atzr|nope") }, http.StatusBadRequest, "invalid_grant"},
		{"wrong grant type", func(f url.Values) { f.Set("grant_type", "password") }, http.StatusBadRequest, "unsupported_grant_type"},
		{"no grant type", func(f url.Values) { f.Del("grant_type") }, http.StatusBadRequest, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := h.tokenForm()
			tt.edit(form)
			status, body := h.tokenRequest(form)
			if status != tt.wantStatus {
				t.Fatalf("status %d %v, want %d", status, body, tt.wantStatus)
			}
			if tt.wantError != "" && body["error"] != tt.wantError {
				t.Errorf("error %v, want %s", body["error"], tt.wantError)
			}
			if tt.wantError == "" {
				if !strings.HasPrefix(body["access_token"].(string), "Atza|") || body["token_type"] != "bearer" ||
					body["expires_in"] != float64(3600) {
					t.Errorf("token response %v", body)
				}
			}
		})
	}
}

func TestAPIAuthorization(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	good := h.token
	tests := []struct {
		name       string
		clientID   string
		auth       string
		wantStatus int
		wantDetail string
	}{
		{"valid", h.cred.ClientID, "Bearer " + good, http.StatusOK, ""},
		{"lower-case scheme", h.cred.ClientID, "bearer " + good, http.StatusOK, ""},
		{"no client id", "", "Bearer " + good, http.StatusUnauthorized, "ClientId"},
		{"unknown client id", "other", "Bearer " + good, http.StatusUnauthorized, "ClientId"},
		{"no token", h.cred.ClientID, "", http.StatusUnauthorized, "Authorization"},
		{"bad token", h.cred.ClientID, "Bearer Atza|forged", http.StatusUnauthorized, "invalid access token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, h.ts.URL+"/v2/profiles", nil)
			if tt.clientID != "" {
				req.Header.Set(sim.HeaderClientID, tt.clientID)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, body := h.do(req)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(string(body), tt.wantDetail) {
				t.Errorf("got %d %s, want %d mentioning %q", resp.StatusCode, body, tt.wantStatus, tt.wantDetail)
			}
		})
	}
	if n := h.srv.Stats().Count(sim.ClassProfiles, http.StatusUnauthorized); n != 4 {
		t.Errorf("counted %d profile 401s, want 4", n)
	}
}

func TestTokenExpiryAndRefresh(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	if resp, _ := h.call(http.MethodGet, "/v2/profiles", 0, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("fresh token: %d", resp.StatusCode)
	}
	h.clock.Advance(59 * time.Minute)
	if resp, _ := h.call(http.MethodGet, "/v2/profiles", 0, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("token at 59 min: %d", resp.StatusCode)
	}
	h.clock.Advance(time.Minute)
	resp, body := h.call(http.MethodGet, "/v2/profiles", 0, "")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "expired") {
		t.Fatalf("token at 60 min: %d %s, want 401 expired", resp.StatusCode, body)
	}
	h.token = h.fetchToken()
	if resp, _ := h.call(http.MethodGet, "/v2/profiles", 0, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("refreshed token: %d", resp.StatusCode)
	}
	if st := h.srv.Stats(); st.TokensIssued != 2 || st.Unauthorized != 1 {
		t.Errorf("stats: %d tokens, %d unauthorized; want 2 and 1", st.TokensIssued, st.Unauthorized)
	}
}
