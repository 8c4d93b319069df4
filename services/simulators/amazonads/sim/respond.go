package sim

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strconv"
	"time"
)

// apiErrorBody is the error body of the advertising API. The message is in
// both "detail" (v3 reporting) and "message" (other API versions).
type apiErrorBody struct {
	Code    string `json:"code"`
	Detail  string `json:"detail"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// apiError answers with the API's JSON error body. 401s carry the code
// UNAUTHORIZED, the others their status number, as the real API does.
func apiError(w http.ResponseWriter, status int, msg string) {
	code := strconv.Itoa(status)
	if status == http.StatusUnauthorized {
		code = "UNAUTHORIZED"
	}
	writeJSON(w, status, apiErrorBody{Code: code, Detail: msg, Message: msg})
}

// s3ErrorBody is an S3 REST error.
type s3ErrorBody struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string   `xml:"Code"`
	Message    string   `xml:"Message"`
	Expires    string   `xml:"Expires,omitempty"`
	ServerTime string   `xml:"ServerTime,omitempty"`
	RequestID  string   `xml:"RequestId"`
}

func s3Error(w http.ResponseWriter, status int, body s3ErrorBody) {
	b, _ := xml.Marshal(body) // cannot fail: plain strings
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	w.Write([]byte(xml.Header))
	w.Write(b)
}

// statusWriter records the status and body size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// trickleWriter sends the body chunk bytes at a time, flushing and pausing
// between chunks (the slow-body fault).
type trickleWriter struct {
	http.ResponseWriter
	ctx   context.Context
	sleep func(ctx context.Context, d time.Duration) error
	chunk int
	every time.Duration
}

func (w *trickleWriter) Write(p []byte) (int, error) {
	rc := http.NewResponseController(w.ResponseWriter)
	written := 0
	for len(p) > 0 {
		n := min(w.chunk, len(p))
		m, err := w.ResponseWriter.Write(p[:n])
		written += m
		if err != nil {
			return written, err
		}
		_ = rc.Flush() // best effort: a writer without Flush still trickles
		p = p[n:]
		if w.every <= 0 {
			continue
		}
		if err := w.sleep(w.ctx, w.every); err != nil {
			return written, err
		}
	}
	return written, nil
}

func (w *trickleWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
