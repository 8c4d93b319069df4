package sim

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Time units of a report configuration.
const (
	TimeUnitDaily   = "DAILY"
	TimeUnitSummary = "SUMMARY"
)

// ReportSpec is the part of a v3 report configuration that decides which
// rows a report holds and which keys they have.
type ReportSpec struct {
	ReportTypeID string   `json:"reportTypeId"`
	GroupBy      []string `json:"groupBy"`
	Columns      []string `json:"columns"`
	TimeUnit     string   `json:"timeUnit"`
	Filters      []Filter `json:"filters,omitempty"`
}

// Filter keeps the rows whose Field (campaignStatus or adStatus) is one of
// Values (ENABLED, PAUSED, ARCHIVED).
type Filter struct {
	Field  string   `json:"field"`
	Values []string `json:"values"`
}

// ErrInvalidSpec is wrapped by every validation error of a ReportSpec.
var ErrInvalidSpec = errors.New("invalid report configuration")

// plan is a validated ReportSpec ready to generate rows.
type plan struct {
	spec         ReportSpec
	adGroupLevel bool
	summary      bool
	columns      []*column
	sorted       []*column // columns sorted by name, for checksums
	campaignOK   func(*campaign) bool
	adGroupOK    func(*adGroup) bool
}

// Validate reports the first problem of the spec, the way the API answers
// HTTP 400.
func (s ReportSpec) Validate() error {
	_, err := compile(s)
	return err
}

// compile validates s. An empty GroupBy means the report type's first
// groupBy and an empty TimeUnit means DAILY.
func compile(s ReportSpec) (*plan, error) {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidSpec, fmt.Sprintf(format, args...))
	}
	rt, err := lookupReportType(s.ReportTypeID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	p := &plan{spec: s, campaignOK: func(*campaign) bool { return true }, adGroupOK: func(*adGroup) bool { return true }}
	groupBy := s.GroupBy
	if len(groupBy) == 0 {
		groupBy = rt.groupBys[:1]
	}
	for i, g := range groupBy {
		if !slices.Contains(rt.groupBys, g) {
			return nil, invalid("groupBy %q is not valid for %s (valid: %v)", g, rt.id, rt.groupBys)
		}
		if slices.Contains(groupBy[:i], g) {
			return nil, invalid("groupBy %q appears twice", g)
		}
		if slices.Contains(rt.adGroupLevel, g) {
			p.adGroupLevel = true
		}
	}

	switch s.TimeUnit {
	case TimeUnitDaily, "":
	case TimeUnitSummary:
		p.summary = true
	default:
		return nil, invalid("timeUnit %q must be %s or %s", s.TimeUnit, TimeUnitDaily, TimeUnitSummary)
	}

	if len(s.Columns) == 0 {
		return nil, invalid("columns must not be empty")
	}
	for i, name := range s.Columns {
		c, ok := rt.columns[name]
		if !ok {
			return nil, invalid("column %q is not valid for %s", name, rt.id)
		}
		if slices.Contains(s.Columns[:i], name) {
			return nil, invalid("column %q appears twice", name)
		}
		switch {
		case c.scope == scopeAdGroup && !p.adGroupLevel:
			return nil, invalid("column %q requires groupBy adGroup", name)
		case c.scope == scopeDaily && p.summary:
			return nil, invalid("column %q is not valid with timeUnit SUMMARY (use startDate and endDate)", name)
		case c.scope == scopeSummary && !p.summary:
			return nil, invalid("column %q is not valid with timeUnit DAILY (use date)", name)
		}
		p.columns = append(p.columns, c)
	}
	p.sorted = slices.Clone(p.columns)
	slices.SortFunc(p.sorted, func(a, b *column) int { return strings.Compare(a.name, b.name) })
	if !p.summary && !slices.Contains(s.Columns, "date") {
		return nil, invalid("timeUnit DAILY requires the date column")
	}

	for _, f := range s.Filters {
		if len(f.Values) == 0 {
			return nil, invalid("filter %q has no values", f.Field)
		}
		for _, v := range f.Values {
			if v != StatusEnabled && v != StatusPaused && v != StatusArchived {
				return nil, invalid("filter %q value %q must be ENABLED, PAUSED or ARCHIVED", f.Field, v)
			}
		}
		values := slices.Clone(f.Values)
		switch f.Field {
		case "campaignStatus":
			prev := p.campaignOK
			p.campaignOK = func(c *campaign) bool { return prev(c) && slices.Contains(values, c.status) }
		case "adStatus":
			if !p.adGroupLevel {
				return nil, invalid("filter adStatus requires groupBy adGroup")
			}
			prev := p.adGroupOK
			p.adGroupOK = func(a *adGroup) bool { return prev(a) && slices.Contains(values, a.status) }
		default:
			return nil, invalid("filter field %q must be campaignStatus or adStatus", f.Field)
		}
	}
	return p, nil
}
