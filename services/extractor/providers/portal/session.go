package portal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/sluice-dev/sluice/internal/apiclient"
)

// loginPath is where portals sign in and where they send a request whose session
// expired (a redirect: portals do not answer 401).
const loginPath = "/login"

// maxRelogins bounds the logins one request may cause: a session that expires at once
// every time is a broken portal, not a reason to loop. Only sessions that never served a
// request count: when the tasks of a replica share a short session, a request can find it
// used up by the others again and again while the portal works fine.
const maxRelogins = 3

// maxAttempts bounds a request's tries whatever the reason, as a last resort.
const maxAttempts = 16 * (maxRelogins + 1)

// errLoggedOut is a response that landed on the login page: the session expired.
var errLoggedOut = errors.New("session expired: redirected to the login page")

// session is the signed-in state of one portal, shared by every task of this replica.
// Logins are single-flight: the first caller that finds no cookies signs in while the
// others wait, and an expiry reported for an older generation is ignored.
type session struct {
	portal  Portal
	base    *url.URL
	client  *apiclient.Client
	getenv  func(string) string
	browser *browser

	mu      sync.Mutex
	cookies []*http.Cookie
	gen     int
	logins  int
	// servedGen is the newest generation that served a request (not redirected).
	servedGen int
}

func newSession(p Portal, client *apiclient.Client, getenv func(string) string, b *browser) *session {
	u, _ := url.Parse(p.URL) // validated
	return &session{portal: p, base: u, client: client, getenv: getenv, browser: b}
}

// current returns the session's cookies, signing in first when there are none.
func (s *session) current(ctx context.Context) ([]*http.Cookie, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cookies == nil {
		password := s.getenv(s.portal.PasswordEnv)
		if password == "" {
			return nil, 0, fmt.Errorf("%w: portal %s: %s is not set", errPermanent, s.base.Host, s.portal.PasswordEnv)
		}
		var (
			cookies []*http.Cookie
			err     error
		)
		if s.portal.login() == LoginBrowser {
			cookies, err = s.browser.login(ctx, s.client, s.base, s.portal.User, password)
		} else {
			cookies, err = s.formLogin(ctx, password)
		}
		if err != nil {
			return nil, 0, fmt.Errorf("log in to %s: %w", s.base.Host, err)
		}
		s.cookies, s.logins = cookies, s.logins+1
		s.gen++
	}
	return s.cookies, s.gen, nil
}

// expire drops the cookies of generation gen, so the next caller signs in again, and
// reports whether that generation served any request before it expired.
func (s *session) expire(gen int) (served bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen == gen {
		s.cookies = nil
	}
	return s.servedGen >= gen
}

// formLogin posts the login form and keeps the cookies the answer sets.
func (s *session) formLogin(ctx context.Context, password string) ([]*http.Cookie, error) {
	form := url.Values{"username": {s.portal.User}, "password": {password}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base.JoinPath(loginPath).String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.client.Do(ctx, req)
	if err != nil {
		return nil, loginError(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	cookies := resp.Cookies()
	if len(cookies) == 0 {
		return nil, fmt.Errorf("%w: the login answered %s without a session cookie", errPermanent, resp.Status)
	}
	return cookies, nil
}

// loginError makes refused credentials permanent: retrying the same password only risks
// locking the account.
func loginError(err error) error {
	var se *apiclient.StatusError
	if errors.As(err, &se) && (se.StatusCode == http.StatusUnauthorized || se.StatusCode == http.StatusForbidden) {
		return fmt.Errorf("%w: credentials refused: %w", errPermanent, err)
	}
	return err
}

// get sends a GET of path (relative to the portal, query included) with the session,
// signing in again when the portal says the session expired. The caller closes the body.
func (s *session) get(ctx context.Context, path string) (*http.Response, error) {
	target, err := s.base.Parse(path)
	if err != nil || target.Host != s.base.Host {
		return nil, fmt.Errorf("%w: %q is not a path of portal %s", errPermanent, path, s.base.Host)
	}
	dead := 0 // sessions that expired without serving anyone
	for range maxAttempts {
		cookies, gen, err := s.current(ctx)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
		if err != nil {
			return nil, err
		}
		for _, c := range cookies {
			req.AddCookie(c)
		}
		resp, err := s.client.Do(ctx, req)
		if err != nil {
			return nil, err
		}
		if resp.Request.URL.Path != loginPath || target.Path == loginPath {
			s.served(gen)
			return resp, nil
		}
		resp.Body.Close()
		if !s.expire(gen) {
			if dead++; dead > maxRelogins {
				return nil, fmt.Errorf("GET %s%s: %w: %d sessions in a row expired before serving a request", s.base.Host, target.Path, errLoggedOut, dead)
			}
		}
	}
	return nil, fmt.Errorf("GET %s%s: %w %d times in a row", s.base.Host, target.Path, errLoggedOut, maxAttempts)
}

// served records that generation gen served a request: the portal accepts its logins.
func (s *session) served(gen int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.servedGen = max(s.servedGen, gen)
}

// Logins returns how many times this replica signed in to the portal.
func (s *session) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}
