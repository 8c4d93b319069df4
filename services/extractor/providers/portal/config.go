package portal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/internal/apiclient"
	"github.com/sluice-dev/sluice/internal/ratelimit"
)

// Login methods of a portal.
const (
	// LoginForm posts the login form and keeps the cookies of the answer.
	LoginForm = "form"
	// LoginBrowser signs in with headless Chromium (portals whose login page sets the
	// session cookie from a script) and keeps the browser's cookies for plain downloads.
	LoginBrowser = "browser"
)

// Config configures the provider (--provider-config, JSON).
type Config struct {
	// Portals are the partner portals to crawl; each is one sub-domain.
	Portals []Portal `json:"portals"`
	// HostConcurrency is the most simultaneous requests per sub-domain, over every
	// replica (the partners allow 4).
	HostConcurrency int `json:"host_concurrency"`
	// Rate bounds requests per second over all portals and replicas.
	Rate float64 `json:"rate"`
	// Proxy, when set (http://host:port), is the fixed egress proxy every request leaves
	// through, the browser's included: partners that allow only known addresses.
	Proxy string `json:"proxy,omitempty"`
	// Resolve pins host names to addresses (host → IP), like curl --resolve: partners
	// reached on fixed addresses, and tests.
	Resolve map[string]string `json:"resolve,omitempty"`
	// MaxReportBytes bounds one downloaded report.
	MaxReportBytes int64 `json:"max_report_bytes"`
	// Chromium drives browser logins.
	Chromium Chromium `json:"chromium"`
}

// Portal is one partner portal.
type Portal struct {
	// URL is the portal's base URL, e.g. https://reports.partner.example.
	URL string `json:"url"`
	// Login is LoginForm (default) or LoginBrowser.
	Login string `json:"login,omitempty"`
	// User is the account name; the password is read from the environment variable
	// PasswordEnv, never from the configuration.
	User        string `json:"user"`
	PasswordEnv string `json:"password_env"`
}

// Chromium configures headless Chromium for browser logins.
type Chromium struct {
	// Path of the browser binary (default /usr/bin/chromium).
	Path string `json:"path,omitempty"`
	// Timeout bounds one browser login.
	Timeout Duration `json:"timeout,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("30s") in JSON.
type Duration time.Duration

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string such as \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// DefaultConfig returns the defaults; Portals must be added.
func DefaultConfig() *Config {
	return &Config{
		HostConcurrency: 4,
		Rate:            500,
		MaxReportBytes:  256 << 20,
		Chromium:        Chromium{Path: "/usr/bin/chromium", Timeout: Duration(60 * time.Second)},
	}
}

// Validate names the first problem of c.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Portals) == 0 {
		errs = append(errs, errors.New("portal config: portals: none configured"))
	}
	seen := map[string]bool{}
	for i, p := range c.Portals {
		u, err := url.Parse(p.URL)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			errs = append(errs, fmt.Errorf("portal config: portals[%d].url: %q is not an http(s) URL", i, p.URL))
			continue
		case seen[u.Hostname()]:
			errs = append(errs, fmt.Errorf("portal config: portals[%d].url: host %s appears twice", i, u.Hostname()))
		}
		seen[u.Hostname()] = true
		if p.Login != "" && p.Login != LoginForm && p.Login != LoginBrowser {
			errs = append(errs, fmt.Errorf("portal config: portals[%d].login: %q is not %q or %q", i, p.Login, LoginForm, LoginBrowser))
		}
		if p.User == "" || p.PasswordEnv == "" {
			errs = append(errs, fmt.Errorf("portal config: portals[%d]: user and password_env are required", i))
		}
	}
	if c.HostConcurrency < 1 {
		errs = append(errs, fmt.Errorf("portal config: host_concurrency: %d, want at least 1", c.HostConcurrency))
	}
	if c.Rate <= 0 {
		errs = append(errs, fmt.Errorf("portal config: rate: %g, want > 0", c.Rate))
	}
	if c.MaxReportBytes <= 0 {
		errs = append(errs, fmt.Errorf("portal config: max_report_bytes: %d, want > 0", c.MaxReportBytes))
	}
	if c.Proxy != "" {
		if u, err := url.Parse(c.Proxy); err != nil || u.Scheme != "http" || u.Host == "" {
			errs = append(errs, fmt.Errorf("portal config: proxy: %q is not an http://host:port URL", c.Proxy))
		}
	}
	for h, ip := range c.Resolve {
		if net.ParseIP(ip) == nil {
			errs = append(errs, fmt.Errorf("portal config: resolve[%q]: %q is not an IP address", h, ip))
		}
	}
	if c.Chromium.Timeout <= 0 {
		errs = append(errs, errors.New("portal config: chromium.timeout: want a positive duration"))
	}
	return errors.Join(errs...)
}

func (p Portal) login() string {
	if p.Login == "" {
		return LoginForm
	}
	return p.Login
}

// host is the portal's sub-domain: the key of its concurrency cap and of its sessions.
func (p Portal) host() string {
	u, _ := url.Parse(p.URL) // validated
	return u.Hostname()
}

func (c *Config) rateLimits() ratelimit.Config {
	return ratelimit.Config{
		Quotas:          map[string]ratelimit.QuotaConfig{ratelimit.DefaultQuota: {Limit: ratelimit.Limit{Rate: c.Rate, Burst: max(1, int(c.Rate/10))}}},
		HostConcurrency: c.HostConcurrency,
	}
}

func (c *Config) clientConfig() apiclient.Config {
	return apiclient.Config{UserAgent: "sluice-portal/1", MaxAttempts: 6, InitialBackoff: 200 * time.Millisecond, MaxBackoff: 10 * time.Second}
}

// transport is the network transport: through the proxy when one is set, dialing pinned
// addresses for the hosts in Resolve.
func (c *Config) transport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 2 * c.HostConcurrency
	if c.Proxy != "" {
		u, _ := url.Parse(c.Proxy) // validated
		t.Proxy = http.ProxyURL(u)
	}
	if len(c.Resolve) > 0 {
		var d net.Dialer
		t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if host, port, err := net.SplitHostPort(addr); err == nil {
				if ip, ok := c.Resolve[strings.ToLower(host)]; ok {
					addr = net.JoinHostPort(ip, port)
				}
			}
			return d.DialContext(ctx, network, addr)
		}
	}
	return t
}
