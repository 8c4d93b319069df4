package sim

import (
	"crypto/rand"
	"errors"
	"sync"
	"time"
)

// tokenError is a Login with Amazon error response.
type tokenError struct {
	status      int
	code        string
	description string
}

func (e *tokenError) Error() string { return e.code + ": " + e.description }

// Authorization failures of API calls (HTTP 401).
var (
	errNoClientID     = errors.New("missing Amazon-Advertising-API-ClientId header")
	errUnknownClient  = errors.New("unknown Amazon-Advertising-API-ClientId")
	errNoToken        = errors.New("missing or malformed Authorization: Bearer header")
	errInvalidToken   = errors.New("invalid access token")
	errExpiredToken   = errors.New("access token has expired")
	errClientMismatch = errors.New("access token was issued to another client id")
)

// grant is an issued access token.
type grant struct {
	clientID string
	expires  time.Time
}

// authStore issues and checks access tokens.
type authStore struct {
	clients []Credentials
	ttl     time.Duration

	mu     sync.Mutex
	tokens map[string]grant
}

func newAuthStore(cfg AuthConfig) *authStore {
	return &authStore{clients: cfg.Clients, ttl: cfg.TokenTTL, tokens: make(map[string]grant)}
}

// exchange performs the refresh-token grant.
func (a *authStore) exchange(grantType, refreshToken, clientID, clientSecret string, now time.Time) (string, error) {
	if grantType != "refresh_token" {
		if grantType == "" {
			return "", &tokenError{400, "invalid_request", "The request is missing a required parameter : grant_type"}
		}
		return "", &tokenError{400, "unsupported_grant_type", "The authorization grant type is not supported"}
	}
	if refreshToken == "" || clientID == "" {
		return "", &tokenError{400, "invalid_request", "The request is missing a required parameter : refresh_token or client_id"}
	}
	var cred *Credentials
	for i := range a.clients {
		if a.clients[i].ClientID == clientID {
			cred = &a.clients[i]
		}
	}
	if cred == nil || cred.ClientSecret != clientSecret {
		return "", &tokenError{401, "invalid_client", "Client authentication failed"}
	}
	if cred.RefreshToken != refreshToken {
		return "", &tokenError{400, "invalid_grant", "The request has an invalid grant parameter : refresh_token"}
	}
	token := "Atza|" + rand.Text() + rand.Text()
	a.mu.Lock()
	defer a.mu.Unlock()
	for t, g := range a.tokens { // keep the map small in long runs
		if !now.Before(g.expires) {
			delete(a.tokens, t)
		}
	}
	a.tokens[token] = grant{clientID: clientID, expires: now.Add(a.ttl)}
	return token, nil
}

// authorize checks an API call's client id and bearer token.
func (a *authStore) authorize(clientID, token string, now time.Time) error {
	if clientID == "" {
		return errNoClientID
	}
	known := false
	for _, c := range a.clients {
		known = known || c.ClientID == clientID
	}
	if !known {
		return errUnknownClient
	}
	if token == "" {
		return errNoToken
	}
	a.mu.Lock()
	g, ok := a.tokens[token]
	a.mu.Unlock()
	switch {
	case !ok:
		return errInvalidToken
	case !now.Before(g.expires):
		return errExpiredToken
	case g.clientID != clientID:
		return errClientMismatch
	}
	return nil
}
