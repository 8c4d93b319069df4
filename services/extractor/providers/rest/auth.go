package rest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// readSecret reads s: its environment variable when set, else its file.
func readSecret(s *Secret, getenv func(string) string) (string, error) {
	if s == nil {
		return "", errors.New("no secret named")
	}
	if s.Env != "" {
		if v := strings.TrimSpace(getenv(s.Env)); v != "" {
			return v, nil
		}
	}
	if s.File != "" {
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("secret file: %w", err)
		}
		if v := strings.TrimSpace(string(b)); v != "" {
			return v, nil
		}
		return "", fmt.Errorf("secret file %s is empty", s.File)
	}
	return "", fmt.Errorf("secret (%s) is not set", s)
}

// splitKeys splits a secret holding several keys (commas or newlines).
func splitKeys(v string) []string {
	var out []string
	for _, k := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}

// keyID names an API key in the governor's per-key state without revealing it.
func keyID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "k" + hex.EncodeToString(sum[:6])
}

// keyCtx carries the index of the key a call uses, from the caller to Authorize.
type keyCtx struct{}

func withKey(ctx context.Context, i int) context.Context { return context.WithValue(ctx, keyCtx{}, i) }

func keyOf(ctx context.Context) int {
	i, _ := ctx.Value(keyCtx{}).(int)
	return i
}

// authorizer sets the credentials of a call: the API key or bearer token of the call's
// key index, or an OAuth2 access token.
type authorizer struct {
	auth  Auth
	keys  []string // api_key, bearer
	oauth *oauth
}

// newAuthorizer reads a's secrets. tokens is the governed client for the token endpoint.
func newAuthorizer(a Auth, getenv func(string) string, tokens *http.Client) (*authorizer, error) {
	z := &authorizer{auth: a}
	switch a.Type {
	case AuthAPIKey, AuthBearer:
		v, err := readSecret(a.Secret, getenv)
		if err != nil {
			return nil, fmt.Errorf("auth.secret: %w", err)
		}
		z.keys = splitKeys(v)
		if len(z.keys) == 0 {
			return nil, fmt.Errorf("auth.secret (%s): no key in it", a.Secret)
		}
	case AuthClientCredentials, AuthRefreshToken:
		o := &oauth{tokenURL: a.TokenURL, scopes: a.Scopes, client: tokens}
		var err error
		if o.clientID, err = readSecret(a.ClientID, getenv); err != nil {
			return nil, fmt.Errorf("auth.client_id: %w", err)
		}
		if a.ClientSecret != nil || a.Type == AuthClientCredentials {
			if o.clientSecret, err = readSecret(a.ClientSecret, getenv); err != nil {
				return nil, fmt.Errorf("auth.client_secret: %w", err)
			}
		}
		if a.Type == AuthRefreshToken {
			if o.refreshToken, err = readSecret(a.RefreshToken, getenv); err != nil {
				return nil, fmt.Errorf("auth.refresh_token: %w", err)
			}
		}
		z.oauth = o
		z.keys = []string{o.clientID}
	default:
		z.keys = []string{""}
	}
	return z, nil
}

// Authorize implements apiclient.Authorizer.
func (z *authorizer) Authorize(ctx context.Context, req *http.Request) error {
	key := z.keys[keyOf(ctx)%len(z.keys)]
	switch z.auth.Type {
	case AuthAPIKey:
		if z.auth.In == "query" {
			q := req.URL.Query()
			q.Set(z.auth.Name, key)
			req.URL.RawQuery = q.Encode()
		} else {
			req.Header.Set(z.auth.Name, key)
		}
	case AuthBearer:
		req.Header.Set("Authorization", "Bearer "+key)
	case AuthClientCredentials, AuthRefreshToken:
		tok, err := z.oauth.token(ctx)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return nil
}

// Refresh implements apiclient.Authorizer: a 401 drops the cached access token. Static
// keys cannot be renewed, so a 401 with one is final.
func (z *authorizer) Refresh(ctx context.Context) error {
	if z.oauth == nil {
		return errors.New("the API refused the key (401); static keys cannot be refreshed")
	}
	z.oauth.invalidate()
	_, err := z.oauth.token(ctx)
	return err
}

// oauth caches an OAuth2 access token and fetches a new one when it expires.
type oauth struct {
	tokenURL                             string
	scopes                               []string
	clientID, clientSecret, refreshToken string
	client                               *http.Client

	mu      sync.Mutex
	access  string
	expires time.Time
}

// expirySlack renews a token this long before it expires.
const expirySlack = 30 * time.Second

func (o *oauth) invalidate() {
	o.mu.Lock()
	o.access = ""
	o.mu.Unlock()
}

// token returns a valid access token; concurrent callers share one fetch (the lock).
func (o *oauth) token(ctx context.Context) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.access != "" && time.Now().Before(o.expires) {
		return o.access, nil
	}
	form := url.Values{}
	if o.refreshToken != "" {
		form.Set("grant_type", "refresh_token")
		form.Set("refresh_token", o.refreshToken)
	} else {
		form.Set("grant_type", "client_credentials")
	}
	form.Set("client_id", o.clientID)
	if o.clientSecret != "" {
		form.Set("client_secret", o.clientSecret)
	}
	if len(o.scopes) > 0 {
		form.Set("scope", strings.Join(o.scopes, " "))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := o.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("token endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("token endpoint: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token endpoint: %s: %.200s", resp.Status, body)
	}
	var t struct {
		AccessToken  string `json:"access_token"`
		ExpiresIn    int64  `json:"expires_in"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" {
		return "", fmt.Errorf("token endpoint: no access_token in the answer")
	}
	if t.RefreshToken != "" && o.refreshToken != "" {
		o.refreshToken = t.RefreshToken // rotated refresh tokens replace the old one
	}
	ttl := time.Duration(t.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = time.Hour
	}
	o.access, o.expires = t.AccessToken, time.Now().Add(max(ttl-expirySlack, ttl/2))
	return o.access, nil
}
