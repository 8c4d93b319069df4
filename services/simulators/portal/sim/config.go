// Package sim simulates partner report portals behind logins: several sub-domains on one
// listener (routed by the Host header), form logins and one login that needs JavaScript,
// paginated JSON report listings, deterministic reports in CSV, HTML and JSON with known
// expected rows, a per-sub-domain concurrency counter, and injected faults (slow pages,
// expired sessions, malformed files).
package sim

import (
	"errors"
	"fmt"
	"time"
)

// Login kinds.
const (
	// LoginForm is a classic HTML form POST that answers with the session cookie.
	LoginForm = "form"
	// LoginScript is a login page whose script obtains a token and sets the session
	// cookie itself: only a browser can log in.
	LoginScript = "script"
)

// Portal is one partner portal (one sub-domain).
type Portal struct {
	// Host is the sub-domain, e.g. "a.portal.test" (matched against the Host header
	// without its port).
	Host string
	// Login is LoginForm or LoginScript.
	Login    string
	User     string
	Password string
	// Accounts are the partner accounts whose reports the portal lists.
	Accounts []string
}

// Overlap says what the portal does with a request beyond MaxConcurrent on one host.
type Overlap int

const (
	// OverlapFail answers 500 and records a violation: tests fail on it.
	OverlapFail Overlap = iota
	// OverlapRefuse answers 429 (no Retry-After), as real portals do to crawlers that
	// open too many connections: benchmarks of naive clients use it.
	OverlapRefuse
)

// Config configures the simulator.
type Config struct {
	Portals []Portal
	// Seed makes the reports' content deterministic.
	Seed int64
	// MaxConcurrent is the most simultaneous requests a portal allows per sub-domain.
	MaxConcurrent int
	Overlap       Overlap
	// PageLatency is added to every request (listing, report, login).
	PageLatency time.Duration
	// SlowEvery makes every n-th request of a host take SlowLatency instead (0: none).
	SlowEvery   int
	SlowLatency time.Duration
	// ListPageSize is the number of reports per listing page.
	ListPageSize int
	// SessionTTL and SessionMaxRequests expire sessions (0: never); an expired session
	// is redirected to the login page like any request without a session.
	SessionTTL         time.Duration
	SessionMaxRequests int
	// MalformedEvery makes every n-th inventory and traffic report (by a hash of its id)
	// malformed: an error page without the table, or broken JSON (0: none).
	MalformedEvery int
}

// DefaultConfig returns three form portals and one script portal, two accounts each.
func DefaultConfig() Config {
	mk := func(host, login string) Portal {
		return Portal{Host: host, Login: login, User: "crawler", Password: "secret-" + host, Accounts: []string{"acct-1", "acct-2"}}
	}
	return Config{
		Portals: []Portal{
			mk("a.portal.test", LoginForm), mk("b.portal.test", LoginForm),
			mk("c.portal.test", LoginForm), mk("js.portal.test", LoginScript),
		},
		Seed:          1,
		MaxConcurrent: 4,
		ListPageSize:  10,
	}
}

// Validate names the first problem of c.
func (c Config) Validate() error {
	if len(c.Portals) == 0 {
		return errors.New("sim config: no portals")
	}
	seen := map[string]bool{}
	for i, p := range c.Portals {
		switch {
		case p.Host == "" || seen[p.Host]:
			return fmt.Errorf("sim config: portals[%d]: host %q is empty or repeated", i, p.Host)
		case p.Login != LoginForm && p.Login != LoginScript:
			return fmt.Errorf("sim config: portals[%d]: login %q is not %q or %q", i, p.Login, LoginForm, LoginScript)
		case p.User == "" || p.Password == "":
			return fmt.Errorf("sim config: portals[%d]: user and password are required", i)
		case len(p.Accounts) == 0:
			return fmt.Errorf("sim config: portals[%d]: no accounts", i)
		}
		seen[p.Host] = true
	}
	switch {
	case c.MaxConcurrent < 1:
		return fmt.Errorf("sim config: MaxConcurrent %d, want at least 1", c.MaxConcurrent)
	case c.ListPageSize < 1:
		return fmt.Errorf("sim config: ListPageSize %d, want at least 1", c.ListPageSize)
	case c.PageLatency < 0 || c.SlowLatency < 0 || c.SessionTTL < 0 || c.SlowEvery < 0 || c.SessionMaxRequests < 0 || c.MalformedEvery < 0:
		return errors.New("sim config: latencies, rates and session limits must not be negative")
	}
	return nil
}
