package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/sluice-dev/sluice/e2e/harness"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/specstore"
	"github.com/sluice-dev/sluice/internal/testinfra"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
	"github.com/sluice-dev/sluice/services/extractor/providers/portal"
	"github.com/sluice-dev/sluice/services/simulators/portal/sim"
)

// TestPortalEndToEnd crawls three partner portals with three extractor replicas (three
// processes sharing NATS) into PostgreSQL through every stage, and checks: the exact rows
// of every report kind and of the daily normalizer; never more than four requests at once
// on any portal (the simulator counts); malformed reports in the DLQ with a reason; and a
// parser change (spec version 2) re-applied by `sluice replay` with zero portal requests,
// a replay of the normalizer leaving its sums as they were.
func TestPortalEndToEnd(t *testing.T) {
	env := testinfra.Require(t, testinfra.Postgres, testinfra.Mongo, testinfra.S3)
	natsURL := testinfra.PrivateNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	scfg := sim.DefaultConfig()
	scfg.Portals = slices.DeleteFunc(scfg.Portals, func(p sim.Portal) bool { return p.Login != sim.LoginForm })
	scfg.PageLatency = 20 * time.Millisecond
	scfg.ListPageSize = 5
	scfg.MalformedEvery = 4
	scfg.SessionMaxRequests = 4
	s, err := sim.New(scfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
	pcfg := portal.DefaultConfig()
	pcfg.Resolve = map[string]string{}
	for i, p := range scfg.Portals {
		name := "SLUICE_E2E_PORTAL_PASSWORD_" + strconv.Itoa(i)
		t.Setenv(name, p.Password)
		pcfg.Portals = append(pcfg.Portals, portal.Portal{URL: "http://" + p.Host + ":" + port, User: p.User, PasswordEnv: name})
		pcfg.Resolve[p.Host] = "127.0.0.1"
	}
	from, to := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 6, 2, 0, 0, 0, 0, time.UTC)
	want := s.Expected(from, to)

	suffix := strconv.FormatUint(rand.Uint64()%1e9, 36)
	dbName := "sluice_portal_" + suffix
	pgURL, err := harness.CreateDatabase(ctx, env.PostgresURL, dbName)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = harness.DropDatabase(context.Background(), env.PostgresURL, dbName) })
	bin := testinfra.Binaries(t, "sluice-extractor", "sluice-staging-store", "sluice-transformer", "sluice-loader", "sluice")
	logDir := t.TempDir()
	hc := harness.Config{
		Bin: bin, LogDir: logDir, NATSURL: natsURL, PostgresURL: pgURL,
		MongoURI: env.MongoURI, MongoDatabase: dbName,
		S3Endpoint: env.S3Endpoint, S3AccessKey: env.S3AccessKey, S3SecretKey: env.S3SecretKey, S3Region: env.S3Region,
		S3Bucket: "sluice-e2e", Provider: "portal", ProviderConfig: pcfg,
	}
	svc, err := harness.Start(hc)
	if err != nil {
		t.Fatal(err)
	}
	// Two more extractor replicas: three processes share the per-host leases in NATS.
	replicaAddrs := []string{svc.HTTP["extractor-portal"]}
	for i := 2; i <= 3; i++ {
		p, addr, err := hc.ExtractorAt(fmt.Sprintf("extractor-portal-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		svc.Group = append(svc.Group, p)
		replicaAddrs = append(replicaAddrs, addr)
	}
	t.Cleanup(func() {
		_ = svc.Group.Stop(20 * time.Second)
		if t.Failed() {
			for _, p := range svc.Group {
				t.Logf("--- %s log:\n%s", p.Name, p.Tail(3000))
			}
		}
	})
	pool, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	cmd := exec.CommandContext(ctx, filepath.Join(bin, "sluice"), "run", "portal", "--from", from.Format(time.DateOnly), "--to", to.Format(time.DateOnly), "--run-id", "portal-e2e")
	cmd.Env = append(cmd.Environ(), "SLUICE_NATS_URL="+natsURL)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sluice run: %v\n%s", err, out)
	}
	wantSettlement, wantDaily := settlementRows(want, ""), dailyRows(want)
	for table, n := range map[string]int{"portal_settlement": len(wantSettlement), "portal_inventory": len(want.Inventory),
		"portal_traffic": len(want.Traffic), "portal_daily_settlement": len(wantDaily)} {
		if _, err := harness.WaitRows(ctx, pool, table, int64(n), 2*time.Minute); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
	}

	t.Run("exact rows", func(t *testing.T) {
		checkSet(t, ctx, pool, "SELECT portal||'|'||account||'|'||order_id||'|'||posted_date::text||'|'||product||'|'||quantity||'|'||gross::text||'|'||fees::text||'|'||net::text||'|'||currency FROM portal_settlement", wantSettlement)
		checkSet(t, ctx, pool, "SELECT portal||'|'||account||'|'||day::text||'|'||currency||'|'||orders||'|'||units||'|'||gross::text||'|'||fees::text||'|'||net::text FROM portal_daily_settlement", wantDaily)
		var inv, tr []string
		for _, r := range want.Inventory {
			inv = append(inv, strings.Join([]string{r.Host, r.Account, r.Date, r.SKU, r.Product, strconv.Itoa(r.OnHand), strconv.Itoa(r.Reserved)}, "|"))
		}
		for _, r := range want.Traffic {
			tr = append(tr, strings.Join([]string{r.Host, r.Account, r.Date, r.SKU, strconv.Itoa(r.Sessions), strconv.Itoa(r.PageViews)}, "|"))
		}
		checkSet(t, ctx, pool, "SELECT portal||'|'||account||'|'||snapshot_date::text||'|'||sku||'|'||product||'|'||on_hand||'|'||reserved FROM portal_inventory", inv)
		checkSet(t, ctx, pool, "SELECT portal||'|'||account||'|'||traffic_date::text||'|'||sku||'|'||sessions||'|'||page_views FROM portal_traffic", tr)
	})

	t.Run("at most four requests at once per portal over three replicas", func(t *testing.T) {
		for host, st := range s.Stats() {
			t.Logf("%s: %d requests, at most %d at once, %d logins, %d expired sessions", host, st.Requests, st.MaxConcurrent, st.Logins, st.Expired)
			if st.MaxConcurrent > 4 || st.Violations > 0 {
				t.Errorf("%s: %d requests at once (%d violations)", host, st.MaxConcurrent, st.Violations)
			}
			if st.Expired == 0 || st.Logins < 2 {
				t.Errorf("%s: sessions never expired or were never renewed (%d expired, %d logins)", host, st.Expired, st.Logins)
			}
		}
		if s.Total().MaxConcurrent < 2 {
			t.Errorf("no portal ever saw two requests at once: the cap was not exercised")
		}
		for i, addr := range replicaAddrs {
			if n := portalRequests(t, ctx, addr); n == 0 {
				t.Errorf("replica %d sent no request to the portals: the cap was not shared", i+1)
			} else {
				t.Logf("replica %d: %g portal requests", i+1, n)
			}
		}
	})

	t.Run("malformed reports are dead letters with a reason", func(t *testing.T) {
		if len(want.Malformed) == 0 {
			t.Fatal("the simulator served no malformed report: the test proves nothing")
		}
		letters := waitLetters(t, ctx, js, len(want.Malformed))
		for _, r := range want.Malformed {
			key := r.Host + "/" + r.ID
			l, ok := letters[key]
			switch {
			case !ok:
				t.Errorf("malformed report %s has no dead letter", key)
			case l.GetReason() == "" || l.GetRowIndex() != -1:
				t.Errorf("%s: dead letter row %d reason %q, want the whole record with a reason", key, l.GetRowIndex(), l.GetReason())
			}
		}
	})

	t.Run("parser change replayed without a portal request", func(t *testing.T) {
		before := s.Total().Requests
		specs, err := specstore.Open(ctx, js)
		if err != nil {
			t.Fatal(err)
		}
		sp, err := specs.Get(ctx, "portal", "settlement")
		if err != nil {
			t.Fatal(err)
		}
		v2 := *sp
		v2.Version = sp.Version + 1
		v2.Columns = slices.Clone(sp.Columns)
		v2.Columns[slices.IndexFunc(v2.Columns, func(c spec.Column) bool { return c.Name == "product" })].Expr = "'v2:' + row.Product"
		if err := specs.Register(ctx, &v2); err != nil {
			t.Fatal(err)
		}
		// The transformer and loader learn of version 2 through their KV watch; a replay
		// before that would re-run version 1.
		for _, name := range []string{"transformer", "loader"} {
			waitLog(t, svc.Group, name, "key=portal.settlement version=2")
		}
		replay(t, ctx, bin, natsURL, env.MongoURI, dbName, "settlement")
		deadline := time.Now().Add(2 * time.Minute)
		for {
			var n int
			if err := pool.QueryRow(ctx, "SELECT count(*) FROM portal_settlement WHERE product LIKE 'v2:%'").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == len(wantSettlement) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d rows re-parsed by spec version 2", n, len(wantSettlement))
			}
			time.Sleep(200 * time.Millisecond)
		}
		checkSet(t, ctx, pool, "SELECT portal||'|'||account||'|'||order_id||'|'||posted_date::text||'|'||product||'|'||quantity||'|'||gross::text||'|'||fees::text||'|'||net::text||'|'||currency FROM portal_settlement", settlementRows(want, "v2:"))

		replay(t, ctx, bin, natsURL, env.MongoURI, dbName, "daily_settlement")
		waitConsumerIdle(t, ctx, js, "STAGED", "transformer", 0)
		waitConsumerIdle(t, ctx, js, "ROWS", "loader", 0)
		checkSet(t, ctx, pool, "SELECT portal||'|'||account||'|'||day::text||'|'||currency||'|'||orders||'|'||units||'|'||gross::text||'|'||fees::text||'|'||net::text FROM portal_daily_settlement", wantDaily)
		if after := s.Total().Requests; after != before {
			t.Errorf("replays made %d portal requests, want none", after-before)
		}
	})
}

func settlementRows(e sim.Expected, productPrefix string) []string {
	var out []string
	for _, r := range e.Settlements {
		out = append(out, strings.Join([]string{r.Host, r.Account, r.OrderID, r.Date, productPrefix + r.Product, strconv.Itoa(r.Quantity), r.Gross, r.Fees, r.Net, r.Currency}, "|"))
	}
	return out
}

func dailyRows(e sim.Expected) []string {
	var out []string
	for _, d := range e.Daily() {
		out = append(out, fmt.Sprintf("%s|%s|%s|%s|%d|%d|%s|%s|%s", d.Host, d.Account, d.Date, d.Currency, d.Orders, d.Units, d.Gross, d.Fees, d.Net))
	}
	return out
}

func checkSet(t *testing.T, ctx context.Context, pool *pgxpool.Pool, query string, want []string) {
	t.Helper()
	rows, err := pool.Query(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want = slices.Clone(want)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		n := 0
		for _, w := range want {
			if !slices.Contains(got, w) && n < 5 {
				t.Errorf("missing row %q", w)
				n++
			}
		}
		for _, g := range got {
			if !slices.Contains(want, g) && n < 10 {
				t.Errorf("unexpected row %q", g)
				n++
			}
		}
		t.Fatalf("%d rows, want %d: %s", len(got), len(want), query)
	}
}

// waitLetters returns the DLQ's letters of the portal by source key once there are n.
func waitLetters(t *testing.T, ctx context.Context, js jetstream.JetStream, n int) map[string]*sluicev1.DeadLetter {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out := map[string]*sluicev1.DeadLetter{}
		c, err := js.OrderedConsumer(ctx, "DLQ", jetstream.OrderedConsumerConfig{FilterSubjects: []string{"sluice.dlq.*.portal.>"}})
		if err != nil {
			t.Fatal(err)
		}
		batch, err := c.FetchNoWait(1000)
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			l := &sluicev1.DeadLetter{}
			if err := proto.Unmarshal(m.Data(), l); err != nil {
				t.Fatal(err)
			}
			rec := &sluicev1.Record{}
			if err := proto.Unmarshal(l.GetData(), rec); err == nil && rec.GetSourceKey() != "" {
				out[rec.GetSourceKey()] = l
			}
		}
		if len(out) >= n || time.Now().After(deadline) {
			return out
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func replay(t *testing.T, ctx context.Context, bin, natsURL, mongoURI, mongoDB, dataset string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "sluice"), "replay", "--provider", "portal", "--dataset", dataset)
	cmd.Env = append(cmd.Environ(), "SLUICE_NATS_URL="+natsURL, "SLUICE_MONGO_URI="+mongoURI, "SLUICE_MONGO_DATABASE="+mongoDB)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sluice replay: %v\n%s", err, out)
	}
	t.Logf("sluice replay --dataset %s: %s", dataset, out)
}

// waitLog waits until the log of process name holds text.
func waitLog(t *testing.T, g testinfra.Group, name, text string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range g {
		if p.Name != name {
			continue
		}
		for !strings.Contains(p.Tail(1<<20), text) {
			if time.Now().After(deadline) {
				t.Fatalf("%s never logged %q", name, text)
			}
			time.Sleep(100 * time.Millisecond)
		}
		return
	}
	t.Fatalf("no process %s", name)
}

// portalRequests sums sluice_apiclient_requests_total on a replica's /metrics.
func portalRequests(t *testing.T, ctx context.Context, addr string) float64 {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "sluice_apiclient_requests_total{") {
			if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
				sum += v
			}
		}
	}
	return sum
}
