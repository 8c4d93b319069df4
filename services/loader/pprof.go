package main

import (
	"net/http"
	"net/http/pprof"

	"github.com/sluice-dev/sluice/internal/lifecycle"
)

// servePprof adds Go's profiling handlers to the service's HTTP endpoint (--pprof), to
// find where CPU and memory go under load: go tool pprof http://HOST:PORT/debug/pprof/profile
func servePprof(ep *lifecycle.Endpoint) {
	ep.Handle("GET /debug/pprof/", http.HandlerFunc(pprof.Index))
	ep.Handle("GET /debug/pprof/profile", http.HandlerFunc(pprof.Profile))
	ep.Handle("GET /debug/pprof/trace", http.HandlerFunc(pprof.Trace))
}
