package amazonads

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/sluice-dev/sluice/internal/apiclient"
	"github.com/sluice-dev/sluice/internal/redact"
	"github.com/sluice-dev/sluice/services/extractor/provider/jobs"
)

// Media type of v3 report requests.
const createContentType = "application/vnd.createasyncreportrequest.v3+json"

// errReportGone: the API no longer knows the report (expired, or another account's).
var errReportGone = errors.New("report not found")

// duplicateRe finds the existing report id in a 425 answer ("… duplicate of : <id>").
var duplicateRe = regexp.MustCompile(`duplicate of\s*:\s*([A-Za-z0-9._-]+)`)

// api makes the provider's calls through the governed client.
type api struct {
	base   string
	client *apiclient.Client
	routes map[string]string
}

// profile is an advertiser profile of GET /v2/profiles.
type profile struct {
	ProfileID    int64  `json:"profileId"`
	CountryCode  string `json:"countryCode"`
	CurrencyCode string `json:"currencyCode"`
	Timezone     string `json:"timezone"`
	AccountInfo  struct {
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"accountInfo"`
}

// getJSON sends req and decodes a JSON answer into v.
func (a *api) getJSON(ctx context.Context, req *http.Request, v any, opts ...apiclient.CallOption) error {
	resp, err := a.client.Do(ctx, req, opts...)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(v); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

// profiles lists the advertiser profiles.
func (a *api) profiles(ctx context.Context) ([]profile, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/v2/profiles", nil)
	if err != nil {
		return nil, err
	}
	var out []profile
	if err := a.getJSON(ctx, req, &out, apiclient.WithQuota(a.routes[ClassProfiles])); err != nil {
		return nil, fmt.Errorf("list profiles: %w", err)
	}
	return out, nil
}

// reportAPI is the jobs.API of one task's report.
type reportAPI struct {
	*api
	profile string
	report  report
	name    string
}

type createBody struct {
	Name          string       `json:"name"`
	StartDate     string       `json:"startDate"`
	EndDate       string       `json:"endDate"`
	Configuration reportConfig `json:"configuration"`
}

type reportConfig struct {
	AdProduct    string   `json:"adProduct"`
	ReportTypeID string   `json:"reportTypeId"`
	GroupBy      []string `json:"groupBy"`
	Columns      []string `json:"columns"`
	TimeUnit     string   `json:"timeUnit"`
	Format       string   `json:"format"`
}

type reportAnswer struct {
	ReportID      string  `json:"reportId"`
	Status        string  `json:"status"`
	URL           *string `json:"url"`
	URLExpiresAt  *string `json:"urlExpiresAt"`
	FileSize      *int64  `json:"fileSize"`
	FailureReason *string `json:"failureReason"`
	// GeneratedAt and UpdatedAt date the report; a completed report's data is as of
	// generatedAt, or of its last status change (completion) when the API omits it.
	GeneratedAt *string `json:"generatedAt"`
	UpdatedAt   *string `json:"updatedAt"`
}

func (r *reportAPI) scoped(req *http.Request) *http.Request {
	req.Header.Set("Amazon-Advertising-API-Scope", r.profile)
	req.Header.Set("Accept", "application/json")
	return req
}

// Request creates the report; a 425 duplicate answer yields the existing report's id.
func (r *reportAPI) Request(ctx context.Context, j jobs.Job) (string, error) {
	body, err := json.Marshal(createBody{
		Name: r.name, StartDate: j.WindowStart, EndDate: j.WindowEnd,
		Configuration: reportConfig{AdProduct: r.report.adProduct, ReportTypeID: r.report.typeID,
			GroupBy: r.report.groupBy, Columns: r.report.columns, TimeUnit: "DAILY", Format: "GZIP_JSON"},
	})
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+"/reporting/reports", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", createContentType)
	var ans reportAnswer
	err = r.getJSON(ctx, r.scoped(req), &ans, apiclient.WithQuota(r.routes[ClassCreate]), apiclient.WithKey(r.profile))
	var se *apiclient.StatusError
	if errors.As(err, &se) && se.StatusCode == http.StatusTooEarly {
		if m := duplicateRe.FindSubmatch(se.Body); m != nil {
			return string(m[1]), nil
		}
		return "", fmt.Errorf("create report: 425 without a report id: %w", err)
	}
	if err != nil {
		return "", fmt.Errorf("create report: %w", classify(err))
	}
	if ans.ReportID == "" {
		return "", errors.New("create report: answer without reportId")
	}
	return ans.ReportID, nil
}

// Status fetches the report's status, with a fresh url once it is completed.
func (r *reportAPI) Status(ctx context.Context, j jobs.Job) (jobs.Report, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+"/reporting/reports/"+j.ReportID, nil)
	if err != nil {
		return jobs.Report{}, err
	}
	var ans reportAnswer
	err = r.getJSON(ctx, r.scoped(req), &ans, apiclient.WithQuota(r.routes[ClassStatus]), apiclient.WithKey(r.profile))
	var se *apiclient.StatusError
	if errors.As(err, &se) && se.StatusCode == http.StatusNotFound {
		return jobs.Report{}, fmt.Errorf("%w: %s: %w", errReportGone, j.ReportID, err)
	}
	if err != nil {
		return jobs.Report{}, classify(err)
	}
	out := jobs.Report{Status: jobs.Status(ans.Status)}
	switch out.Status {
	case jobs.Pending, jobs.Processing, jobs.Failed:
	case jobs.Completed:
		if ans.URL == nil || *ans.URL == "" {
			return out, fmt.Errorf("report %s: COMPLETED without url", j.ReportID)
		}
		out.URL = *ans.URL
	default:
		return out, fmt.Errorf("report %s: unknown status %q", j.ReportID, ans.Status)
	}
	if ans.URLExpiresAt != nil {
		if t, err := time.Parse(time.RFC3339, *ans.URLExpiresAt); err == nil {
			out.URLExpiresAt = t
		}
	}
	if ans.FileSize != nil {
		out.FileSize = *ans.FileSize
	}
	if ans.FailureReason != nil {
		out.FailureReason = *ans.FailureReason
	}
	if out.Status == jobs.Completed {
		out.GeneratedAt = generatedAt(ans)
	}
	return out, nil
}

// generatedAt is the time a completed report's data is as of: generatedAt, else
// updatedAt (the completion), else zero (the loader then orders by extraction time).
func generatedAt(ans reportAnswer) time.Time {
	for _, s := range []*string{ans.GeneratedAt, ans.UpdatedAt} {
		if s == nil {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, *s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// download opens the report file at url.
func (r *reportAPI) download(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		// The parse error quotes the pre-signed URL.
		return nil, fmt.Errorf("download url: %w", redact.Error(err))
	}
	// The url comes from the API's answer: only the declared download hosts.
	return r.client.Do(ctx, req, apiclient.WithQuota(r.routes[ClassDownload]), apiclient.WithHost(downloadHost), apiclient.Untrusted())
}

// classify marks answers that retrying cannot fix as permanent.
func classify(err error) error {
	var se *apiclient.StatusError
	if errors.As(err, &se) && !se.Temporary() && se.StatusCode != http.StatusUnauthorized {
		return fmt.Errorf("%w: %w", errPermanent, err)
	}
	return err
}

// contentLength is the declared size of a response, or -1.
func contentLength(resp *http.Response) int64 {
	if resp.ContentLength >= 0 {
		return resp.ContentLength
	}
	if n, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64); err == nil {
		return n
	}
	return -1
}
