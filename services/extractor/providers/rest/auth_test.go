package rest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/services/extractor/provider"
)

func triggerWith(params map[string]string) provider.Trigger {
	return provider.Trigger{From: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), Params: params}
}

func TestAuthorizeSetsTheCredentialsOfTheCallsKey(t *testing.T) {
	t.Parallel()
	env := map[string]string{"KEYS": "k-one, k-two\n", "TOKEN": "tok"}
	getenv := func(k string) string { return env[k] }
	secretFile := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(secretFile, []byte("f-one\nf-two\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		auth  Auth
		key   int
		check func(r *http.Request) string
		want  string
	}{
		{"api key in a header, key 0", Auth{Type: AuthAPIKey, Name: "X-Key", Secret: &Secret{Env: "KEYS"}}, 0, func(r *http.Request) string { return r.Header.Get("X-Key") }, "k-one"},
		{"api key in a header, key 1", Auth{Type: AuthAPIKey, Name: "X-Key", Secret: &Secret{Env: "KEYS"}}, 1, func(r *http.Request) string { return r.Header.Get("X-Key") }, "k-two"},
		{"api key in the query", Auth{Type: AuthAPIKey, In: "query", Name: "apikey", Secret: &Secret{Env: "KEYS"}}, 1, func(r *http.Request) string { return r.URL.Query().Get("apikey") + "&" + r.URL.Query().Get("q") }, "k-two&1"},
		{"bearer", Auth{Type: AuthBearer, Secret: &Secret{Env: "TOKEN"}}, 0, func(r *http.Request) string { return r.Header.Get("Authorization") }, "Bearer tok"},
		{"keys from a file when the variable is unset", Auth{Type: AuthAPIKey, Name: "X-Key", Secret: &Secret{Env: "UNSET", File: secretFile}}, 1, func(r *http.Request) string { return r.Header.Get("X-Key") }, "f-two"},
	}
	for _, c := range cases {
		z, err := newAuthorizer(c.auth, getenv, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		req, _ := http.NewRequest(http.MethodGet, "https://api.test/x?q=1", nil)
		if err := z.Authorize(withKey(context.Background(), c.key), req); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := c.check(req); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestAuthorizerRefusesMissingSecrets(t *testing.T) {
	t.Parallel()
	getenv := func(string) string { return "" }
	for _, a := range []Auth{
		{Type: AuthAPIKey, Name: "X", Secret: &Secret{Env: "NOPE"}},
		{Type: AuthBearer, Secret: &Secret{File: "/nonexistent/secret"}},
		{Type: AuthClientCredentials, TokenURL: "https://t.test", ClientID: &Secret{Env: "NOPE"}, ClientSecret: &Secret{Env: "NOPE2"}},
	} {
		_, err := newAuthorizer(a, getenv, nil)
		if err == nil || !strings.Contains(err.Error(), "auth.") {
			t.Errorf("%s: error %v, want one naming the auth field", a.Type, err)
		}
	}
}

// fakeTokenServer is an OAuth2 token endpoint for both grants; it counts tokens issued.
func fakeTokenServer(t *testing.T, issued *atomic.Int64) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		f := r.PostForm
		ok := f.Get("client_id") == "cid" && f.Get("client_secret") == "csecret" &&
			((f.Get("grant_type") == "client_credentials" && f.Get("scope") == "read write") ||
				(f.Get("grant_type") == "refresh_token" && strings.HasPrefix(f.Get("refresh_token"), "rt")))
		if !ok {
			http.Error(w, `{"error":"invalid_grant"}`, 400)
			return
		}
		n := issued.Add(1)
		resp := map[string]any{"access_token": "at-" + f.Get("grant_type") + "-" + string(rune('0'+n)), "expires_in": 3600}
		if f.Get("grant_type") == "refresh_token" {
			resp["refresh_token"] = "rt-rotated"
		}
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func TestOAuth2Flows(t *testing.T) {
	t.Parallel()
	env := map[string]string{"CID": "cid", "CSECRET": "csecret", "RT": "rt-initial"}
	getenv := func(k string) string { return env[k] }
	for _, c := range []struct {
		name string
		auth Auth
		want string
	}{
		{"client credentials", Auth{Type: AuthClientCredentials, ClientID: &Secret{Env: "CID"}, ClientSecret: &Secret{Env: "CSECRET"}, Scopes: []string{"read", "write"}}, "Bearer at-client_credentials-"},
		{"refresh token", Auth{Type: AuthRefreshToken, ClientID: &Secret{Env: "CID"}, ClientSecret: &Secret{Env: "CSECRET"}, RefreshToken: &Secret{Env: "RT"}}, "Bearer at-refresh_token-"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var issued atomic.Int64
			ts := fakeTokenServer(t, &issued)
			c.auth.TokenURL = ts.URL
			z, err := newAuthorizer(c.auth, getenv, ts.Client())
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				req, _ := http.NewRequest(http.MethodGet, "https://api.test/x", nil)
				if err := z.Authorize(context.Background(), req); err != nil {
					t.Fatal(err)
				}
				if got := req.Header.Get("Authorization"); got != c.want+"1" {
					t.Fatalf("Authorization %q, want %q1 (the cached token)", got, c.want)
				}
			}
			// A 401: the next call carries a new token.
			if err := z.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodGet, "https://api.test/x", nil)
			if err := z.Authorize(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			if got := req.Header.Get("Authorization"); got != c.want+"2" {
				t.Errorf("after refresh: %q, want %q2", got, c.want)
			}
			if issued.Load() != 2 {
				t.Errorf("%d tokens fetched, want 2", issued.Load())
			}
			if c.auth.Type == AuthRefreshToken && z.oauth.refreshToken != "rt-rotated" {
				t.Errorf("rotated refresh token not kept: %q", z.oauth.refreshToken)
			}
		})
	}
}

func TestStaticKeysCannotBeRefreshed(t *testing.T) {
	t.Parallel()
	z, err := newAuthorizer(Auth{Type: AuthAPIKey, Name: "X", Secret: &Secret{Env: "K"}}, func(string) string { return "k" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := z.Refresh(context.Background()); err == nil {
		t.Error("a 401 with a static key was retried as if refreshable")
	}
}

func TestQueryKeyIsNotSavedInNextLinks(t *testing.T) {
	t.Parallel()
	p := &restProvider{api: &API{Manifest: &Manifest{Auth: Auth{Type: AuthAPIKey, In: "query", Name: "apikey"}}}}
	got := p.withoutQueryKey("https://api.test/items?apikey=secret&page=2")
	if strings.Contains(got, "secret") || !strings.Contains(got, "page=2") {
		t.Errorf("next link saved as %q", got)
	}
	p.api.Manifest.Auth.In = "header"
	if got := p.withoutQueryKey("https://api.test/items?apikey=x"); got != "https://api.test/items?apikey=x" {
		t.Errorf("link changed without a query key: %q", got)
	}
}
