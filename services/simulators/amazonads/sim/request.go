package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // profile timezones on hosts without a zoneinfo database
)

// CreateReportContentType is the media type POST /reporting/reports requires.
const CreateReportContentType = "application/vnd.createasyncreportrequest.v3+json"

// FormatGzipJSON is the only report format.
const FormatGzipJSON = "GZIP_JSON"

// CreateReportRequest is the body of POST /reporting/reports.
type CreateReportRequest struct {
	Name          string               `json:"name,omitempty"`
	StartDate     string               `json:"startDate"`
	EndDate       string               `json:"endDate"`
	Configuration *ReportConfiguration `json:"configuration"`
}

// ReportConfiguration is the configuration of a v3 report, as sent and as
// echoed in report responses.
type ReportConfiguration struct {
	AdProduct    string   `json:"adProduct"`
	ReportTypeID string   `json:"reportTypeId"`
	GroupBy      []string `json:"groupBy"`
	Columns      []string `json:"columns"`
	TimeUnit     string   `json:"timeUnit"`
	Format       string   `json:"format"`
	Filters      []Filter `json:"filters"`
}

// Spec returns the part of the configuration that decides the rows.
func (c ReportConfiguration) Spec() ReportSpec {
	return ReportSpec{ReportTypeID: c.ReportTypeID, GroupBy: c.GroupBy, Columns: c.Columns,
		TimeUnit: c.TimeUnit, Filters: c.Filters}
}

// validRequest is a create request that passed validation.
type validRequest struct {
	name       string
	start, end day
	conf       ReportConfiguration
	plan       *plan
	// dupKey identifies "identical parameters" for duplicate detection: the
	// profile, the dates and the configuration with lists sorted. The name
	// is not part of it.
	dupKey string
}

// requestError is a create request that the API answers with 400; its text
// is the message of the answer.
type requestError struct{ msg string }

func (e *requestError) Error() string { return e.msg }

// parseCreate decodes and validates a create request for profile prof.
// Unknown fields are refused, so that a client's typo fails here rather than
// being silently ignored.
func parseCreate(body io.Reader, prof Profile, loc *time.Location, data DataConfig, now time.Time) (*validRequest, error) {
	bad := func(format string, args ...any) error {
		return &requestError{fmt.Sprintf(format, args...)}
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var req CreateReportRequest
	if err := dec.Decode(&req); err != nil {
		return nil, bad("malformed request body: %v", err)
	}
	if dec.More() {
		return nil, bad("malformed request body: data after the JSON object")
	}
	if req.StartDate == "" || req.EndDate == "" {
		return nil, bad("startDate and endDate are required")
	}
	start, err := parseDay(req.StartDate)
	if err != nil {
		return nil, bad("startDate: %v", err)
	}
	end, err := parseDay(req.EndDate)
	if err != nil {
		return nil, bad("endDate: %v", err)
	}
	if start > end {
		return nil, bad("startDate %s is after endDate %s", start, end)
	}
	if n := int(end-start) + 1; n > data.MaxRangeDays {
		return nil, bad("date range is %d days; the maximum is %d days", n, data.MaxRangeDays)
	}
	today := dayOf(now.In(loc))
	if end > today {
		return nil, bad("endDate %s is in the future (today is %s in %s)", end, today, prof.Timezone)
	}
	if data.RetentionDays > 0 && start < today-day(data.RetentionDays) {
		return nil, bad("startDate %s is beyond the data retention period of %d days", start, data.RetentionDays)
	}

	c := req.Configuration
	if c == nil {
		return nil, bad("configuration is required")
	}
	switch c.AdProduct {
	case AdSponsoredProducts, AdSponsoredBrands, AdSponsoredDisplay:
	case "":
		return nil, bad("configuration.adProduct is required")
	default:
		return nil, bad("configuration.adProduct %q must be one of %s, %s, %s",
			c.AdProduct, AdSponsoredProducts, AdSponsoredBrands, AdSponsoredDisplay)
	}
	if c.ReportTypeID == "" {
		return nil, bad("configuration.reportTypeId is required")
	}
	if rt, err := lookupReportType(c.ReportTypeID); err == nil && rt.adProduct != c.AdProduct {
		return nil, bad("reportTypeId %s requires adProduct %s, not %s", rt.id, rt.adProduct, c.AdProduct)
	}
	if len(c.GroupBy) == 0 {
		return nil, bad("configuration.groupBy is required")
	}
	if c.TimeUnit == "" {
		return nil, bad("configuration.timeUnit is required")
	}
	if c.Format != FormatGzipJSON {
		return nil, bad("configuration.format %q must be %s", c.Format, FormatGzipJSON)
	}
	p, err := compile(c.Spec())
	if err != nil {
		return nil, &requestError{err.Error()}
	}
	return &validRequest{
		name:   req.Name,
		start:  start,
		end:    end,
		conf:   *c,
		plan:   p,
		dupKey: duplicateKey(prof.ProfileID, start, end, *c),
	}, nil
}

func duplicateKey(profileID int64, start, end day, c ReportConfiguration) string {
	sorted := func(s []string) string { return strings.Join(slices.Sorted(slices.Values(s)), ",") }
	filters := make([]string, 0, len(c.Filters))
	for _, f := range c.Filters {
		filters = append(filters, f.Field+"="+sorted(f.Values))
	}
	return fmt.Sprintf("%d|%s|%s|%s|%s|%s|%s|%s|%s|%s", profileID, start, end, c.AdProduct, c.ReportTypeID,
		sorted(c.GroupBy), sorted(c.Columns), c.TimeUnit, c.Format, sorted(filters))
}

// profileLocation is the profile's timezone, or UTC if it cannot be loaded.
func profileLocation(p Profile) *time.Location {
	loc, err := time.LoadLocation(p.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}
