package amazonads

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Secrets are read from the environment (Deps.Getenv), never from the config file.
const (
	EnvClientID     = "SLUICE_AMAZONADS_CLIENT_ID"
	EnvClientSecret = "SLUICE_AMAZONADS_CLIENT_SECRET"
	EnvRefreshToken = "SLUICE_AMAZONADS_REFRESH_TOKEN"
)

// tokenEarly renews an access token this long before it expires, so that calls rarely
// meet a 401.
const tokenEarly = time.Minute

// lwa is the Login with Amazon authorizer: it exchanges the refresh token for an access
// token, shares it between all requests of the replica and renews it once when it
// expires or a call is answered 401 (apiclient makes the refresh single-flight). Only
// requests to the API host carry credentials: pre-signed download urls must not.
type lwa struct {
	tokenURL, clientID, secret, refresh string
	apiHost                             string
	http                                *http.Client

	mu      sync.Mutex // held while a token is fetched: one fetch at a time
	token   string
	ttl     time.Duration
	expires time.Time
}

func newLWA(cfg *Config, getenv func(string) string, tokens *http.Client) (*lwa, error) {
	l := &lwa{
		tokenURL: cfg.TokenURL, clientID: getenv(EnvClientID), secret: getenv(EnvClientSecret),
		refresh: getenv(EnvRefreshToken), http: tokens,
	}
	var missing []string
	for name, v := range map[string]string{EnvClientID: l.clientID, EnvClientSecret: l.secret, EnvRefreshToken: l.refresh} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("amazonads: credentials missing from the environment: %s", strings.Join(missing, ", "))
	}
	u, err := url.Parse(cfg.APIURL)
	if err != nil {
		return nil, fmt.Errorf("amazonads: api_url: %w", err)
	}
	l.apiHost = u.Host
	return l, nil
}

// Authorize sets the client id and bearer token on API requests, fetching a token first
// when there is none or it is about to expire.
func (l *lwa) Authorize(ctx context.Context, req *http.Request) error {
	if req.URL.Host != l.apiHost {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.token == "" || time.Until(l.expires) < min(tokenEarly, l.ttl/4) {
		if err := l.fetch(ctx); err != nil {
			return err
		}
	}
	req.Header.Set("Amazon-Advertising-API-ClientId", l.clientID)
	req.Header.Set("Authorization", "Bearer "+l.token)
	return nil
}

// Refresh fetches a new access token after a 401.
func (l *lwa) Refresh(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fetch(ctx)
}

type tokenAnswer struct {
	AccessToken      string `json:"access_token"`
	ExpiresIn        int64  `json:"expires_in"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// fetch exchanges the refresh token; l.mu is held. Throttling and server errors are
// retried a few times (the governed client has told the governor already).
func (l *lwa) fetch(ctx context.Context) error {
	form := url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {l.refresh},
		"client_id": {l.clientID}, "client_secret": {l.secret},
	}.Encode()
	wait := 500 * time.Millisecond
	var last error
	for attempt := 1; attempt <= 6; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.tokenURL, strings.NewReader(form))
		if err != nil {
			return fmt.Errorf("token request: %w", err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := l.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("token request: %w", ctx.Err())
			}
			last = fmt.Errorf("token request: %w", err)
		} else {
			var a tokenAnswer
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			switch {
			case rerr != nil:
				last = fmt.Errorf("token response: %w", rerr)
			case resp.StatusCode == http.StatusOK:
				if err := json.Unmarshal(body, &a); err != nil || a.AccessToken == "" {
					return fmt.Errorf("token response: no access_token in %.200s", body)
				}
				l.token = a.AccessToken
				l.ttl = time.Duration(max(a.ExpiresIn, 1)) * time.Second
				l.expires = time.Now().Add(l.ttl)
				return nil
			case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
				last = fmt.Errorf("token endpoint: %s", resp.Status)
				if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
					wait = max(wait, time.Duration(s)*time.Second)
				}
			default:
				_ = json.Unmarshal(body, &a)
				return fmt.Errorf("%w: token endpoint: %s: %s %s", errCredentials, resp.Status, a.Error, a.ErrorDescription)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("token request: %w (last: %w)", ctx.Err(), last)
		}
		wait = min(2*wait, 30*time.Second)
	}
	return last
}

// errCredentials marks credentials the token endpoint refuses: retrying cannot help.
var errCredentials = errors.New("credentials refused")
