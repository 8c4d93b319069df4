package apiclient

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/sluice-dev/sluice/internal/redact"
)

// ErrEgressRefused is matched (errors.Is) by every request the Egress policy refused.
var ErrEgressRefused = errors.New("egress refused")

// Egress says where a client's requests may go: the defence against a URL that a
// provider's API handed out (a report download, a redirect) pointing sluice at the
// cluster's own services or the cloud's metadata endpoint (SSRF).
type Egress struct {
	// Hosts are the hosts calls marked Untrusted, and redirects to another host, may go
	// to: "example.com" matches that host only, "*.example.com" (or ".example.com") any
	// host below it.
	Hosts []string
	// AllowHTTP permits plain http (local runs and tests); otherwise only https.
	AllowHTTP bool
	// AllowPrivate permits loopback, private, link-local, CGNAT and unspecified addresses
	// (tests against simulators on 127.0.0.1); otherwise the dialer refuses them after DNS
	// resolution, so a name that resolves (or is re-bound) to such an address is refused.
	AllowPrivate bool
}

// Validate names the wrong host pattern.
func (e Egress) Validate() error {
	var errs []error
	for _, h := range e.Hosts {
		p := strings.TrimPrefix(strings.TrimPrefix(h, "*"), ".")
		if p == "" || strings.ContainsAny(p, "/:*@ ") {
			errs = append(errs, fmt.Errorf("egress host %q: want a host name such as example.com or *.example.com (no scheme, port or path)", h))
		}
	}
	return errors.Join(errs...)
}

// EgressError is a request the policy refused.
type EgressError struct {
	URL    string // redacted
	Reason string
}

func (e *EgressError) Error() string {
	return fmt.Sprintf("egress refused: %s: %s", e.URL, e.Reason)
}

// Is makes errors.Is(err, ErrEgressRefused) true.
func (e *EgressError) Is(target error) bool { return target == ErrEgressRefused }

// allowsHost reports whether host matches one of the patterns.
func (e Egress) allowsHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, p := range e.Hosts {
		p = strings.ToLower(p)
		switch {
		case strings.HasPrefix(p, "*."):
			if strings.HasSuffix(host, p[1:]) {
				return true
			}
		case strings.HasPrefix(p, "."):
			if strings.HasSuffix(host, p) {
				return true
			}
		case host == p:
			return true
		}
	}
	return false
}

// check refuses a request before it is sent: its scheme, its host when the call is
// untrusted or the request is a redirect to another host, and a literal address that is
// not public.
func (e Egress) check(req *http.Request, untrusted bool) error {
	u := req.URL
	refuse := func(format string, args ...any) error {
		return &EgressError{URL: redact.URL(u), Reason: fmt.Sprintf(format, args...)}
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && e.AllowHTTP:
	default:
		return refuse("scheme %q: only https is allowed", u.Scheme)
	}
	host := u.Hostname()
	if prev := previousHop(req); prev != nil && !e.allowsHost(host) && !strings.EqualFold(prev.Hostname(), host) {
		return refuse("redirect from %s to host %q, which is not on the provider's allow-list %v", prev.Hostname(), host, e.Hosts)
	}
	if untrusted && !e.allowsHost(host) {
		return refuse("host %q is not on the provider's allow-list %v", host, e.Hosts)
	}
	if ip, err := netip.ParseAddr(host); err == nil && !e.AllowPrivate && !public(ip) {
		return refuse("address %s is not public (loopback, private, link-local or reserved)", ip)
	}
	return nil
}

func previousHop(req *http.Request) *url.URL {
	if req.Response != nil && req.Response.Request != nil {
		return req.Response.Request.URL
	}
	return nil
}

// control is the dialer's check of the address DNS resolved to: it runs for every
// connection, so a name re-bound to an internal address after the URL check is refused.
func (e Egress) control(_, address string, _ syscall.RawConn) error {
	if e.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &EgressError{URL: address, Reason: "unparseable dial address"}
	}
	if !public(ap.Addr()) {
		return &EgressError{URL: address, Reason: "resolved address is not public (loopback, private, link-local or reserved)"}
	}
	return nil
}

// nonPublic are ranges IsPrivate and friends do not cover: CGNAT (used as pod and
// service ranges by some clusters) and "this network".
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
}

func public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() || !ip.IsValid() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// Dialer settings of a guarded transport, those of http.DefaultTransport.
const (
	dialTimeout   = 30 * time.Second
	dialKeepAlive = 30 * time.Second
)

// guardedTransport is t with the dial-time address check and no proxy: a proxy would
// hide the address actually reached from the check.
func (e Egress) guardedTransport(t *http.Transport) {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: dialKeepAlive, Control: e.control}
	t.DialContext = d.DialContext
	t.Proxy = nil
}
