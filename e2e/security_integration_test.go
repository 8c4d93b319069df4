package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/e2e/harness"
	"github.com/sluice-dev/sluice/internal/testinfra"
	"github.com/sluice-dev/sluice/services/extractor/providers/amazonads"
)

// secretOf is a random value that cannot occur by chance in any output.
func secretOf(name string) string { return name + "-" + strings.ToLower(rand.Text()) }

// TestSecurePipeline runs the whole pipeline the least-privileged way SECURITY.md
// describes, on real servers: NATS over mutual TLS with a user per service holding only the
// chart's permissions (helm/sluice/files/nats), secrets only in environment variables and
// files, and Amazon Ads pre-signed download URLs some of which always fail (connection
// cut) so their tasks end in the DLQ. Then it greps every log line, every span (attributes
// and events, from Jaeger's query API), every metric of every service and every dead
// letter for the secrets: provider client secret, refresh token and access tokens, NATS
// passwords, the PostgreSQL and S3 passwords and the signed query of download URLs. Zero
// hits. That the pipeline loads rows at all proves the permission files are sufficient.
func TestSecurePipeline(t *testing.T) {
	env := testinfra.Require(t, testinfra.Postgres, testinfra.Mongo, testinfra.S3, testinfra.Jaeger)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	dir := t.TempDir()
	suffix := strings.ToLower(rand.Text()[:8])
	secrets := map[string]string{
		"client secret": secretOf("lwa-client-secret"), "refresh token": secretOf("Atzr|refresh"),
		"postgres password": secretOf("pg-pass"), "S3 secret key": env.S3SecretKey,
		"access token": "Atza|", "download signature": "sig=", "download expiry": "expires=",
	}
	services := []string{"extractor", "staging-store", "transformer", "loader", "admin"}
	natsPass := map[string]string{}
	for _, s := range services {
		natsPass[s] = secretOf("nats-" + s)
		secrets["NATS password of "+s] = natsPass[s]
	}

	// NATS: mutual TLS, a user per service with the chart's permissions.
	tlsFiles := testinfra.GenerateTLS(t, dir)
	var users []testinfra.NATSUser
	for _, s := range services {
		users = append(users, testinfra.NATSUser{Name: s, Password: natsPass[s], Permissions: s})
	}
	srv := testinfra.StartNATSConfig(t, testinfra.SecureNATSConfig(t, tlsFiles, true, "amazonads", users...))
	natsEnv := func(user string) map[string]string {
		return map[string]string{
			"SLUICE_NATS_URL": srv.URL, "SLUICE_NATS_USER": user, "SLUICE_NATS_PASSWORD_FILE": writeSecret(t, dir, "nats-"+user, natsPass[user]),
			"SLUICE_NATS_TLS_CA": tlsFiles.CA, "SLUICE_NATS_TLS_CERT": tlsFiles.ClientCert, "SLUICE_NATS_TLS_KEY": tlsFiles.ClientKey,
			"SLUICE_LOG_LEVEL": "debug", "HOSTNAME": "sec-" + suffix + "-" + user,
		}
	}
	bin := testinfra.Binaries(t, "sluice-extractor", "sluice-staging-store", "sluice-transformer", "sluice-loader", "sluice", "sluice-sim-amazonads")
	// Streams and buckets exist before the services start: only the admin may create them.
	sluiceCLI(t, ctx, bin, natsEnv("admin"), "provision")

	// PostgreSQL: a database of the test; the loader's URL, with its password, from a file.
	dbName, mongoDB := "sluice_sec_"+suffix, "sluice_sec_"+suffix
	pgURL, err := harness.CreateDatabase(ctx, env.PostgresURL, dbName)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = harness.DropDatabase(context.Background(), env.PostgresURL, dbName) })
	t.Cleanup(func() { dropMongoDatabase(env.MongoURI, mongoDB) })
	loaderURL, _ := url.Parse(pgURL)
	loaderURL.User = url.UserPassword(loaderURL.User.Username(), secrets["postgres password"])

	// The simulator, behind a proxy that cuts every download of every other report: their
	// pre-signed URLs fail with connection errors until the tasks are dead-lettered.
	simAddr, proxyAddr := freeTCPAddr(t), freeTCPAddr(t)
	sim, err := testinfra.StartProc("sim-amazonads", filepath.Join(bin, "sluice-sim-amazonads"), []string{
		"--addr", simAddr, "--public-url", "http://" + proxyAddr, "--profiles", "3", "--campaigns", "2", "--ad-groups", "1",
		"--latency-median", "50ms", "--latency-max", "200ms", "--stuck-rate", "0", "--failure-rate", "0",
		"--client-id", "amzn1.application-oa2-client.sec", "--client-secret", secrets["client secret"], "--refresh-token", secrets["refresh token"],
	}, nil, filepath.Join(dir, "sim"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Stop(5 * time.Second) })
	waitHTTP(t, ctx, sim, "http://"+simAddr+"/_sim/stats")
	cut := startCuttingProxy(t, proxyAddr, simAddr)

	cfg := amazonads.DefaultConfig()
	cfg.APIURL, cfg.TokenURL = "http://"+simAddr, "http://"+simAddr+"/auth/o2/token"
	cfg.Poll = amazonads.Poll{Initial: amazonads.Duration(50 * time.Millisecond), Max: amazonads.Duration(300 * time.Millisecond), Multiplier: 1.5, Jitter: 0.5}
	cfg.Retry = amazonads.Retry{MaxAttempts: 2, InitialBackoff: amazonads.Duration(20 * time.Millisecond), MaxBackoff: amazonads.Duration(50 * time.Millisecond), MaxElapsed: amazonads.Duration(10 * time.Second)}

	extractorEnv := natsEnv("extractor")
	extractorEnv[amazonads.EnvClientID] = "amzn1.application-oa2-client.sec"
	extractorEnv[amazonads.EnvClientSecret+"_FILE"] = writeSecret(t, dir, "client-secret", secrets["client secret"])
	extractorEnv[amazonads.EnvRefreshToken+"_FILE"] = writeSecret(t, dir, "refresh-token", secrets["refresh token"])
	extractorEnv["SLUICE_MAX_DELIVER"] = "2"
	loaderEnv := natsEnv("loader")
	loaderEnv["SLUICE_POSTGRES_URL_FILE"] = writeSecret(t, dir, "postgres-url", loaderURL.String())
	logDir := filepath.Join(dir, "logs")
	svc, err := harness.Start(harness.Config{
		Bin: bin, LogDir: logDir, NATSURL: srv.URL, PostgresURL: "",
		MongoURI: env.MongoURI, MongoDatabase: mongoDB,
		S3Endpoint: env.S3Endpoint, S3AccessKey: env.S3AccessKey, S3SecretKey: env.S3SecretKey, S3Region: env.S3Region,
		S3Bucket: "sluice-e2e", OTLPEndpoint: env.OTLPEndpoint,
		Provider: "amazonads", ProviderConfig: cfg,
		ServiceEnv: map[string]map[string]string{
			"extractor-amazonads": extractorEnv, "staging-store": natsEnv("staging-store"),
			"transformer": natsEnv("transformer"), "loader": loaderEnv,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		if err := svc.Group.Stop(20 * time.Second); err != nil {
			t.Errorf("graceful stop: %v", err)
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			for _, p := range svc.Group {
				t.Logf("--- %s log:\n%s", p.Name, p.Tail(4000))
			}
		}
	})

	day := time.Now().UTC().AddDate(0, 0, -3).Format("2006-01-02")
	sluiceCLI(t, ctx, bin, natsEnv("admin"), "run", "amazonads", "--from", day, "--to", day, "--run-id", "sec-"+suffix)

	admin := connectAdmin(t, srv.URL, natsPass["admin"], tlsFiles)
	pool, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rows, letters := waitSettled(t, ctx, admin, pool)
	if rows == 0 || letters == 0 || cut.count() == 0 {
		t.Fatalf("want rows loaded, downloads cut and tasks dead-lettered: %d rows, %d cut, %d dead letters", rows, cut.count(), letters)
	}
	t.Logf("%d rows loaded, %d downloads cut, %d dead letters", rows, cut.count(), letters)

	// Every place a secret could end up.
	sources := map[string][]byte{}
	for name, addr := range svc.HTTP {
		sources["metrics of "+name] = get(t, ctx, "http://"+addr+"/metrics")
	}
	sources["dead letters"] = dlqContents(t, ctx, admin)
	out, _ := sluiceCLIOutput(ctx, bin, natsEnv("admin"), "dlq", "list", "--json")
	sources["sluice dlq list"] = out
	stop()
	for _, p := range svc.Group {
		data, err := os.ReadFile(p.LogPath)
		if err != nil {
			t.Fatal(err)
		}
		sources["log of "+p.Name] = data
	}
	spans := 0
	for _, s := range []string{"extractor-amazonads", "staging-store", "transformer", "loader"} {
		data, n := jaegerTraces(t, ctx, env.JaegerURL, s, "sec-"+suffix)
		sources["spans of "+s] = data
		spans += n
	}
	if spans == 0 {
		t.Fatal("no span of this run in Jaeger: nothing to grep")
	}
	for where, data := range sources {
		for what, secret := range secrets {
			if i := bytes.Index(data, []byte(secret)); i >= 0 {
				lo, hi := max(0, i-160), min(len(data), i+len(secret)+40)
				t.Errorf("%s shows the %s: …%s…", where, what, data[lo:hi])
			}
		}
	}
}

func writeSecret(t *testing.T, dir, name, value string) string {
	t.Helper()
	p := filepath.Join(dir, "secret-"+name)
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func sluiceCLIOutput(ctx context.Context, bin string, env map[string]string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "sluice"), args...)
	cmd.Env = append(os.Environ(), testinfra.ProcEnv(env)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

func sluiceCLI(t *testing.T, ctx context.Context, bin string, env map[string]string, args ...string) {
	t.Helper()
	out, err := sluiceCLIOutput(ctx, bin, env, args...)
	if err != nil {
		t.Fatalf("sluice %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// cuttingProxy forwards to the simulator but closes the connection of every download of
// a report whose id hashes even, so that URL always fails with a transport error.
type cuttingProxy struct{ cut chan struct{} }

func (c *cuttingProxy) count() int { return len(c.cut) }

func startCuttingProxy(t *testing.T, addr, target string) *cuttingProxy {
	t.Helper()
	c := &cuttingProxy{cut: make(chan struct{}, 1<<16)}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: target})
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := fnv.New32a()
		_, _ = io.WriteString(h, r.URL.Path)
		if strings.HasPrefix(r.URL.Path, "/download/") && h.Sum32()%2 == 0 {
			select {
			case c.cut <- struct{}{}:
			default:
			}
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.ListenAndServe() }()
	t.Cleanup(func() { _ = srv.Close() })
	return c
}

func connectAdmin(t *testing.T, natsURL, password string, f testinfra.TLSFiles) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(natsURL, nats.UserInfo("admin", password), nats.RootCAs(f.CA), nats.ClientCert(f.ClientCert, f.ClientKey))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// waitSettled waits until no stage has work left and the DLQ holds the cut reports'
// tasks, and returns the rows loaded and the dead letters.
func waitSettled(t *testing.T, ctx context.Context, js jetstream.JetStream, pool *pgxpool.Pool) (rows int64, letters uint64) {
	t.Helper()
	consumers := [][2]string{{"TASKS", "extractor-amazonads"}, {"RAW", "staging-store"}, {"STAGED", "transformer"}, {"ROWS", "loader"}}
	settledSince := time.Time{}
	for {
		busy := false
		for _, c := range consumers {
			ci, err := js.Consumer(ctx, c[0], c[1])
			if err != nil {
				busy = true
				continue
			}
			info, err := ci.Info(ctx)
			if err != nil || info.NumPending > 0 || info.NumAckPending > 0 || info.NumRedelivered > 0 && info.NumAckPending > 0 {
				busy = true
			}
		}
		dlq, err := js.Stream(ctx, "DLQ")
		if err == nil {
			letters = dlq.CachedInfo().State.Msgs
		}
		rows = loadedRows(ctx, pool)
		switch {
		case busy || letters == 0 || rows == 0:
			settledSince = time.Time{}
		case settledSince.IsZero():
			settledSince = time.Now()
		case time.Since(settledSince) > 3*time.Second:
			return rows, letters
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pipeline did not settle: %d rows, %d dead letters, busy %v", rows, letters, busy)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func loadedRows(ctx context.Context, pool *pgxpool.Pool) int64 {
	r, err := pool.Query(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name LIKE 'amazonads%'")
	if err != nil {
		return 0
	}
	var tables []string
	for r.Next() {
		var n string
		if r.Scan(&n) == nil {
			tables = append(tables, n)
		}
	}
	r.Close()
	var total int64
	for _, tb := range tables {
		var n int64
		if pool.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %q", tb)).Scan(&n) == nil {
			total += n
		}
	}
	return total
}

func get(t *testing.T, ctx context.Context, u string) []byte {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// dlqContents reads every message of the DLQ stream, headers and body.
func dlqContents(t *testing.T, ctx context.Context, js jetstream.JetStream) []byte {
	t.Helper()
	s, err := js.Stream(ctx, "DLQ")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		for k, v := range m.Header {
			fmt.Fprintf(&buf, "%s: %s\n", k, strings.Join(v, ","))
		}
		buf.Write(m.Data)
		buf.WriteByte('\n')
	}
	if buf.Len() == 0 {
		t.Fatal("no dead letter read")
	}
	return buf.Bytes()
}

// jaegerTraces returns the raw JSON of the traces of service that belong to this run (a
// process tag holds the instance name, which carries marker), and how many spans they hold.
func jaegerTraces(t *testing.T, ctx context.Context, jaegerURL, service, marker string) ([]byte, int) {
	t.Helper()
	var lastErr error
	for range 20 {
		u := jaegerURL + "/api/traces?service=" + url.QueryEscape(service) + "&limit=2000&lookback=1h"
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			lastErr = err
			time.Sleep(500 * time.Millisecond)
			continue
		}
		var body struct {
			Data []json.RawMessage `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			lastErr = err
			continue
		}
		var buf bytes.Buffer
		spans := 0
		for _, tr := range body.Data {
			if !bytes.Contains(tr, []byte(marker)) {
				continue
			}
			buf.Write(tr)
			spans += bytes.Count(tr, []byte(`"spanID"`))
		}
		if spans > 0 {
			return buf.Bytes(), spans
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("jaeger: no trace of %s for this run (%v)", service, lastErr)
	return nil, 0
}
