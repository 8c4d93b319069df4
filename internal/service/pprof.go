package service

import (
	"net/http"
	"net/http/pprof"
)

// PprofHandler serves Go's profiles under /debug/pprof/, to find where CPU and memory go
// under load: go tool pprof http://127.0.0.1:PORT/debug/pprof/profile. Profiles and traces
// show memory contents and cost CPU, so a service serves them only on a loopback listener
// of their own (--pprof-addr), off by default; reach them with kubectl port-forward.
func PprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}
