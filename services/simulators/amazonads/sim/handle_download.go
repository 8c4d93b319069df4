package sim

import (
	"crypto/hmac"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
)

// handleDownload is GET /download/{reportId}?expires=…&sig=…, the
// pre-signed S3 object of a completed report. It needs no API headers.
// Errors are S3's: 403 SignatureDoesNotMatch, 403 AccessDenied "Request has
// expired", 404 NoSuchKey.
func (s *Server) handleDownload(w http.ResponseWriter, r *http.Request) {
	now := s.clock.Now()
	id := r.PathValue("reportId")
	q := r.URL.Query()
	expires := q.Get("expires")
	expMs, err := strconv.ParseInt(expires, 10, 64)
	requestID := strconv.FormatUint(mix(uint64(now.UnixNano()), hashString(id)), 16)
	if err != nil || !hmac.Equal([]byte(q.Get("sig")), []byte(s.signature(id, expires))) {
		s3Error(w, http.StatusForbidden, s3ErrorBody{Code: "SignatureDoesNotMatch",
			Message: "The request signature we calculated does not match the signature you provided.", RequestID: requestID})
		return
	}
	if now.UnixMilli() > expMs {
		s.counters.add(&s.counters.expiredURLs)
		s3Error(w, http.StatusForbidden, s3ErrorBody{Code: "AccessDenied", Message: "Request has expired",
			Expires: time.UnixMilli(expMs).UTC().Format(time.RFC3339), ServerTime: now.UTC().Format(time.RFC3339),
			RequestID: requestID})
		return
	}
	rep := s.reports.get(id)
	if rep == nil {
		s3Error(w, http.StatusNotFound, s3ErrorBody{Code: "NoSuchKey", Message: "The specified key does not exist.",
			RequestID: requestID})
		return
	}
	s.throttle.recordOnly(ClassDownload, now)
	w, ok := s.inject(w, r, ClassDownload)
	if !ok {
		return
	}

	ctx := r.Context()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("x-amz-request-id", requestID)
	var body func(io.Writer) error
	switch df := s.faults.download(); {
	case df.bomb:
		s.counters.fault(FaultBomb)
		b, err := s.gzipBomb()
		if err != nil {
			apiError(w, http.StatusInternalServerError, "Internal Server Error")
			s.log.Warn("gzip bomb", "err", err)
			return
		}
		h.Set("Content-Length", strconv.FormatInt(b.size(), 10))
		body = func(w io.Writer) error { return b.writeTo(ctx, w) }
	case df.truncate:
		s.counters.fault(FaultTruncated)
		size, err := s.exactSize(ctx, rep)
		if err != nil {
			return // the client left while the size was computed
		}
		cut := max(int64(float64(size)*df.at), 11) // past the 10-byte gzip header
		body = func(w io.Writer) error { return s.writeReport(ctx, &cutWriter{w: w, left: cut}, rep) }
	default:
		if s.cfg.Reports.ExactFileSize {
			size, err := s.exactSize(ctx, rep)
			if err != nil {
				return
			}
			h.Set("Content-Length", strconv.FormatInt(size, 10))
		}
		body = func(w io.Writer) error { return s.writeReport(ctx, w, rep) }
	}
	w.WriteHeader(http.StatusOK)
	if err := body(w); err != nil && !errors.Is(err, errCut) {
		s.log.Debug("download ended early", "reportId", id, "err", err)
	}
}

// gzipBomb builds the bomb once.
func (s *Server) gzipBomb() (*bomb, error) {
	s.bombOnce.Do(func() { s.bomb, s.bombErr = buildBomb(s.cfg.Faults.BombBytes) })
	return s.bomb, s.bombErr
}
