package sim

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Checksum definition (stable; other modules reproduce it from loaded rows):
//
//  1. A row is a map from column name to value. Names are matched to the
//     simulator's columns ignoring case and underscores (campaign_id matches
//     campaignId); unknown names (lineage columns, load timestamps) and nil
//     values are skipped.
//  2. Each value is rendered canonically by the column's type:
//     integers in decimal (158410630682987); decimals with
//     strconv.FormatFloat(v, 'f', -1, 64), the shortest form that
//     round-trips (14.5, 0.0123, 3 for 3.00); dates as YYYY-MM-DD; text as
//     is. Numbers may arrive as any Go integer or float type, json.Number,
//     string ("14.50") or driver.Valuer; dates as time.Time or a string
//     starting with YYYY-MM-DD.
//  3. The canonical row is "name=value\n" for each field, names in the
//     simulator's spelling, sorted by name.
//  4. RowChecksum is FNV-1a 64 of the canonical row; a Summary's Checksum is
//     the sum of its rows' checksums modulo 2^64, so it ignores row order.

// RowChecksum returns the checksum of one row (see the definition above).
func RowChecksum(row map[string]any) uint64 {
	type field struct{ name, value string }
	fields := make([]field, 0, len(row))
	for k, v := range row {
		c, ok := columnsByKey[normalizeKey(k)]
		if !ok || v == nil {
			continue
		}
		fields = append(fields, field{c.name, canonical(c.kind, v)})
	}
	slices.SortFunc(fields, func(a, b field) int {
		if n := strings.Compare(a.name, b.name); n != 0 {
			return n
		}
		return strings.Compare(a.value, b.value)
	})
	h := fnv.New64a()
	var buf []byte
	for _, f := range fields {
		buf = append(append(append(append(buf[:0], f.name...), '='), f.value...), '\n')
		h.Write(buf)
	}
	return h.Sum64()
}

// Summary is the row count and order-independent checksum of a set of rows.
type Summary struct {
	Rows     int64  `json:"rows"`
	Checksum uint64 `json:"checksum"`
}

// Add accounts for one row.
func (s *Summary) Add(row map[string]any) {
	s.Rows++
	s.Checksum += RowChecksum(row)
}

// Merge accounts for the rows of o.
func (s *Summary) Merge(o Summary) {
	s.Rows += o.Rows
	s.Checksum += o.Checksum
}

// Expected returns the Summary of DAILY reports of reportTypeID with the
// given columns (default groupBy, no filters) over every reportable profile
// of profiles and every day from..to: what a pipeline that loaded all of
// them holds. Agency profiles are skipped, as they cannot be reported on.
func Expected(cfg Config, profiles []Profile, reportTypeID string, columns []string, from, to time.Time) (Summary, error) {
	spec := ReportSpec{ReportTypeID: reportTypeID, Columns: columns, TimeUnit: TimeUnitDaily}
	return ExpectedReport(cfg, profiles, spec, from, to)
}

// ExpectedReport is Expected for any ReportSpec. For SUMMARY it is the
// summary of one report per profile covering from..to.
func ExpectedReport(cfg Config, profiles []Profile, spec ReportSpec, from, to time.Time) (Summary, error) {
	p, err := compile(spec)
	if err != nil {
		return Summary{}, err
	}
	start, end := dayOf(from), dayOf(to)
	if start > end {
		return Summary{}, fmt.Errorf("%w: from %s is after to %s", ErrInvalidSpec, start, end)
	}
	var s Summary
	for _, prof := range profiles {
		if !prof.Reportable() {
			continue
		}
		for r := range p.records(cfg, prof, start, end) {
			s.Rows++
			s.Checksum += p.checksum(r)
		}
	}
	return s, nil
}

// checksum is RowChecksum(p.rowMap(r)) without building the map.
func (p *plan) checksum(r *record) uint64 {
	h := fnv.New64a()
	var buf []byte
	for _, c := range p.sorted {
		buf = append(buf[:0], c.name...)
		buf = append(buf, '=')
		buf = appendCanonical(buf, c.get(r))
		buf = append(buf, '\n')
		h.Write(buf)
	}
	return h.Sum64()
}

func appendCanonical(dst []byte, c cell) []byte {
	switch c.kind {
	case kindInt:
		return strconv.AppendInt(dst, c.i, 10)
	case kindDecimal:
		return appendDecimal(dst, c.f)
	default:
		return append(dst, c.s...)
	}
}

func appendDecimal(dst []byte, f float64) []byte {
	if f == 0 {
		f = 0 // no "-0"
	}
	return strconv.AppendFloat(dst, f, 'f', -1, 64)
}

// columnsByKey indexes the catalogue by normalized name; read-only.
var columnsByKey = func() map[string]*column {
	m := make(map[string]*column, len(spCatalogue))
	for _, c := range spCatalogue {
		m[normalizeKey(c.name)] = c
	}
	return m
}()

func normalizeKey(k string) string {
	return strings.ToLower(strings.ReplaceAll(k, "_", ""))
}

// canonical renders v by column kind k; see the checksum definition.
func canonical(k kind, v any) string {
	if dv, ok := v.(driver.Valuer); ok {
		if x, err := dv.Value(); err == nil && x != nil {
			v = x
		}
	}
	switch k {
	case kindInt, kindDecimal:
		if f, ok := toFloat(v); ok {
			if k == kindInt && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
				if i, ok := toInt(v); ok {
					return strconv.FormatInt(i, 10)
				}
				return strconv.FormatInt(int64(f), 10)
			}
			return string(appendDecimal(nil, f))
		}
	case kindDate:
		switch t := v.(type) {
		case time.Time:
			return t.Format(DateLayout)
		case string:
			if len(t) >= 10 {
				if _, err := time.Parse(DateLayout, t[:10]); err == nil {
					return t[:10]
				}
			}
		}
	}
	switch t := v.(type) {
	case string:
		return t
	case []byte:
		return string(t)
	case fmt.Stringer:
		return t.String()
	default:
		return fmt.Sprint(v)
	}
}

// toInt returns v as an exact int64 when it is an integer type or an
// integer string, so ids beyond 2^53 keep every digit.
func toInt(v any) (int64, bool) {
	switch t := v.(type) {
	case int:
		return int64(t), true
	case int8:
		return int64(t), true
	case int16:
		return int64(t), true
	case int32:
		return int64(t), true
	case int64:
		return t, true
	case uint:
		return int64(t), true
	case uint8:
		return int64(t), true
	case uint16:
		return int64(t), true
	case uint32:
		return int64(t), true
	case uint64:
		return int64(t), true
	case json.Number:
		i, err := t.Int64()
		return i, err == nil
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
		return i, err == nil
	case []byte:
		i, err := strconv.ParseInt(strings.TrimSpace(string(t)), 10, 64)
		return i, err == nil
	}
	return 0, false
}

// toFloat returns v as a float64 when it is a number or a numeric string.
func toFloat(v any) (float64, bool) {
	if i, ok := toInt(v); ok {
		return float64(i), true
	}
	switch t := v.(type) {
	case float64:
		return t, true
	case float32:
		// Through its shortest decimal form, so float32(0.1) counts as 0.1.
		f, err := strconv.ParseFloat(strconv.FormatFloat(float64(t), 'g', -1, 32), 64)
		return f, err == nil
	case json.Number:
		f, err := t.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
		return f, err == nil
	case []byte:
		f, err := strconv.ParseFloat(strings.TrimSpace(string(t)), 64)
		return f, err == nil
	}
	return 0, false
}
