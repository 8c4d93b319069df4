package amazonads

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sluice-dev/sluice/internal/apiclient"
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/download"
	"github.com/sluice-dev/sluice/services/extractor/provider/jobs"
)

// progressEvery is how many records are published between two progress writes.
const progressEvery = 16

// errURLExpired: the pre-signed url was refused; fetch the status again for a new one.
var errURLExpired = errors.New("download url expired or refused")

// Run extracts one report: it requests it once (or resumes the job a previous attempt
// recorded), polls until it is ready, downloads it and emits its rows in records of at
// most Records.MaxRows rows.
func (p *amazonAds) Run(ctx context.Context, t provider.Task, emit provider.Emitter) error {
	if t.Kind != kindReport {
		return fmt.Errorf("%w: unknown task kind %q", errPermanent, t.Kind)
	}
	var tp taskParams
	if err := t.DecodeParams(&tp); err != nil {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	rep, ok := reports[tp.ReportType]
	if !ok {
		return fmt.Errorf("%w: task %s: unknown report type %q", errPermanent, t.Key, tp.ReportType)
	}
	ra := &reportAPI{api: p.api, profile: tp.ProfileID, report: rep,
		name: fmt.Sprintf("sluice %s %s %s %s..%s", t.RunID, tp.ProfileID, tp.ReportType, tp.Start, tp.End)}
	job := jobs.Job{
		Key: p.jobs.Key(t.RunID, tp.ProfileID, tp.ReportType, tp.Start+"_"+tp.End), RunID: t.RunID,
		Profile: tp.ProfileID, ReportType: tp.ReportType, WindowStart: tp.Start, WindowEnd: tp.End,
	}
	for {
		j, err := p.jobs.Await(ctx, job, ra, p.cfg.Poll.Policy())
		if errors.Is(err, errReportGone) && j.Attempts < p.cfg.MaxReportAttempts {
			p.log.WarnContext(ctx, "report vanished; requesting it again", "job", j.Key, "report_id", j.ReportID, "err", err)
			if _, err := p.jobs.Retry(ctx, j); err != nil && !errors.Is(err, jobs.ErrConflict) {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		switch j.Status {
		case jobs.Done:
			return nil
		case jobs.Failed:
			if j.Attempts >= p.cfg.MaxReportAttempts {
				return fmt.Errorf("%w: report %s failed %d times: %s", errPermanent, j.ReportID, j.Attempts, j.FailureReason)
			}
			p.log.WarnContext(ctx, "report failed; requesting it again", "job", j.Key, "report_id", j.ReportID, "reason", j.FailureReason)
			if _, err := p.jobs.Retry(ctx, j); err != nil && !errors.Is(err, jobs.ErrConflict) {
				return err
			}
			continue
		case jobs.Completed:
			err := p.fetch(ctx, j, ra, tp, emit)
			if errors.Is(err, jobs.ErrConflict) {
				continue // another replica moved the job on; look again
			}
			return err
		default:
			return fmt.Errorf("job %s: unexpected status %s", j.Key, j.Status)
		}
	}
}

// fetch downloads a completed report, retrying truncated files, gzip bombs and expired
// urls up to MaxDownloadAttempts, and marks the job done.
func (p *amazonAds) fetch(ctx context.Context, j jobs.Job, ra *reportAPI, tp taskParams, emit provider.Emitter) error {
	var last error
	for attempt := 1; attempt <= p.cfg.MaxDownloadAttempts; attempt++ {
		if !j.URLValid(time.Now(), 0) {
			var err error
			if j, err = p.jobs.RefreshURL(ctx, j, ra); err != nil {
				return err
			}
			if j.Status != jobs.Completed {
				return fmt.Errorf("report %s: status %s after it was completed", j.ReportID, j.Status)
			}
		}
		var err error
		if j, err = p.jobs.Downloading(ctx, j); err != nil {
			return err
		}
		j, err = p.downloadOnce(ctx, j, ra, tp, emit)
		if err == nil {
			_, err = p.jobs.Finish(ctx, j, j.RowsEmitted)
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		switch {
		case errors.Is(err, errURLExpired):
			j.URL = "" // refresh through the status call
		case download.Retryable(err):
		default:
			return err
		}
		last = err
		p.log.WarnContext(ctx, "report download failed; downloading again", "job", j.Key, "report_id", j.ReportID, "attempt", attempt, "err", err)
	}
	return fmt.Errorf("report %s: %d download attempts failed: %w", j.ReportID, p.cfg.MaxDownloadAttempts, last)
}

// downloadOnce streams the report file into records. Rows a previous attempt already
// published (j.RowsEmitted) are skipped; progress is recorded every few records.
//
// A record is named by its rows (source key …/rows=FIRST-LAST), not by its position in
// a chunking: with Records changed between a crash and the resume, records cut the
// other way get other names, and none is taken for one already published.
func (p *amazonAds) downloadOnce(ctx context.Context, j jobs.Job, ra *reportAPI, tp taskParams, emit provider.Emitter) (jobs.Job, error) {
	resp, err := ra.download(ctx, j.URL)
	var se *apiclient.StatusError
	if errors.As(err, &se) && (se.StatusCode == http.StatusForbidden || se.StatusCode == http.StatusNotFound) {
		return j, fmt.Errorf("%w: report %s: %w", errURLExpired, j.ReportID, err)
	}
	if err != nil {
		return j, fmt.Errorf("download report %s: %w", j.ReportID, err)
	}
	defer resp.Body.Close()
	lim := p.cfg.Download.WithDefaults()
	if n := contentLength(resp); n > lim.MaxCompressed {
		return j, fmt.Errorf("%w: report %s: %w: %d bytes, limit %d", errPermanent, j.ReportID, download.ErrTooLarge, n, lim.MaxCompressed)
	}
	attrs := map[string]string{
		"profileId": tp.ProfileID, "countryCode": tp.Country, "currencyCode": tp.Currency, "timezone": tp.Timezone,
		"reportId": j.ReportID, "reportType": tp.ReportType, "windowStart": tp.Start, "windowEnd": tp.End,
	}
	dataset := reports[tp.ReportType].dataset
	// The report's generation time orders its rows against other reports of the same
	// window: a report resumed late must not overwrite a fresher one's rows.
	var version int64
	if !j.GeneratedAt.IsZero() {
		version = j.GeneratedAt.UnixNano()
	}
	published, records := j.RowsEmitted, 0
	st, err := download.GzipJSONArray(ctx, resp.Body, lim, p.cfg.Records, j.RowsEmitted, func(ctx context.Context, part download.Part) error {
		last := part.FirstRow + int64(part.Rows) - 1
		if err := emit.Emit(ctx, provider.Raw{
			Dataset: dataset, SourceKey: tp.key() + "/rows=" + strconv.FormatInt(part.FirstRow, 10) + "-" + strconv.FormatInt(last, 10),
			ContentType: "application/json", Body: bytes.NewReader(part.Payload), Attributes: attrs, DataVersion: version,
		}); err != nil {
			return err
		}
		published = last + 1
		if records++; records%progressEvery == 0 {
			var err error
			if j, err = p.jobs.Progress(ctx, j, published); err != nil {
				return err
			}
		}
		return nil
	})
	p.bytes.Add(ctx, st.CompressedBytes)
	if err != nil {
		return j, fmt.Errorf("report %s: %w", j.ReportID, err)
	}
	j.RowsEmitted = max(published, j.RowsEmitted)
	p.log.DebugContext(ctx, "report extracted", "job", j.Key, "report_id", j.ReportID, "rows", st.Rows, "records", st.Parts,
		"compressed_bytes", st.CompressedBytes, "bytes", st.Bytes)
	return j, nil
}
