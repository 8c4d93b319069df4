// Package jobs tracks asynchronous report jobs (request a report, poll until it is ready,
// download it) in the sluice-jobs key-value bucket, so that any replica can resume a job
// another one started: a restarted extractor resumes polling the report it requested and
// never requests the same report twice.
//
// The protocol (Store.Await) claims a job with an atomic create before the report is
// requested, records the report id as soon as the provider returns it, polls the status
// with jittered, growing intervals, and refreshes an expired download url through the
// status call. Every state change is a compare-and-set on the entry's revision, so two
// replicas that run the same task at once cannot both request the report.
package jobs

import (
	"time"
)

// Status is where a job is.
type Status string

// Job statuses. Pending, Processing, Completed and Failed mirror a report API's statuses;
// Requesting and Done are the SDK's own.
const (
	// Requesting: claimed by a replica that is requesting the report; no report id yet.
	Requesting Status = "REQUESTING"
	Pending    Status = "PENDING"
	Processing Status = "PROCESSING"
	// Completed: the report is ready; URL holds its download address until URLExpiresAt.
	Completed Status = "COMPLETED"
	// Failed: the provider gave up on the report (FailureReason says why).
	Failed Status = "FAILED"
	// Done: the report was downloaded and every record emitted.
	Done Status = "DONE"
)

// Terminal reports whether nothing more will happen to a job in status s without a new
// request.
func (s Status) Terminal() bool { return s == Failed || s == Done }

// Job is one report request, as stored in the sluice-jobs bucket (JSON).
type Job struct {
	Provider string `json:"provider"`
	RunID    string `json:"run_id"`
	// Profile, ReportType, WindowStart and WindowEnd say which report: the account it is
	// for, its type and its date range (YYYY-MM-DD, both included).
	Profile     string `json:"profile"`
	ReportType  string `json:"report_type"`
	WindowStart string `json:"window_start"`
	WindowEnd   string `json:"window_end"`

	ReportID string `json:"report_id,omitempty"`
	Status   Status `json:"status"`
	// URL and URLExpiresAt locate the finished report; an expired url is refreshed
	// through the status call.
	URL           string    `json:"url,omitempty"`
	URLExpiresAt  time.Time `json:"url_expires_at,omitzero"`
	FileSize      int64     `json:"file_size,omitempty"`
	FailureReason string    `json:"failure_reason,omitempty"`

	// Attempts counts report requests sent for this job (a retry after a crash between
	// the request and recording its id counts again; the API's duplicate answer then
	// names the existing report). Polls counts status calls; the polling interval grows
	// with it, also across restarts. Downloads counts download attempts.
	Attempts  int `json:"attempts"`
	Polls     int `json:"polls"`
	Downloads int `json:"downloads,omitempty"`
	// RowsEmitted is how many rows, from the start of the report file, are known to be
	// published, so a resumed download skips exactly them. It counts rows, not records:
	// records are cut by configurable chunking, and a count of records made with another
	// chunking (a rollout between a crash and the resume) would skip unpublished rows.
	RowsEmitted int64 `json:"rows_emitted,omitempty"`
	// PartsEmitted is what extractors before RowsEmitted recorded: records of a chunking
	// that may since have changed. It is read but not trusted: such a job resumes from its
	// first row, and the rows published twice collapse by primary key at load.
	//
	// Deprecated: use RowsEmitted.
	PartsEmitted int `json:"parts_emitted,omitempty"`
	// GeneratedAt is when the provider produced the report's data (see Report), the data
	// version of its records; zero when the API does not say.
	GeneratedAt time.Time `json:"generated_at,omitzero"`

	// RequestedAt is when the current claim to request the report was taken; a claim
	// older than Config.ClaimTTL without a report id is taken over.
	RequestedAt time.Time `json:"requested_at,omitzero"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`

	// Key is the job's key in the bucket and Revision the revision it was read at.
	Key      string `json:"-"`
	Revision uint64 `json:"-"`
	// readStatus is the status the job had when read, to count status changes.
	readStatus Status
}

// URLValid reports whether the job's download url is still usable at now, with margin
// to spare.
func (j Job) URLValid(now time.Time, margin time.Duration) bool {
	return j.URL != "" && (j.URLExpiresAt.IsZero() || now.Add(margin).Before(j.URLExpiresAt))
}
