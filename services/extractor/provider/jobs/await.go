package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// API is a report API as Await drives it. Implementations go through the provider's
// rate-governed client.
type API interface {
	// Request asks for the report j describes and returns its id. When the API answers
	// that an identical report is already in progress (Amazon Ads: HTTP 425 "duplicate
	// of : <id>"), Request returns that report's id: it is reused, never requested anew.
	Request(ctx context.Context, j Job) (reportID string, err error)
	// Status returns the report's current status; for a completed report also its
	// download url, expiry and size, for a failed one the reason.
	Status(ctx context.Context, j Job) (Report, error)
}

// Report is a status answer.
type Report struct {
	Status        Status
	URL           string
	URLExpiresAt  time.Time
	FileSize      int64
	FailureReason string
	// GeneratedAt is when the provider produced the report's data (its generation or
	// completion time), zero when the API does not say: the data version of its records.
	GeneratedAt time.Time
}

// Await drives the job j.Key (filled with its description: Provider, RunID, Profile,
// ReportType, window) until its report is ready, and returns it: Completed with a valid
// url, Failed, or Done when an earlier run already emitted it. It requests the report
// only when no replica did (an atomic claim in the bucket guards the request), resumes
// polling a report requested before a restart, and spaces status calls by policy.
//
// If ctx ends, Await returns its error; the job stays recorded and the next Await
// resumes it.
func (s *Store) Await(ctx context.Context, j Job, api API, policy PollPolicy) (Job, error) {
	if j.Key == "" {
		return j, errors.New("await job: empty key")
	}
	for {
		if err := ctx.Err(); err != nil {
			return j, err
		}
		cur, err := s.Get(ctx, j.Key)
		switch {
		case errors.Is(err, ErrNotFound):
			fresh := j
			fresh.Provider = s.provider
			fresh.Status, fresh.Attempts, fresh.RequestedAt = Requesting, 1, time.Now().UTC()
			cur, err = s.create(ctx, fresh)
			if errors.Is(err, ErrConflict) {
				continue // another replica claimed it first
			}
			if err != nil {
				return j, err
			}
			if cur, err = s.request(ctx, cur, api); err != nil {
				return cur, err
			}
			continue
		case err != nil:
			return j, err
		}

		switch cur.Status {
		case Requesting:
			age := time.Since(cur.RequestedAt)
			if !cur.RequestedAt.IsZero() && age < s.cfg.ClaimTTL {
				// Another replica is requesting it right now: wait for the id.
				if err := sleep(ctx, min(s.cfg.ClaimTTL-age, time.Second)); err != nil {
					return cur, err
				}
				continue
			}
			cur.Attempts++
			cur.RequestedAt = time.Now().UTC()
			claimed, err := s.Save(ctx, cur)
			if errors.Is(err, ErrConflict) {
				continue
			}
			if err != nil {
				return cur, err
			}
			// The replica that requested before may hold the report's id and be recording it
			// right now (it lost the bus for longer than the claim): give it a moment.
			if err := sleep(ctx, min(s.cfg.ClaimTTL, 2*time.Second)); err != nil {
				return claimed, err
			}
			if now, err := s.Get(ctx, cur.Key); err != nil || now.ReportID != "" || now.Revision != claimed.Revision {
				continue
			}
			s.log.InfoContext(ctx, "taking over an unfinished report request", "job", cur.Key, "attempts", claimed.Attempts)
			if _, err := s.request(ctx, claimed, api); err != nil {
				return claimed, err
			}
		case Pending, Processing:
			if _, err := s.poll(ctx, cur, api, policy); err != nil && !errors.Is(err, ErrConflict) {
				return cur, err
			}
		case Completed:
			if cur.URLValid(time.Now(), s.cfg.URLMargin) {
				return cur, nil
			}
			fresh, err := s.RefreshURL(ctx, cur, api)
			if err != nil && !errors.Is(err, ErrConflict) {
				return cur, err
			}
			if err == nil && fresh.Status == Completed && fresh.URLValid(time.Now(), 0) {
				return fresh, nil // a url shorter-lived than the margin: use it at once
			}
		case Failed, Done:
			return cur, nil
		default:
			return cur, fmt.Errorf("job %s: unknown status %q", cur.Key, cur.Status)
		}
	}
}

// request sends the report request of a job claimed by this replica and records the id.
// The claim is a lease: while the request waits for a permit and runs, it is renewed
// every ClaimTTL/3, so a live replica keeps it however long the governor makes it wait,
// and a dead one loses it after ClaimTTL.
func (s *Store) request(ctx context.Context, j Job, api API) (Job, error) {
	var (
		mu   sync.Mutex
		held = j
	)
	stop := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(s.cfg.ClaimTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			mu.Lock()
			next := held
			next.RequestedAt = time.Now().UTC()
			if saved, err := s.Save(ctx, next); err == nil {
				held = saved
			} else {
				s.log.DebugContext(ctx, "renew report claim", "job", j.Key, "err", err)
			}
			mu.Unlock()
		}
	}()
	id, err := api.Request(ctx, j)
	close(stop)
	<-renewed
	j = held
	if err != nil {
		// Give the claim up so that the next attempt need not wait for ClaimTTL.
		j.RequestedAt = time.Time{}
		if _, serr := s.Save(context.WithoutCancel(ctx), j); serr != nil {
			s.log.DebugContext(ctx, "release report claim", "job", j.Key, "err", serr)
		}
		return j, fmt.Errorf("request report for job %s: %w", j.Key, err)
	}
	saved, err := s.record(ctx, j, id)
	if err != nil {
		return j, fmt.Errorf("record report %s of job %s: %w", id, j.Key, err)
	}
	s.log.DebugContext(ctx, "report requested", "job", j.Key, "report_id", id)
	return saved, nil
}

// record saves the id of a report just requested. The id exists nowhere else: losing it
// means requesting the report again. So a save that fails (the bus is down) is retried
// until the attempt ends, and a claim another replica took meanwhile, without an id of its
// own yet, is overwritten with this one.
func (s *Store) record(ctx context.Context, j Job, id string) (Job, error) {
	wait := 100 * time.Millisecond
	for {
		next := j
		next.ReportID, next.Status, next.Polls = id, Pending, 0
		next.URL, next.URLExpiresAt, next.FailureReason = "", time.Time{}, ""
		saved, err := s.Save(ctx, next)
		if err == nil {
			return saved, nil
		}
		if errors.Is(err, ErrConflict) {
			cur, gerr := s.Get(ctx, j.Key)
			if gerr == nil {
				if cur.ReportID != "" || cur.Status != Requesting {
					return cur, fmt.Errorf("%w: report %s of job %s lost to report %s of another replica", err, id, j.Key, cur.ReportID)
				}
				j = cur
				continue
			}
			err = gerr
		}
		s.log.WarnContext(ctx, "report id not recorded yet; retrying", "job", j.Key, "report_id", id, "err", err)
		if serr := sleep(ctx, wait); serr != nil {
			return j, errors.Join(err, serr)
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// poll waits the policy's interval, asks for the status and records it.
func (s *Store) poll(ctx context.Context, j Job, api API, policy PollPolicy) (Job, error) {
	if err := sleep(ctx, policy.Next(j.Polls)); err != nil {
		return j, err
	}
	return s.RefreshURL(ctx, j, api)
}

// RefreshURL asks for the report's status once and records it: a completed report's
// fresh download url, or its new status. Use it when a download finds its url expired.
func (s *Store) RefreshURL(ctx context.Context, j Job, api API) (Job, error) {
	rep, err := api.Status(ctx, j)
	if err != nil {
		return j, fmt.Errorf("status of report %s (job %s): %w", j.ReportID, j.Key, err)
	}
	j.Polls++
	j.Status = rep.Status
	j.URL, j.URLExpiresAt, j.FileSize, j.FailureReason = rep.URL, rep.URLExpiresAt.UTC(), rep.FileSize, rep.FailureReason
	if !rep.GeneratedAt.IsZero() {
		j.GeneratedAt = rep.GeneratedAt.UTC()
	}
	return s.Save(ctx, j)
}

// Retry turns a failed job into a new request: the next Await requests the report again.
// A provider calls it when the API failed a report and policy allows another attempt.
func (s *Store) Retry(ctx context.Context, j Job) (Job, error) {
	j.Status, j.ReportID, j.RequestedAt = Requesting, "", time.Time{}
	j.URL, j.URLExpiresAt, j.Polls, j.Downloads, j.PartsEmitted, j.RowsEmitted = "", time.Time{}, 0, 0, 0, 0
	j.GeneratedAt = time.Time{}
	return s.Save(ctx, j)
}

// Downloading records one more download attempt.
func (s *Store) Downloading(ctx context.Context, j Job) (Job, error) {
	j.Downloads++
	return s.Save(ctx, j)
}

// Progress records that the first rows rows of the report are published.
func (s *Store) Progress(ctx context.Context, j Job, rows int64) (Job, error) {
	if rows <= j.RowsEmitted {
		return j, nil
	}
	j.RowsEmitted = rows
	return s.Save(ctx, j)
}

// Finish marks the job Done: its report is downloaded and its rows rows all emitted.
func (s *Store) Finish(ctx context.Context, j Job, rows int64) (Job, error) {
	j.Status, j.RowsEmitted = Done, max(rows, j.RowsEmitted)
	j.URL = "" // the url is a credential; it is no longer needed
	return s.Save(ctx, j)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
