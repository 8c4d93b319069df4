package sim

import (
	"errors"
	"fmt"
	"iter"
	"time"
)

// ErrUnknownProfile is returned for a profile id that Profiles does not list.
var ErrUnknownProfile = errors.New("unknown profile")

// ErrAgencyProfile is returned when rows are asked for an agency profile,
// which cannot be reported on.
var ErrAgencyProfile = errors.New("agency profiles cannot be reported on")

// Rows returns the rows a DAILY report of reportTypeID with the given
// columns holds for one profile and one day (the calendar date of date in
// its own location), with the type's default groupBy (campaign for
// spCampaigns, adGroup for spAdGroups) and no filters. Values are int64
// (ids, counts), float64 (money with two decimals, rates) or string (names,
// statuses, dates as YYYY-MM-DD). columns must include "date".
func Rows(cfg Config, profileID int64, reportTypeID string, columns []string, date time.Time) ([]map[string]any, error) {
	spec := ReportSpec{ReportTypeID: reportTypeID, Columns: columns, TimeUnit: TimeUnitDaily}
	rows, err := ReportRows(cfg, profileID, spec, date, date)
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for r := range rows {
		out = append(out, r)
	}
	return out, nil
}

// ReportRows returns the rows of the report spec for one profile over the
// calendar dates from..to (both included), in the order the download file
// has them: day by day, then entity by entity for DAILY; entity by entity
// for SUMMARY. The sequence generates rows lazily and may be ranged over
// several times.
func ReportRows(cfg Config, profileID int64, spec ReportSpec, from, to time.Time) (iter.Seq[map[string]any], error) {
	p, err := compile(spec)
	if err != nil {
		return nil, err
	}
	prof, err := findProfile(cfg, profileID)
	if err != nil {
		return nil, err
	}
	start, end := dayOf(from), dayOf(to)
	if start > end {
		return nil, fmt.Errorf("%w: from %s is after to %s", ErrInvalidSpec, start, end)
	}
	return func(yield func(map[string]any) bool) {
		for r := range p.records(cfg, prof, start, end) {
			if !yield(p.rowMap(r)) {
				return
			}
		}
	}, nil
}

func findProfile(cfg Config, profileID int64) (Profile, error) {
	for _, p := range Profiles(cfg) {
		if p.ProfileID == profileID {
			if !p.Reportable() {
				return Profile{}, fmt.Errorf("profile %d: %w", profileID, ErrAgencyProfile)
			}
			return p, nil
		}
	}
	return Profile{}, fmt.Errorf("profile %d: %w", profileID, ErrUnknownProfile)
}

// rowMap turns a record into a row with the planned columns only.
func (p *plan) rowMap(r *record) map[string]any {
	row := make(map[string]any, len(p.columns))
	for _, c := range p.columns {
		row[c.name] = c.get(r).value()
	}
	return row
}

// records generates the planned rows of profile prof over start..end. The
// yielded record is reused: a consumer must not keep it.
func (p *plan) records(cfg Config, prof Profile, start, end day) iter.Seq[*record] {
	g := newEntityGen(cfg, prof)
	if p.summary {
		return p.summaryRecords(g, start, end)
	}
	return func(yield func(*record) bool) {
		var r record
		for d := start; d <= end; d++ {
			r.date = d.String()
			for ci := range g.campaigns {
				c := g.campaign(ci)
				if !p.campaignOK(&c) {
					continue
				}
				r.campaign = &c
				if !p.adGroupLevel {
					r.adGroup, r.m = nil, metrics{}
					for ai := range g.adGroups {
						a := g.adGroup(&c, ai)
						m := adGroupDay(&a, d)
						r.m.add(&m)
					}
					if !yield(&r) {
						return
					}
					continue
				}
				for ai := range g.adGroups {
					a := g.adGroup(&c, ai)
					if !p.adGroupOK(&a) {
						continue
					}
					r.adGroup, r.m = &a, adGroupDay(&a, d)
					if !yield(&r) {
						return
					}
				}
			}
		}
	}
}

// summaryRecords yields one record per entity with its metrics summed over
// start..end.
func (p *plan) summaryRecords(g entityGen, start, end day) iter.Seq[*record] {
	return func(yield func(*record) bool) {
		r := record{startDate: start.String(), endDate: end.String()}
		for ci := range g.campaigns {
			c := g.campaign(ci)
			if !p.campaignOK(&c) {
				continue
			}
			r.campaign, r.adGroup, r.m = &c, nil, metrics{}
			for ai := range g.adGroups {
				a := g.adGroup(&c, ai)
				if p.adGroupLevel {
					if !p.adGroupOK(&a) {
						continue
					}
					r.adGroup, r.m = &a, metrics{}
				}
				for d := start; d <= end; d++ {
					m := adGroupDay(&a, d)
					r.m.add(&m)
				}
				if p.adGroupLevel && !yield(&r) {
					return
				}
			}
			if !p.adGroupLevel && !yield(&r) {
				return
			}
		}
	}
}
