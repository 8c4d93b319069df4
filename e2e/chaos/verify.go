package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/services/extractor/providers/amazonads"
	"github.com/sluice-dev/sluice/services/simulators/amazonads/sim"
)

// rowKey is a row's primary key: profile, entity (campaign or ad group) and day.
type rowKey struct {
	Table   string
	Profile int64
	Entity  int64
	Day     string
}

// entityColumn names the entity of each report type, in the simulator's and the table's
// spelling.
var entityColumn = map[string][2]string{
	amazonads.ReportSPCampaigns: {"campaignId", "campaign_id"},
	amazonads.ReportSPAdGroups:  {"adGroupId", "ad_group_id"},
}

// Expected returns the checksum of every row the simulator generated for the trial's
// window, by primary key, and the number of reports a run requests (profiles × report
// types × windows).
func (p *Pipeline) Expected() (map[rowKey]uint64, int64, error) {
	want := map[rowKey]uint64{}
	reportable := 0
	for _, prof := range sim.Profiles(p.SimCfg) {
		if !prof.Reportable() {
			continue
		}
		reportable++
		for rt, table := range tablesOf {
			spec := sim.ReportSpec{ReportTypeID: rt, Columns: amazonads.Columns(rt), TimeUnit: sim.TimeUnitDaily}
			rows, err := sim.ReportRows(p.SimCfg, prof.ProfileID, spec, p.From, p.To)
			if err != nil {
				return nil, 0, err
			}
			for r := range rows {
				k := rowKey{Table: table, Profile: prof.ProfileID, Entity: r[entityColumn[rt][0]].(int64), Day: r["date"].(string)}
				if _, dup := want[k]; dup {
					return nil, 0, fmt.Errorf("simulator generated key %+v twice", k)
				}
				want[k] = sim.RowChecksum(r)
			}
		}
	}
	days := int(p.To.Sub(p.From).Hours()/24) + 1
	windows := (days + 30) / 31
	return want, int64(reportable * len(tablesOf) * windows), nil
}

// Loaded counts the rows of both tables (a missing table counts as empty).
func (p *Pipeline) Loaded(ctx context.Context) (int64, error) {
	conn, err := pgx.Connect(ctx, p.PGURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var total int64
	for _, table := range tablesOf {
		var n int64
		err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
			continue
		}
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// Exactness is the comparison of PostgreSQL with the simulator.
type Exactness struct {
	Expected int `json:"expected"`
	Loaded   int `json:"loaded"`
	// Lost: expected keys absent. Duplicated: extra copies of a key (a table without its
	// primary key), plus rows whose key the simulator never generated. Wrong: present
	// with other values than generated.
	Lost       int `json:"lost"`
	Duplicated int `json:"duplicated"`
	Wrong      int `json:"wrong"`
	// ReportsExpected and ReportsCreated compare the reports the simulator created with
	// the run's tasks; ReportsTwice is the excess.
	ReportsExpected int64 `json:"reports_expected"`
	ReportsCreated  int64 `json:"reports_created"`
	ReportsTwice    int64 `json:"reports_twice"`
	// ReportsOrphaned are reports an extractor created and was killed before it recorded
	// their ids (see orphanedByKills); they are not counted as requested twice.
	ReportsOrphaned int64 `json:"reports_orphaned"`
	// DLQ is the number of messages on the DLQ stream.
	DLQ uint64 `json:"dlq"`
	// Samples name a few lost or wrong keys.
	Samples []string `json:"samples,omitempty"`
}

// Exact reports whether nothing was lost, duplicated, altered or requested twice.
func (e Exactness) Exact() bool {
	return e.Lost == 0 && e.Duplicated == 0 && e.Wrong == 0 && e.ReportsTwice == 0
}

func (e Exactness) String() string {
	orphaned := ""
	if e.ReportsOrphaned > 0 {
		orphaned = fmt.Sprintf(", %d orphaned by kill -9", e.ReportsOrphaned)
	}
	return fmt.Sprintf("rows %d/%d, lost %d, duplicated %d, wrong %d, reports %d/%d (twice %d%s), dlq %d",
		e.Loaded, e.Expected, e.Lost, e.Duplicated, e.Wrong, e.ReportsCreated, e.ReportsExpected, e.ReportsTwice, orphaned, e.DLQ)
}

// Verify compares every loaded row with the simulator's rows.
func (p *Pipeline) Verify(ctx context.Context) (Exactness, error) {
	want, tasks, err := p.Expected()
	if err != nil {
		return Exactness{}, err
	}
	ex := Exactness{Expected: len(want), ReportsExpected: tasks}
	conn, err := pgx.Connect(ctx, p.PGURL)
	if err != nil {
		return ex, err
	}
	defer conn.Close(ctx)
	seen := map[rowKey]int{}
	for rt, table := range tablesOf {
		cols := map[string]bool{}
		for _, c := range amazonads.Columns(rt) {
			cols[normalize(c)] = true
		}
		rows, err := conn.Query(ctx, "SELECT row_to_json(t)::text FROM "+table+" t")
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
			continue
		}
		if err != nil {
			return ex, err
		}
		for rows.Next() {
			var text string
			if err := rows.Scan(&text); err != nil {
				rows.Close()
				return ex, err
			}
			dec := json.NewDecoder(strings.NewReader(text))
			dec.UseNumber()
			var row map[string]any
			if err := dec.Decode(&row); err != nil {
				rows.Close()
				return ex, err
			}
			ex.Loaded++
			k, err := keyOf(table, entityColumn[rt][1], row)
			if err != nil {
				rows.Close()
				return ex, err
			}
			seen[k]++
			vals := map[string]any{}
			for c, v := range row {
				if cols[normalize(c)] {
					vals[c] = v
				}
			}
			sum, ok := want[k]
			switch {
			case !ok:
				ex.Duplicated++
				ex.sample("unexpected %+v", k)
			case seen[k] > 1:
				ex.Duplicated++
				ex.sample("duplicated %+v", k)
			case sim.RowChecksum(vals) != sum:
				ex.Wrong++
				ex.sample("wrong values %+v: %s", k, text)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return ex, err
		}
	}
	for k := range want {
		if seen[k] == 0 {
			ex.Lost++
			ex.sample("lost %+v", k)
		}
	}
	ex.ReportsCreated = p.Sim.Stats().ReportsCreated
	ex.ReportsTwice = max(0, ex.ReportsCreated-ex.ReportsExpected)
	if s, err := p.JS.Stream(ctx, bus.StreamDLQ); err == nil {
		ex.DLQ = s.CachedInfo().State.Msgs
	}
	return ex, nil
}

func (e *Exactness) sample(format string, args ...any) {
	if len(e.Samples) < 8 {
		e.Samples = append(e.Samples, fmt.Sprintf(format, args...))
	}
}

func keyOf(table, entityCol string, row map[string]any) (rowKey, error) {
	k := rowKey{Table: table}
	var err error
	if k.Profile, err = asInt(row["profile_id"]); err != nil {
		return k, fmt.Errorf("%s profile_id: %w", table, err)
	}
	if k.Entity, err = asInt(row[entityCol]); err != nil {
		return k, fmt.Errorf("%s %s: %w", table, entityCol, err)
	}
	d, _ := row["date"].(string)
	if len(d) < 10 {
		return k, fmt.Errorf("%s date %v", table, row["date"])
	}
	k.Day = d[:10]
	return k, nil
}

func asInt(v any) (int64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("%v is not a number", v)
	}
	return n.Int64()
}

func normalize(k string) string { return strings.ToLower(strings.ReplaceAll(k, "_", "")) }

// Idle reports whether every stage's consumer has nothing pending and nothing in flight,
// and describes what is left otherwise.
func (p *Pipeline) Idle(ctx context.Context) (bool, string, error) {
	idle := true
	var left []string
	for _, stream := range []string{bus.StreamTasks, bus.StreamRaw, bus.StreamStaged, bus.StreamRows} {
		s, err := p.JS.Stream(ctx, stream)
		if err != nil {
			return false, "", err
		}
		lister := s.ListConsumers(ctx)
		n := 0
		for ci := range lister.Info() {
			n++
			if ci.NumPending > 0 || ci.NumAckPending > 0 {
				idle = false
				left = append(left, fmt.Sprintf("%s/%s pending %d in flight %d", stream, ci.Name, ci.NumPending, ci.NumAckPending))
			}
		}
		if err := lister.Err(); err != nil && !errors.Is(err, jetstream.ErrEndOfData) {
			return false, "", err
		}
		if n == 0 && s.CachedInfo().State.Msgs > 0 {
			idle = false
			left = append(left, stream+" has no consumer yet")
		}
	}
	return idle, strings.Join(left, "; "), nil
}

// WaitQuiet waits until the pipeline has loaded every expected row and is idle, or has been
// idle with no new rows for settle, or timeout passes. It returns the last state seen.
func (p *Pipeline) WaitQuiet(ctx context.Context, want int64, settle, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	var last int64 = -1
	lastChange := time.Now()
	state := ""
	for {
		qctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		n, nerr := p.Loaded(qctx)
		idle, left, ierr := p.Idle(qctx)
		cancel()
		if nerr == nil && n != last {
			last, lastChange = n, time.Now()
		}
		state = fmt.Sprintf("loaded %d/%d; %s", last, want, left)
		if ierr != nil {
			state += fmt.Sprintf("; consumer info: %v", ierr)
		}
		if nerr == nil && ierr == nil && idle && (n == want || time.Since(lastChange) > settle) {
			return state, nil
		}
		if time.Now().After(deadline) {
			return state, fmt.Errorf("not quiet after %v: %s", timeout, state)
		}
		select {
		case <-ctx.Done():
			return state, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
