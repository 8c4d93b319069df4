package sim

import (
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"
)

// downloadURL returns the pre-signed download url of report id, valid until
// expires: base/download/{id}?expires=<unix ms>&sig=<hex HMAC-SHA256>.
func (s *Server) downloadURL(base, id string, expires time.Time) string {
	exp := strconv.FormatInt(expires.UnixMilli(), 10)
	return base + "/download/" + url.PathEscape(id) + "?expires=" + exp + "&sig=" + s.signature(id, exp)
}

func (s *Server) signature(id, expires string) string {
	m := hmac.New(sha256.New, s.signKey)
	m.Write([]byte(id + "\n" + expires))
	return hex.EncodeToString(m.Sum(nil))
}

// writeReport streams the gzipped JSON array of rep's rows to w. Memory is
// bounded by one buffer and the compressor, whatever the report size.
func (s *Server) writeReport(ctx context.Context, w io.Writer, rep *report) error {
	gz, err := gzip.NewWriterLevel(w, s.cfg.Data.GzipLevel)
	if err != nil {
		return fmt.Errorf("report %s: %w", rep.id, err)
	}
	p := rep.req.plan
	buf := make([]byte, 0, 48<<10)
	buf = append(buf, '[')
	first := true
	for r := range p.records(s.cfg, rep.profile, rep.req.start, rep.req.end) {
		if !first {
			buf = append(buf, ',')
		}
		first = false
		buf = p.appendRow(buf, r)
		if len(buf) >= 32<<10 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("report %s: %w", rep.id, err)
			}
			if _, err := gz.Write(buf); err != nil {
				return fmt.Errorf("report %s: %w", rep.id, err)
			}
			buf = buf[:0]
		}
	}
	buf = append(buf, ']')
	if _, err := gz.Write(buf); err != nil {
		return fmt.Errorf("report %s: %w", rep.id, err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("report %s: %w", rep.id, err)
	}
	return nil
}

// exactSize returns the compressed size of rep's file, computing it once by
// compressing into a counter.
func (s *Server) exactSize(ctx context.Context, rep *report) (int64, error) {
	rep.sizeMu.Lock()
	defer rep.sizeMu.Unlock()
	if rep.sized {
		return rep.size, nil
	}
	var c countWriter
	if err := s.writeReport(ctx, &c, rep); err != nil {
		return 0, fmt.Errorf("size of %w", err)
	}
	rep.size, rep.sized = int64(c), true
	return rep.size, nil
}

// fileSize is the fileSize the status shows: exact, or an estimate when
// Reports.ExactFileSize is off.
func (s *Server) fileSize(ctx context.Context, rep *report) (int64, error) {
	if s.cfg.Reports.ExactFileSize {
		return s.exactSize(ctx, rep)
	}
	rows := int64(rep.req.end-rep.req.start+1) * int64(s.cfg.Data.CampaignsPerProfile)
	if rep.req.plan.adGroupLevel {
		rows *= int64(s.cfg.Data.AdGroupsPerCampaign)
	}
	return 20 + rows*int64(len(rep.req.plan.columns))*4, nil
}

// countWriter counts and discards.
type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

// errCut ends a truncated download.
var errCut = errors.New("download truncated on purpose")

// cutWriter passes on the first left bytes, then fails with errCut.
type cutWriter struct {
	w    io.Writer
	left int64
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errCut
	}
	if int64(len(p)) > c.left {
		n, err := c.w.Write(p[:c.left])
		c.left -= int64(n)
		if err != nil {
			return n, err
		}
		return n, errCut
	}
	n, err := c.w.Write(p)
	c.left -= int64(n)
	return n, err
}
