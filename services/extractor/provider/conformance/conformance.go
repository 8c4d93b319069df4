// Package conformance is the provider conformance suite: it runs a provider against a
// fake of its API and checks the rules of the provider contract — deterministic plans,
// records with stable source keys of declared datasets, prompt return on cancellation,
// and every HTTP call through the SDK's rate-governed client. The extractor's registry
// test runs it over every registered provider.
package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/envelope"
	"github.com/sluice-dev/sluice/internal/testinfra"
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/checkpoint"
	"github.com/sluice-dev/sluice/services/extractor/provider/jobs"
)

// Case says how to exercise one provider.
type Case struct {
	Spec provider.Spec
	// API is a fake of the provider's API; nil for providers that call none.
	API http.Handler
	// Config returns the provider's configuration pointed at the fake API's base URL
	// (nil: the Spec's defaults).
	Config func(apiURL string) any
	// Env holds the provider's secrets.
	Env map[string]string
	// Trigger is the run to plan (RunID is set by the suite).
	Trigger provider.Trigger
	// CancelWithin is how long Run may take to return after cancellation (default 10s).
	CancelWithin time.Duration
}

// Run runs the suite and reports every violation as a test error.
func Run(t *testing.T, c Case) {
	t.Helper()
	for _, err := range Verify(t, c) {
		t.Error(err)
	}
}

// markerHeader is set by the SDK client's transport in the suite: a request to the fake
// API without it did not go through the governed client.
const markerHeader = "X-Sluice-Conformance-Governed"

// Verify runs the suite and returns the violations.
func Verify(t testing.TB, c Case) []error {
	t.Helper()
	if c.CancelWithin == 0 {
		c.CancelWithin = 10 * time.Second
	}
	v := &verifier{c: c, t: t}
	if err := v.setup(); err != nil {
		return []error{err}
	}
	v.checkDatasets()
	tasks := v.checkPlan()
	if len(tasks) == 0 {
		return v.errs
	}
	a := v.runAll(tasks, "conf-a-"+randomID())
	b := v.runAll(tasks, "conf-b-"+randomID())
	v.checkRecords(a, b)
	v.checkCancel(tasks[0])
	if n := v.guard.bypassed.Load(); n > 0 {
		v.fail("%d HTTP requests reached the API without the SDK's governed client (Deps.Services.HTTP)", n)
	}
	return v.errs
}

type verifier struct {
	c     Case
	t     testing.TB
	errs  []error
	guard *guard
	url   string
	cfg   any
	js    jetstream.JetStream
	jobs  *jobs.Store
	ckpt  *checkpoint.Store
}

func (v *verifier) fail(format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("provider %s: "+format, append([]any{v.c.Spec.Name}, args...)...))
}

func (v *verifier) setup() error {
	natsURL, kind := testinfra.TestNATS(v.t)
	v.t.Logf("conformance: jobs, checkpoints and limits on JetStream (%s)", kind)
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return err
	}
	v.t.Cleanup(nc.Close)
	if v.js, err = bus.NewJetStream(nc); err != nil {
		return err
	}
	ctx := context.Background()
	if err := bus.Provision(ctx, v.js, bus.DefaultProvision()); err != nil {
		return err
	}
	jkv, err := v.js.KeyValue(ctx, bus.BucketJobs)
	if err != nil {
		return err
	}
	ckv, err := v.js.KeyValue(ctx, bus.BucketCheckpoints)
	if err != nil {
		return err
	}
	if v.jobs, err = jobs.New(jkv, v.c.Spec.Name, jobs.Config{ClaimTTL: 2 * time.Second}, nil, nil); err != nil {
		return err
	}
	if v.ckpt, err = checkpoint.New(ckv, v.c.Spec.Name); err != nil {
		return err
	}
	v.guard = &guard{h: v.c.API}
	if v.guard.h == nil {
		v.guard.h = http.NotFoundHandler()
	}
	ts := httptest.NewServer(v.guard)
	v.t.Cleanup(ts.Close)
	v.t.Cleanup(v.guard.release)
	v.url = ts.URL
	if v.c.Config != nil {
		v.cfg = v.c.Config(ts.URL)
	} else {
		v.cfg = v.c.Spec.NewConfig()
	}
	if val, ok := v.cfg.(interface{ Validate() error }); ok {
		if err := val.Validate(); err != nil {
			return fmt.Errorf("provider %s: config: %w", v.c.Spec.Name, err)
		}
	}
	return nil
}

// newProvider builds the provider the way the extractor does, with a governed client
// whose transport marks its requests.
func (v *verifier) newProvider() (provider.Provider, error) {
	getenv := func(k string) string { return v.c.Env[k] }
	s := provider.Services{Jobs: v.jobs, Checkpoints: v.ckpt}
	if v.c.Spec.HTTP != nil {
		hs, err := v.c.Spec.HTTP(v.cfg)
		if err != nil {
			return nil, err
		}
		client, gov, err := provider.NewHTTP(context.Background(), v.c.Spec.Name, hs,
			provider.HTTPDeps{Getenv: getenv, Transport: marker{http.DefaultTransport}})
		if err != nil {
			return nil, err
		}
		v.t.Cleanup(func() { _ = gov.Close() })
		s.HTTP = client
	}
	if v.c.Spec.Limits != nil {
		lim, err := v.c.Spec.Limits(v.cfg)
		if err != nil {
			return nil, err
		}
		gov, err := provider.NewGovernor(context.Background(), v.c.Spec.Name, lim, nil, nil)
		if err != nil {
			return nil, err
		}
		v.t.Cleanup(func() { _ = gov.Close() })
		s.Limits = gov
	}
	return v.c.Spec.New(v.cfg, provider.Deps{Getenv: getenv, Services: s})
}

func (v *verifier) checkDatasets() {
	p, err := v.newProvider()
	if err != nil {
		v.fail("new: %v", err)
		return
	}
	ds := p.Datasets()
	if len(ds) == 0 {
		v.fail("declares no dataset")
	}
	for _, d := range ds {
		if d.Provider != v.c.Spec.Name {
			v.fail("dataset %s belongs to provider %q", d.Dataset, d.Provider)
		}
		if err := d.Validate(); err != nil {
			v.fail("dataset %s: %v", d.Dataset, err)
		}
		if len(d.PrimaryKey) == 0 {
			v.fail("dataset %s has no primary key", d.Dataset)
		}
	}
}

// checkPlan plans twice; the plans must be equal and the task keys unique.
func (v *verifier) checkPlan() []provider.Task {
	p, err := v.newProvider()
	if err != nil {
		v.fail("new: %v", err)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	trig := v.c.Trigger
	trig.RunID = "conf-plan"
	first, err := p.Plan(ctx, trig)
	if err != nil {
		v.fail("plan: %v", err)
		return nil
	}
	second, err := p.Plan(ctx, trig)
	if err != nil {
		v.fail("plan again: %v", err)
		return nil
	}
	if len(first) == 0 {
		v.fail("planned no task for %+v", trig)
	}
	seen := map[string]bool{}
	for i, task := range first {
		if task.Key == "" || task.Kind == "" || task.Kind == provider.KindPlan {
			v.fail("task %d has kind %q and key %q", i, task.Kind, task.Key)
		}
		if seen[task.Key] {
			v.fail("task key %s planned twice: keys are dedupe ids", task.Key)
		}
		seen[task.Key] = true
		if i >= len(second) || second[i].Key != task.Key || second[i].Kind != task.Kind || !bytes.Equal(second[i].Params, task.Params) {
			v.fail("plan is not deterministic: task %d differs between two plans of the same trigger", i)
			break
		}
	}
	return first
}

// record is an emitted record, as its id derivation sees it.
type record struct {
	dataset, sourceKey string
	sum                string
}

// runAll runs every task of run runID with a new provider instance and returns the
// records by dataset and source key.
func (v *verifier) runAll(tasks []provider.Task, runID string) map[string]record {
	p, err := v.newProvider()
	if err != nil {
		v.fail("new: %v", err)
		return nil
	}
	datasets := map[string]bool{}
	for _, d := range p.Datasets() {
		datasets[d.Dataset] = true
	}
	col := &collector{recs: map[string]record{}, datasets: datasets}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, task := range tasks {
		task.RunID = runID
		g.Go(func() error {
			if err := p.Run(gctx, task, col); err != nil {
				return fmt.Errorf("run %s: %w", task.Key, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		v.fail("%v", err)
	}
	for _, e := range col.errs {
		v.fail("%v", e)
	}
	if len(col.recs) == 0 {
		v.fail("run %s emitted no record", runID)
	}
	return col.recs
}

// checkRecords compares two runs of the same tasks: the same source keys with the same
// payloads, hence the same record ids.
func (v *verifier) checkRecords(a, b map[string]record) {
	if a == nil || b == nil {
		return
	}
	var missing []string
	for k, ra := range a {
		rb, ok := b[k]
		switch {
		case !ok:
			missing = append(missing, k)
		case ra.sum != rb.sum:
			v.fail("record %s has different content in two runs of the same data", k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		v.fail("source keys are not stable: %d records appear in only one of two runs of the same data (e.g. %s)", len(missing), missing[0])
	}
}

// checkCancel runs a task with a cancelled context, then cancels a task while its API
// call hangs: Run must return context.Canceled promptly, and emit nothing after it.
func (v *verifier) checkCancel(task provider.Task) {
	p, err := v.newProvider()
	if err != nil {
		v.fail("new: %v", err)
		return
	}
	col := &collector{recs: map[string]record{}, lenient: true}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	task.RunID = "conf-cancelled-" + randomID()
	if err := v.runWithin(ctx, p, task, col); !errors.Is(err, context.Canceled) {
		v.fail("Run with a cancelled context returned %v, want an error wrapping context.Canceled", err)
	}
	if len(col.recs) > 0 {
		v.fail("Run with a cancelled context emitted %d records", len(col.recs))
	}
	if v.c.API == nil {
		return
	}
	v.guard.hang()
	defer v.guard.release()
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	task.RunID = "conf-cancel-" + randomID()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, task, col) }()
	select {
	case <-v.guard.arrived:
	case err := <-done:
		v.fail("Run returned %v before any API call could be interrupted", err)
		return
	case <-time.After(30 * time.Second):
		v.fail("Run made no API call within 30s")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			v.fail("Run cancelled during an API call returned %v, want an error wrapping context.Canceled", err)
		}
	case <-time.After(v.c.CancelWithin):
		v.fail("Run ignores cancellation: still running %v after its context was cancelled", v.c.CancelWithin)
	}
}

func (v *verifier) runWithin(ctx context.Context, p provider.Provider, task provider.Task, col *collector) error {
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, task, col) }()
	select {
	case err := <-done:
		return err
	case <-time.After(v.c.CancelWithin):
		return fmt.Errorf("still running %v after its context was cancelled", v.c.CancelWithin)
	}
}

// collector is the suite's Emitter.
type collector struct {
	mu       sync.Mutex
	recs     map[string]record
	datasets map[string]bool
	errs     []error
	// lenient collects without checking (cancellation runs).
	lenient bool
}

func (c *collector) Emit(ctx context.Context, r provider.Raw) error {
	var sum []byte
	switch {
	case r.Object != nil && r.Body == nil:
		if err := ctx.Err(); err != nil {
			return err
		}
		sum = provider.ObjectClaimCheck(*r.Object).GetSha256()
	case r.Body != nil && r.Object == nil:
		data, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		s := sha256.Sum256(data)
		sum = s[:]
	default:
		return errors.New("want a body or an object reference, not both or neither")
	}
	rec := record{dataset: r.Dataset, sourceKey: r.SourceKey, sum: envelope.RecordID("x", r.Dataset, r.SourceKey, sum)}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := r.Dataset + " " + r.SourceKey
	if !c.lenient {
		switch {
		case r.SourceKey == "":
			c.errs = append(c.errs, fmt.Errorf("record of %s without a source key", r.Dataset))
		case !c.datasets[r.Dataset]:
			c.errs = append(c.errs, fmt.Errorf("record of undeclared dataset %q", r.Dataset))
		case r.ContentType == "":
			c.errs = append(c.errs, fmt.Errorf("record %s without a content type", k))
		}
		if prev, ok := c.recs[k]; ok && prev.sum != rec.sum {
			c.errs = append(c.errs, fmt.Errorf("two records with source key %s and different content in one run", k))
		}
	}
	c.recs[k] = rec
	return nil
}

// marker is the transport under the governed client: it marks requests as governed.
type marker struct{ base http.RoundTripper }

func (m marker) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(markerHeader, "1")
	return m.base.RoundTrip(r)
}

// guard serves the fake API, counts requests that bypass the governed client, and can
// hold requests until they are cancelled (to test cancellation).
type guard struct {
	h        http.Handler
	bypassed atomic.Int64
	mu       sync.Mutex
	holding  chan struct{} // closed to let held requests go; nil when not holding
	arrived  chan struct{}
	once     *sync.Once
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(markerHeader) == "" {
		g.bypassed.Add(1)
		http.Error(w, "conformance: request bypassed the governed client", http.StatusForbidden)
		return
	}
	g.mu.Lock()
	holding, arrived, once := g.holding, g.arrived, g.once
	g.mu.Unlock()
	if holding != nil {
		once.Do(func() { close(arrived) })
		select {
		case <-holding:
		case <-r.Context().Done():
			return
		}
	}
	g.h.ServeHTTP(w, r)
}

func (g *guard) hang() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.holding, g.arrived, g.once = make(chan struct{}), make(chan struct{}), new(sync.Once)
}

func (g *guard) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.holding != nil {
		close(g.holding)
		g.holding = nil
	}
}

func randomID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
