package apiclient

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func TestEgressHostPatterns(t *testing.T) {
	t.Parallel()
	e := Egress{Hosts: []string{"advertising-api.amazon.com", "*.s3.amazonaws.com", ".cloudfront.net"}}
	cases := map[string]bool{
		"advertising-api.amazon.com":             true,
		"ADVERTISING-API.amazon.com.":            true,
		"evil-advertising-api.amazon.com":        false,
		"offline-report.s3.amazonaws.com":        true,
		"a.b.s3.amazonaws.com":                   true,
		"s3.amazonaws.com":                       false,
		"s3.amazonaws.com.evil.example":          false,
		"evils3.amazonaws.com":                   false,
		"d1.cloudfront.net":                      true,
		"cloudfront.net":                         false,
		"advertising-api.amazon.com.attacker.io": false,
	}
	for host, want := range cases {
		if got := e.allowsHost(host); got != want {
			t.Errorf("allowsHost(%q) = %v, want %v", host, got, want)
		}
	}
	if err := (Egress{Hosts: []string{"https://x.com", "x.com:443", "*", ""}}).Validate(); err == nil || strings.Count(err.Error(), "egress host") != 4 {
		t.Errorf("want four refused patterns, got %v", err)
	}
}

func TestPublicAddresses(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "100.64.0.10": false, "0.0.0.0": false, "::1": false,
		"fe80::1": false, "fd00::1": false, "::ffff:10.0.0.1": false, "::ffff:169.254.169.254": false,
		"52.216.0.1": true, "2600:1f18::1": true,
	} {
		if got := public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("public(%s) = %v, want %v", addr, got, want)
		}
	}
}

// counting serves 200 and counts requests.
func counting(t *testing.T, h http.HandlerFunc) (*httptest.Server, *int) {
	t.Helper()
	n := new(int)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*n++
		if h != nil {
			h(w, r)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv, n
}

func TestEgressRefusals(t *testing.T) {
	t.Parallel()
	target, hits := counting(t, nil)
	port := target.URL[strings.LastIndex(target.URL, ":")+1:]
	redirector, _ := counting(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://localhost:"+port+"/internal", http.StatusFound)
	})
	sameHost, _ := counting(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			w.WriteHeader(http.StatusOK)
			return
		}
		http.Redirect(w, r, "/moved", http.StatusFound)
	})
	cases := []struct {
		name      string
		egress    Egress
		url       string
		untrusted bool
		want      string // empty: allowed
	}{
		{"allowed for tests", Egress{Hosts: []string{"127.0.0.1"}, AllowHTTP: true, AllowPrivate: true}, target.URL, true, ""},
		{"untrusted host off the list", Egress{Hosts: []string{"*.s3.amazonaws.com"}, AllowHTTP: true, AllowPrivate: true}, target.URL, true, "not on the provider's allow-list"},
		{"plain http in production", Egress{Hosts: []string{"127.0.0.1"}, AllowPrivate: true}, target.URL, true, `scheme "http"`},
		{"file scheme", Egress{Hosts: []string{"127.0.0.1"}, AllowHTTP: true, AllowPrivate: true}, "file:///etc/passwd", false, `scheme "file"`},
		{"literal metadata address", Egress{Hosts: []string{"169.254.169.254"}, AllowHTTP: true}, "http://169.254.169.254/latest/meta-data/", true, "not public"},
		{"literal loopback on a trusted call", Egress{AllowHTTP: true}, target.URL, false, "not public"},
		// localhost passes the URL check (it is a name); the dialer sees 127.0.0.1: the
		// check a DNS name re-bound to an internal address meets.
		{"name resolving to loopback", Egress{Hosts: []string{"localhost"}, AllowHTTP: true}, "http://localhost:" + port + "/", true, "resolved address is not public"},
		{"redirect off the list", Egress{Hosts: []string{"127.0.0.1"}, AllowHTTP: true, AllowPrivate: true}, redirector.URL, true, `redirect from 127.0.0.1 to host "localhost"`},
		{"redirect on the same host", Egress{AllowHTTP: true, AllowPrivate: true}, sameHost.URL, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := *hits
			cl := newClient(t, fastConfig, newGovernor(t), WithEgress(c.egress))
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, c.url, nil)
			opts := []CallOption{WithQuota("api")}
			if c.untrusted {
				opts = append(opts, Untrusted())
			}
			resp, err := cl.Do(context.Background(), req, opts...)
			if c.want == "" {
				if err != nil {
					t.Fatalf("want allowed, got %v", err)
				}
				resp.Body.Close()
				return
			}
			if err == nil {
				resp.Body.Close()
				t.Fatalf("want refused (%s), got %s", c.want, resp.Status)
			}
			if !errors.Is(err, ErrEgressRefused) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want ErrEgressRefused naming %q, got %v", c.want, err)
			}
			if *hits != before {
				t.Fatalf("a refused request reached the internal server")
			}
		})
	}
}

func TestTransportErrorsHidePresignedQuery(t *testing.T) {
	t.Parallel()
	const sig = "X-Amz-Signature=deadbeefcafe0123456789"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // a closed port: connection refused
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	cl := newClient(t, Config{InitialBackoff: 1e6, MaxBackoff: 2e6, MaxAttempts: 2}, newGovernor(t), WithTracerProvider(tp))
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+addr+"/report.json.gz?X-Amz-Credential=AKIA%2F&"+sig, nil)
	_, err = cl.Do(context.Background(), req, WithQuota("api"))
	if err == nil {
		t.Fatal("want a connection error")
	}
	if strings.Contains(err.Error(), "deadbeef") {
		t.Fatalf("error shows the signature: %v", err)
	}
	if !strings.Contains(err.Error(), addr+"/report.json.gz?REDACTED") {
		t.Fatalf("error should still name the host and path: %v", err)
	}
	for _, s := range exp.GetSpans() {
		if strings.Contains(s.Status.Description, "deadbeef") {
			t.Errorf("span status shows the signature: %s", s.Status.Description)
		}
		for _, a := range s.Attributes {
			if strings.Contains(a.Value.String(), "deadbeef") {
				t.Errorf("span attribute %s shows the signature", a.Key)
			}
		}
		for _, ev := range s.Events {
			for _, a := range ev.Attributes {
				if strings.Contains(a.Value.String(), "deadbeef") {
					t.Errorf("span event %s attribute %s shows the signature", ev.Name, a.Key)
				}
			}
		}
	}
}
