package rest_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/big"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/rowsource"
	"github.com/sluice-dev/sluice/internal/servicetest"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/transform"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/checkpoint"
	"github.com/sluice-dev/sluice/services/extractor/providers"
	"github.com/sluice-dev/sluice/services/extractor/providers/rest"
	"github.com/sluice-dev/sluice/services/simulators/catalog/sim"
)

// testbed runs the catalog manifest in process against the simulator, with real
// JetStream checkpoints (a private nats-server) and the SDK's governed client.
type testbed struct {
	t    *testing.T
	sim  *sim.Server
	scfg sim.Config
	url  string
	ckpt *checkpoint.Store
	api  *rest.API
	js   jetstream.JetStream
}

func newTestbed(t *testing.T, scfg sim.Config) *testbed {
	t.Helper()
	srv, err := sim.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); ts.Close() })
	_, js := servicetest.JetStream(t)
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, bus.BucketCheckpoints)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := checkpoint.New(kv, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	api, err := rest.LoadFolder(providers.Folders, "catalog")
	if err != nil {
		t.Fatal(err)
	}
	return &testbed{t: t, sim: srv, scfg: scfg, url: ts.URL, ckpt: ck, api: api, js: js}
}

// provider builds the catalog provider the way the extractor does, with its limits
// shared through the sluice-limits bucket.
func (b *testbed) provider(cfg *rest.Config) provider.Provider {
	b.t.Helper()
	sp := b.api.Spec()
	if cfg.BaseURL == "" {
		cfg.BaseURL = b.url
	}
	getenv := func(k string) string {
		if k == "SLUICE_CATALOG_API_KEYS" {
			return strings.Join(b.scfg.APIKeys, ",")
		}
		return ""
	}
	hs, err := sp.HTTP(cfg)
	if err != nil {
		b.t.Fatal(err)
	}
	client, gov, err := provider.NewHTTP(context.Background(), "catalog", hs, provider.HTTPDeps{Getenv: getenv, JS: b.js, Egress: provider.LoopbackEgress()})
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { _ = gov.Close() })
	p, err := sp.New(cfg, provider.Deps{Getenv: getenv, Services: provider.Services{HTTP: client, Checkpoints: b.ckpt}})
	if err != nil {
		b.t.Fatal(err)
	}
	return p
}

// collector keeps emitted records by dataset and source key; after is called after each.
type collector struct {
	mu    sync.Mutex
	recs  map[string][]byte
	after func(n int)
}

func (c *collector) Emit(_ context.Context, r provider.Raw) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.recs == nil {
		c.recs = map[string][]byte{}
	}
	c.recs[r.Dataset+" "+r.SourceKey] = data
	n := len(c.recs)
	c.mu.Unlock()
	if c.after != nil {
		c.after(n)
	}
	return nil
}

// rows runs every record of dataset through its spec, as the transformer does, and
// renders each row as one line (sorted).
func (b *testbed) rows(c *collector, dataset string) []string {
	b.t.Helper()
	var sp *spec.Spec
	for _, d := range b.api.Datasets {
		if d.Dataset == dataset {
			sp = d
		}
	}
	prog, err := spec.Compile(sp)
	if err != nil {
		b.t.Fatal(err)
	}
	var out []string
	for k, data := range c.recs {
		if !strings.HasPrefix(k, dataset+" ") {
			continue
		}
		src, err := rowsource.Open(sp.Format, bytes.NewReader(data))
		if err != nil {
			b.t.Fatal(err)
		}
		_, err = transform.Run(context.Background(), prog, spec.Record{Provider: "catalog", Dataset: dataset, SourceKey: k}, src,
			func(row *sluicev1.Row) error { out = append(out, render(row)); return nil },
			func(e transform.RowError) error { return fmt.Errorf("row rejected: %v", e) })
		if err != nil {
			b.t.Fatalf("%s: %v", k, err)
		}
	}
	sort.Strings(out)
	return out
}

func render(row *sluicev1.Row) string {
	var parts []string
	for _, v := range row.GetValues() {
		switch k := v.GetKind().(type) {
		case *sluicev1.Value_Null:
			parts = append(parts, "NULL")
		case *sluicev1.Value_String_:
			parts = append(parts, k.String_)
		case *sluicev1.Value_Int:
			parts = append(parts, fmt.Sprint(k.Int))
		case *sluicev1.Value_Timestamp:
			parts = append(parts, k.Timestamp.AsTime().UTC().Format(time.RFC3339))
		case *sluicev1.Value_Decimal:
			r, ok := new(big.Rat).SetString(k.Decimal)
			if !ok {
				parts = append(parts, "bad decimal "+k.Decimal)
				continue
			}
			parts = append(parts, r.FloatString(2))
		default:
			parts = append(parts, fmt.Sprintf("%v", v))
		}
	}
	return strings.Join(parts, "|")
}

func diff(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") == strings.Join(want, "\n") {
		return
	}
	g, w := map[string]bool{}, map[string]bool{}
	for _, s := range got {
		g[s] = true
	}
	for _, s := range want {
		w[s] = true
	}
	var missing, extra []string
	for _, s := range want {
		if !g[s] {
			missing = append(missing, s)
		}
	}
	for _, s := range got {
		if !w[s] {
			extra = append(extra, s)
		}
	}
	t.Errorf("%s: %d rows, want %d; missing %d (e.g. %q), unexpected %d (e.g. %q)", what, len(got), len(want), len(missing), first(missing), len(extra), first(extra))
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
