package portal

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"

	"github.com/sluice-dev/sluice/services/extractor/provider"
)

// Run downloads one report and emits it as one raw record to every dataset that reads
// its kind, source key "<host>/<report id>": the bytes as the portal served them, so
// parsers and normalizers re-run from staging.
func (p *crawler) Run(ctx context.Context, t provider.Task, emit provider.Emitter) error {
	if t.Kind != kindReport {
		return fmt.Errorf("%w: unknown task kind %q", errPermanent, t.Kind)
	}
	var tp taskParams
	if err := t.DecodeParams(&tp); err != nil {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	s, ok := p.sessions[tp.Host]
	if !ok {
		return fmt.Errorf("%w: task %s: portal %s is not configured", errPermanent, t.Key, tp.Host)
	}
	datasets, ok := kindDatasets[tp.Kind]
	if !ok {
		return fmt.Errorf("%w: task %s: unknown report kind %q", errPermanent, t.Key, tp.Kind)
	}
	if _, err := dayOf(tp.Date); err != nil {
		return fmt.Errorf("%w: task %s: report date: %w", errPermanent, t.Key, err)
	}
	resp, err := s.get(ctx, tp.URL)
	if err != nil {
		return fmt.Errorf("download %s: %w", t.Key, err)
	}
	// The report is read whole before emitting: one download feeds every dataset of its
	// kind, and a body cut by the network must not become a record.
	body, err := io.ReadAll(io.LimitReader(resp.Body, p.cfg.MaxReportBytes+1))
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("download %s: %w", t.Key, err)
	}
	if int64(len(body)) > p.cfg.MaxReportBytes {
		return fmt.Errorf("%w: report %s is larger than max_report_bytes (%d)", errPermanent, t.Key, p.cfg.MaxReportBytes)
	}
	ctype, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	attrs := map[string]string{"portal": tp.Host, "account": tp.Account, "date": tp.Date, "kind": tp.Kind, "report_id": tp.ID}
	for _, ds := range datasets {
		if err := emit.Emit(ctx, provider.Raw{
			Dataset: ds, SourceKey: tp.Host + "/" + tp.ID, ContentType: ctype,
			Body: bytes.NewReader(body), Attributes: attrs,
		}); err != nil {
			return fmt.Errorf("emit %s %s: %w", ds, t.Key, err)
		}
	}
	return nil
}
