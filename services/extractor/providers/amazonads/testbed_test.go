package amazonads_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/servicetest"
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/jobs"
	"github.com/sluice-dev/sluice/services/extractor/providers/amazonads"
	"github.com/sluice-dev/sluice/services/simulators/amazonads/sim"
)

// testbed runs the provider in process against an in-process simulator, with its jobs
// in a private NATS server.
type testbed struct {
	t    *testing.T
	sim  *sim.Server
	scfg sim.Config
	url  string
	js   jetstream.JetStream
	jobs *jobs.Store
	env  map[string]string
}

// smallSim is a quick simulator: few profiles and entities, reports ready in
// milliseconds, no faults or throttling unless the test sets them.
func smallSim() sim.Config {
	c := sim.DefaultConfig()
	c.Profiles.Count, c.Profiles.AgencyShare = 4, 0.25
	c.Data.CampaignsPerProfile, c.Data.AdGroupsPerCampaign = 2, 2
	c.Reports.LatencyMedian, c.Reports.LatencyMax = 30*time.Millisecond, 200*time.Millisecond
	c.Reports.StuckRate, c.Reports.FailureRate = 0, 0
	return c
}

func newTestbed(t *testing.T, scfg sim.Config) *testbed {
	t.Helper()
	_, js := servicetest.JetStream(t)
	srv, err := sim.New(scfg, sim.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); ts.Close() })
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, bus.BucketJobs)
	if err != nil {
		t.Fatal(err)
	}
	st, err := jobs.New(kv, "amazonads", jobs.Config{ClaimTTL: 2 * time.Second}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cred := scfg.Auth.Clients[0]
	return &testbed{t: t, sim: srv, scfg: scfg, url: ts.URL, js: js, jobs: st, env: map[string]string{
		amazonads.EnvClientID: cred.ClientID, amazonads.EnvClientSecret: cred.ClientSecret, amazonads.EnvRefreshToken: cred.RefreshToken,
	}}
}

// config points the provider at the simulator, with fast polling.
func (b *testbed) config() *amazonads.Config {
	c := amazonads.DefaultConfig()
	c.APIURL, c.TokenURL = b.url, b.url+"/auth/o2/token"
	c.Poll = amazonads.Poll{Initial: amazonads.Duration(20 * time.Millisecond), Max: amazonads.Duration(200 * time.Millisecond), Multiplier: 1.5, Jitter: 0.5}
	c.Retry.InitialBackoff, c.Retry.MaxBackoff = amazonads.Duration(20*time.Millisecond), amazonads.Duration(time.Second)
	return c
}

// provider builds the provider with the SDK's governed client (local governor).
func (b *testbed) provider(c *amazonads.Config) provider.Provider {
	b.t.Helper()
	hs, err := amazonads.Spec.HTTP(c)
	if err != nil {
		b.t.Fatal(err)
	}
	client, gov, err := provider.NewHTTP(context.Background(), "amazonads", hs, provider.HTTPDeps{Getenv: func(k string) string { return b.env[k] }, Egress: provider.LoopbackEgress()})
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { gov.Close() })
	p, err := amazonads.New(c, provider.Deps{Getenv: func(k string) string { return b.env[k] }, Services: provider.Services{HTTP: client, Jobs: b.jobs}})
	if err != nil {
		b.t.Fatal(err)
	}
	return p
}

// collector is an Emitter that keeps records by dataset and source key.
type collector struct {
	mu   sync.Mutex
	recs map[string]provider.Raw // dataset + "|" + source key
	body map[string][]byte
	dups int
}

func newCollector() *collector {
	return &collector{recs: map[string]provider.Raw{}, body: map[string][]byte{}}
}

func (c *collector) Emit(ctx context.Context, r provider.Raw) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := r.Dataset + "|" + r.SourceKey
	if prev, ok := c.body[k]; ok {
		c.dups++
		if !bytes.Equal(prev, data) {
			return io.ErrUnexpectedEOF
		}
	}
	c.recs[k], c.body[k] = r, data
	return nil
}

// summary recomputes the simulator's checksum from the emitted payload rows.
func (c *collector) summary(t *testing.T, dataset string) sim.Summary {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var s sim.Summary
	for k, r := range c.recs {
		if r.Dataset != dataset {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(c.body[k]))
		dec.UseNumber()
		var rows []map[string]any
		if err := dec.Decode(&rows); err != nil {
			t.Fatalf("record %s: %v", k, err)
		}
		for _, row := range rows {
			s.Add(row)
		}
	}
	return s
}

// distinctSummary is summary over distinct rows: a resumed download publishes again the
// rows after its last recorded progress, which the loader's upsert collapses.
func (c *collector) distinctSummary(t *testing.T, dataset string) sim.Summary {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	var s sim.Summary
	for k, r := range c.recs {
		if r.Dataset != dataset {
			continue
		}
		var raws []json.RawMessage
		if err := json.Unmarshal(c.body[k], &raws); err != nil {
			t.Fatalf("record %s: %v", k, err)
		}
		for _, raw := range raws {
			if seen[string(raw)] {
				continue
			}
			seen[string(raw)] = true
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			var row map[string]any
			if err := dec.Decode(&row); err != nil {
				t.Fatalf("record %s: %v", k, err)
			}
			s.Add(row)
		}
	}
	return s
}

func (c *collector) keys() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.recs))
	for k := range c.recs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// runAll plans trig and runs every task, a few at once.
func runAll(ctx context.Context, t *testing.T, p provider.Provider, trig provider.Trigger, emit provider.Emitter) []provider.Task {
	t.Helper()
	tasks, err := p.Plan(ctx, trig)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, task := range tasks {
		task.RunID = trig.RunID
		g.Go(func() error { return p.Run(gctx, task, emit) })
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("run: %v", err)
	}
	return tasks
}

// expected is the simulator's summary of a report type over from..to.
func (b *testbed) expected(reportType string, from, to time.Time) sim.Summary {
	b.t.Helper()
	s, err := sim.Expected(b.scfg, sim.Profiles(b.scfg), reportType, amazonads.Columns(reportType), from, to)
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

func day(offset int) time.Time {
	y, m, d := time.Now().UTC().AddDate(0, 0, offset).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
