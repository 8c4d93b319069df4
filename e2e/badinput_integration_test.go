package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/sluice-dev/sluice/e2e/harness"
	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/envelope"
	"github.com/sluice-dev/sluice/internal/servicetest"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/specstore"
	"github.com/sluice-dev/sluice/internal/testinfra"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// badCase is one case of the bad-input corpus (testdata/badinput/cases.json): raw records
// of one dataset of testdata/badinput/specs.json, and what the running pipeline must make
// of them.
type badCase struct {
	Name    string      `json:"name"`
	Dataset string      `json:"dataset"`
	About   string      `json:"about"`
	Records []badRecord `json:"records"`
	Expect  struct {
		// Rows is how many rows of the case the table holds at the end.
		Rows int64 `json:"rows"`
		// Want, when set, is those rows' values as text (nil for NULL), in key order.
		Want *struct {
			Cols []string    `json:"cols"`
			Rows [][]*string `json:"rows"`
		} `json:"want"`
		// Dead are the rows dead-lettered (a reason substring each); no other row may be.
		Dead []struct {
			Record int    `json:"record"`
			Row    int64  `json:"row"`
			Reason string `json:"reason"`
		} `json:"dead"`
		// Rejected are the records dead-lettered whole; no other record may be.
		Rejected []struct {
			Record int    `json:"record"`
			Reason string `json:"reason"`
			Stage  string `json:"stage"`
		} `json:"rejected"`
	} `json:"expect"`
}

// badRecord is one raw record of a case. Its payload is Payload, PayloadB64 (bytes that are
// not valid UTF-8), Parts (text repeated: large payloads kept small in the corpus) or
// NDJSONRows (Count lines with ids from 0, names of Pad bytes, the lines at Bad corrupt);
// Members are gzipped one by one and concatenated. Gzip compresses the payload and Cut then
// drops bytes from its end; Encoding labels the payload without compressing it.
type badRecord struct {
	Payload    *string          `json:"payload"`
	PayloadB64 string           `json:"payload_b64"`
	Parts      [][2]interface{} `json:"parts"`
	Members    []string         `json:"members"`
	NDJSONRows *struct {
		Count int   `json:"count"`
		Pad   int   `json:"pad"`
		Bad   []int `json:"bad"`
	} `json:"ndjson_rows"`
	Gzip     bool   `json:"gzip"`
	Cut      int    `json:"cut"`
	Encoding string `json:"encoding"`
	// AgeS makes the record's extraction that many seconds older than the others'.
	AgeS int `json:"age_s"`
	// Tamper changes the inline payload after the record id and sha256 were computed.
	Tamper bool `json:"tamper"`
	// ClaimCheck puts the payload in S3 and sends its reference, as an extractor does with
	// payloads larger than a NATS message.
	ClaimCheck bool `json:"claim_check"`
}

func (r badRecord) bytes(t *testing.T) (data []byte, encoding string) {
	t.Helper()
	switch {
	case r.Payload != nil:
		data = []byte(*r.Payload)
	case r.PayloadB64 != "":
		var err error
		if data, err = base64.StdEncoding.DecodeString(r.PayloadB64); err != nil {
			t.Fatal(err)
		}
	case r.Parts != nil:
		var b bytes.Buffer
		for _, p := range r.Parts {
			b.WriteString(strings.Repeat(p[0].(string), int(p[1].(float64))))
		}
		data = b.Bytes()
	case r.NDJSONRows != nil:
		g := r.NDJSONRows
		var b bytes.Buffer
		for i := range g.Count {
			if slices.Contains(g.Bad, i) {
				fmt.Fprintf(&b, "{\"id\":%d,\"name\":\n", i)
				continue
			}
			fmt.Fprintf(&b, "{\"id\":%d,\"name\":\"%s\"}\n", i, strings.Repeat("z", g.Pad))
		}
		data = b.Bytes()
	case r.Members != nil:
		for _, m := range r.Members {
			data = append(data, gzipBytes(t, []byte(m))...)
		}
		return data, "gzip"
	}
	encoding = r.Encoding
	if r.Gzip {
		data, encoding = gzipBytes(t, data), "gzip"
	}
	return data[:len(data)-r.Cut], encoding
}

func gzipBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func loadCorpus(t *testing.T) ([]*spec.Spec, []badCase) {
	t.Helper()
	dir := filepath.Join("testdata", "badinput")
	raw, err := os.ReadFile(filepath.Join(dir, "specs.json"))
	if err != nil {
		t.Fatal(err)
	}
	var docs []json.RawMessage
	if err := json.Unmarshal(raw, &docs); err != nil {
		t.Fatal(err)
	}
	var specs []*spec.Spec
	for _, d := range docs {
		sp, err := spec.Parse(d)
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, sp)
	}
	if raw, err = os.ReadFile(filepath.Join(dir, "cases.json")); err != nil {
		t.Fatal(err)
	}
	var cases []badCase
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cases); err != nil {
		t.Fatalf("cases.json: %v", err)
	}
	return specs, cases
}

// TestBadInputCorpus pushes every case of the bad-input corpus through the running
// staging-store, transformer and loader (real NATS JetStream, FerretDB, PostgreSQL) and
// checks each case's outcome in PostgreSQL and in the DLQ stream: rows loaded with the
// expected values, rows dead-lettered with a reason, records rejected with a reason, and
// nothing else: no row lost, none dead-lettered that should load.
func TestBadInputCorpus(t *testing.T) {
	env := testinfra.Require(t, testinfra.Postgres, testinfra.Mongo, testinfra.S3)
	specs, cases := loadCorpus(t)
	if len(cases) < 50 {
		t.Fatalf("the corpus has %d cases, want at least 50", len(cases))
	}
	natsURL, js := servicetest.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	suffix := strconv.FormatUint(rand.Uint64()%1e9, 36)
	dbName, mongoDB := "sluice_badinput_"+suffix, "sluice_badinput_"+suffix
	pgURL, err := harness.CreateDatabase(ctx, env.PostgresURL, dbName)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = harness.DropDatabase(context.Background(), env.PostgresURL, dbName) })
	pool, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	blobs, err := blob.New(blob.Config{Endpoint: env.S3Endpoint, Region: env.S3Region, Bucket: "sluice-badinput",
		AccessKey: env.S3AccessKey, SecretKey: env.S3SecretKey, PartSize: 5 << 20, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := blobs.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	store, err := specstore.Open(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	bySet := map[string]*spec.Spec{}
	for _, sp := range specs {
		if err := store.Register(ctx, sp); err != nil {
			t.Fatal(err)
		}
		bySet[sp.Dataset] = sp
	}

	bin := testinfra.Binaries(t, "sluice-staging-store", "sluice-transformer", "sluice-loader")
	envv := []string{
		"SLUICE_NATS_URL=" + natsURL, "SLUICE_HTTP_ADDR=127.0.0.1:0", "SLUICE_LOG_FORMAT=text", "SLUICE_OTLP_ENDPOINT=",
		"SLUICE_POSTGRES_URL=" + pgURL,
		"SLUICE_MONGO_URI=" + env.MongoURI, "SLUICE_MONGO_DATABASE=" + mongoDB, "SLUICE_MONGO_WRITE_CONCERN=1",
		"SLUICE_S3_ENDPOINT=" + env.S3Endpoint, "SLUICE_S3_ACCESS_KEY=" + env.S3AccessKey,
		"SLUICE_S3_SECRET_KEY=" + env.S3SecretKey, "SLUICE_S3_REGION=" + env.S3Region,
		"SLUICE_BATCH_WAIT=20ms", "SLUICE_MAX_DELIVER=3",
	}
	logs := t.TempDir()
	var group testinfra.Group
	for _, name := range []string{"sluice-staging-store", "sluice-transformer", "sluice-loader"} {
		p, err := testinfra.StartProc(name, filepath.Join(bin, name), nil, envv, logs)
		if err != nil {
			t.Fatal(err)
		}
		group = append(group, p)
	}
	t.Cleanup(func() {
		if err := group.Stop(20 * time.Second); err != nil {
			t.Errorf("stop services: %v", err)
		}
		if t.Failed() {
			for _, p := range group {
				t.Logf("--- %s log tail:\n%s", p.Name, p.Tail(3000))
			}
		}
	})

	// Publish every record as an extractor would; remember which case each belongs to.
	type origin struct {
		c      *badCase
		record int
	}
	origins := map[string]origin{}
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i := range cases {
		c := &cases[i]
		if bySet[c.Dataset] == nil {
			t.Fatalf("case %s: no spec for dataset %q", c.Name, c.Dataset)
		}
		for j, r := range c.Records {
			data, encoding := r.bytes(t)
			src := envelope.Source{
				Provider: "badinput", Dataset: c.Dataset, SourceKey: fmt.Sprintf("%s/%d", c.Name, j), RunID: "corpus-" + suffix,
				ExtractedAt: now.Add(-time.Duration(r.AgeS) * time.Second), ContentType: "application/octet-stream",
				ContentEncoding: encoding, Attributes: map[string]string{"case": c.Name},
			}
			rec := envelope.NewInline(src, data)
			if r.ClaimCheck {
				obj, err := blobs.Put(ctx, "badinput/"+suffix+"/"+src.SourceKey, src.ContentType, bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				rec = envelope.NewClaimCheck(src, &sluicev1.ClaimCheck{Bucket: obj.Bucket, Key: obj.Key, Size: obj.Size, Sha256: obj.SHA256})
			}
			if r.Tamper {
				rec.Payload = &sluicev1.Record_Inline{Inline: append(data, ' ')}
				rec.Size++
			}
			origins[rec.GetId()] = origin{c, j}
			if _, err := bus.Publish(ctx, js, bus.Message{Subject: bus.RawSubject("badinput", c.Dataset), MsgID: rec.GetId(),
				Body: rec, RecordID: rec.GetId(), Provider: "badinput", Dataset: c.Dataset}); err != nil {
				t.Fatalf("case %s: publish: %v", c.Name, err)
			}
		}
	}
	waitPipelineIdle(t, ctx, js, 5*time.Minute)

	// Every dead letter, by case.
	type letter struct {
		record int
		dl     *sluicev1.DeadLetter
	}
	letters := map[string][]letter{}
	for _, dl := range deadLetters(t, ctx, js) {
		o, ok := origins[dl.GetRecordId()]
		if !ok {
			t.Errorf("dead letter of unknown record %q: stage %s: %s", dl.GetRecordId(), dl.GetStage(), dl.GetReason())
			continue
		}
		letters[o.c.Name] = append(letters[o.c.Name], letter{o.record, dl})
	}

	for i := range cases {
		c := &cases[i]
		t.Run(c.Name, func(t *testing.T) {
			sp := bySet[c.Dataset]
			if n := caseRows(t, ctx, pool, sp, c.Name); n != c.Expect.Rows {
				t.Errorf("%s: %d rows loaded, want %d", c.About, n, c.Expect.Rows)
			}
			if w := c.Expect.Want; w != nil {
				got := caseValues(t, ctx, pool, sp, c.Name, w.Cols)
				if fmt.Sprint(deref(got)) != fmt.Sprint(deref(w.Rows)) {
					t.Errorf("%s: rows (%s) = %q, want %q", c.About, strings.Join(w.Cols, ", "), deref(got), deref(w.Rows))
				}
			}
			matched := make([]bool, len(letters[c.Name]))
			find := func(record int, row int64, stage, reason string) (string, bool) {
				var seen []string
				for k, l := range letters[c.Name] {
					if l.record != record || l.dl.GetRowIndex() != row || (stage != "" && l.dl.GetStage() != stage) {
						continue
					}
					matched[k] = true
					if strings.Contains(strings.ToLower(l.dl.GetReason()), strings.ToLower(reason)) {
						return "", true
					}
					seen = append(seen, l.dl.GetStage()+": "+l.dl.GetReason())
				}
				return strings.Join(seen, "; "), false
			}
			for _, d := range c.Expect.Dead {
				if seen, ok := find(d.Record, d.Row, "", d.Reason); !ok {
					t.Errorf("%s: record %d row %d not dead-lettered with a reason containing %q (letters: %s)", c.About, d.Record, d.Row, d.Reason, or(seen, "none"))
				}
			}
			for _, r := range c.Expect.Rejected {
				if seen, ok := find(r.Record, -1, r.Stage, r.Reason); !ok {
					t.Errorf("%s: record %d not rejected with a reason containing %q (letters: %s)", c.About, r.Record, r.Reason, or(seen, "none"))
				}
			}
			for k, l := range letters[c.Name] {
				if !matched[k] {
					t.Errorf("%s: unexpected dead letter: record %d row %d, stage %s: %s", c.About, l.record, l.dl.GetRowIndex(), l.dl.GetStage(), l.dl.GetReason())
				}
			}
		})
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// deref turns NULLs into "NULL" for printing and comparison.
func deref(rows [][]*string) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = make([]string, len(r))
		for j, v := range r {
			out[i][j] = "NULL"
			if v != nil {
				out[i][j] = *v
			}
		}
	}
	return out
}

// caseRows counts the rows of one case; a table never created holds none.
func caseRows(t *testing.T, ctx context.Context, pool *pgxpool.Pool, sp *spec.Spec, name string) int64 {
	t.Helper()
	var n int64
	err := pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{sp.Table}.Sanitize()+" WHERE case_name = $1", name).Scan(&n)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// caseValues returns cols of the case's rows as text, in key order.
func caseValues(t *testing.T, ctx context.Context, pool *pgxpool.Pool, sp *spec.Spec, name string, cols []string) [][]*string {
	t.Helper()
	sel := make([]string, len(cols))
	for i, c := range cols {
		// Aliased: ORDER BY must sort by the key columns, not by their text.
		sel[i] = pgx.Identifier{c}.Sanitize() + "::text AS v" + strconv.Itoa(i)
	}
	order := make([]string, len(sp.PrimaryKey))
	for i, c := range sp.PrimaryKey {
		order[i] = pgx.Identifier{c}.Sanitize()
	}
	rows, err := pool.Query(ctx, "SELECT "+strings.Join(sel, ", ")+" FROM "+pgx.Identifier{sp.Table}.Sanitize()+
		" WHERE case_name = $1 ORDER BY "+strings.Join(order, ", "), name)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
			return nil
		}
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]*string, error) {
		vals := make([]*string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		return vals, r.Scan(ptrs...)
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitPipelineIdle waits until staging-store, transformer and loader have settled every
// message published so far (retries included) and stay so for a few seconds.
func waitPipelineIdle(t *testing.T, ctx context.Context, js jetstream.JetStream, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	quiet := 0
	for quiet < 3 {
		busy := ""
		for _, c := range [][2]string{{bus.StreamRaw, "staging-store"}, {bus.StreamStaged, "transformer"}, {bus.StreamRows, "loader"}} {
			s, err := js.Stream(ctx, c[0])
			if err != nil {
				t.Fatal(err)
			}
			cons, err := js.Consumer(ctx, c[0], c[1])
			if err != nil {
				busy = c[1] + " has no consumer yet"
				continue
			}
			ci, si := cons.CachedInfo(), s.CachedInfo()
			if ci.NumPending > 0 || ci.NumAckPending > 0 || ci.Delivered.Stream < si.State.LastSeq {
				busy = fmt.Sprintf("%s: pending %d, ack pending %d, delivered %d of %d", c[1], ci.NumPending, ci.NumAckPending, ci.Delivered.Stream, si.State.LastSeq)
			}
		}
		if busy == "" {
			quiet++
		} else {
			quiet = 0
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pipeline did not settle within %v: %s", timeout, busy)
		}
		time.Sleep(time.Second)
	}
}

// deadLetters reads the whole DLQ stream.
func deadLetters(t *testing.T, ctx context.Context, js jetstream.JetStream) []*sluicev1.DeadLetter {
	t.Helper()
	s, err := js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	total := s.CachedInfo().State.Msgs
	if total == 0 {
		return nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*sluicev1.DeadLetter
	for uint64(len(out)) < total {
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("read DLQ (%d of %d): %v", len(out), total, err)
		}
		dl := &sluicev1.DeadLetter{}
		if err := proto.Unmarshal(msg.Data(), dl); err != nil {
			t.Fatalf("decode dead letter: %v", err)
		}
		out = append(out, dl)
	}
	return out
}
