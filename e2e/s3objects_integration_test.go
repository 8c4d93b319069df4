package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sluice-dev/sluice/e2e/harness"
	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/testinfra"
	"github.com/sluice-dev/sluice/services/extractor/providers/s3objects"
)

// order is one row of the s3objects test data: what Postgres must hold for it.
type order struct {
	ID       int64
	Customer string
	Amount   string
}

func orderOf(id int64) order {
	return order{ID: id, Customer: "customer-" + strconv.FormatInt(id, 10), Amount: fmt.Sprintf("%d.%02d", id*7%1000, id%100)}
}

// encode writes orders first..last in format (json_array, ndjson, csv), gzipped if gz.
func encode(t *testing.T, format string, first, last int64, gz bool) []byte {
	t.Helper()
	var b bytes.Buffer
	switch format {
	case "json_array":
		var rows []map[string]any
		for id := first; id <= last; id++ {
			o := orderOf(id)
			rows = append(rows, map[string]any{"id": o.ID, "customer": o.Customer, "amount": json.Number(o.Amount)})
		}
		_ = json.NewEncoder(&b).Encode(rows)
	case "ndjson":
		for id := first; id <= last; id++ {
			o := orderOf(id)
			fmt.Fprintf(&b, "{\"id\":%d,\"customer\":%q,\"amount\":%s}\n", o.ID, o.Customer, o.Amount)
		}
	case "csv":
		b.WriteString("id,customer,amount\n")
		for id := first; id <= last; id++ {
			o := orderOf(id)
			fmt.Fprintf(&b, "%d,%s,%s\n", o.ID, o.Customer, o.Amount)
		}
	}
	if gz {
		return gzipBytes(t, b.Bytes())
	}
	return b.Bytes()
}

func orderSpec(format string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"provider":"s3objects","dataset":"orders_%[1]s","version":1,"table":"s3_orders_%[1]s",
		"format":{"type":%[2]q},
		"columns":[{"name":"id","type":"bigint","expr":"row.id"},{"name":"customer","type":"text","expr":"row.customer"},
			{"name":"amount","type":"numeric","expr":"row.amount"}],
		"primary_key":["id"]}`, strings.ReplaceAll(format, "_array", ""), format))
}

// TestS3ObjectsIngestEndToEnd ingests JSON, NDJSON and CSV objects, plain and gzipped,
// from a bucket of another S3 account through the whole pipeline into Postgres: exact
// rows, no copy of the objects in the claims bucket, then an S3 event notification that
// plans only the object it names, then a listing that re-ingests only a changed object.
func TestS3ObjectsIngestEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p := newS3Pipeline(t, ctx)
	src := testinfra.StartS3(t) // the source account: its own server and keys

	srcClient := blob.NewClient(blob.Endpoint{URL: src.Endpoint, Region: src.Region, AccessKey: src.AccessKey, SecretKey: src.SecretKey})
	const bucket = "orders-src"
	if _, err := srcClient.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	put := func(key string, body []byte) {
		t.Helper()
		if _, err := srcClient.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	formats := []string{"json_array", "ndjson", "csv"}
	ext := map[string]string{"json_array": "json", "ndjson": "ndjson", "csv": "csv"}
	for i, f := range formats {
		base := int64(i * 100)
		put(fmt.Sprintf("in/%s/a.%s", f, ext[f]), encode(t, f, base+1, base+3, false))
		put(fmt.Sprintf("in/%s/b.%s.gz", f, ext[f]), encode(t, f, base+4, base+5, true))
	}
	put("in/unrelated.txt", []byte("not a dataset"))

	cfg := s3objects.DefaultConfig()
	cfg.Source = s3objects.Bucket{Endpoint: src.Endpoint, Region: src.Region, Bucket: bucket, Prefix: "in/", Credentials: "orders"}
	for _, f := range formats {
		cfg.Datasets = append(cfg.Datasets, s3objects.Dataset{Prefix: f + "/", Spec: orderSpec(f)})
	}
	// The source account's keys, by the name the config gives them; the extractor and
	// the transformer (which streams the objects) both read them.
	p.start(t, ctx, cfg, map[string]string{"SLUICE_S3_ORDERS_ACCESS_KEY": src.AccessKey, "SLUICE_S3_ORDERS_SECRET_KEY": src.SecretKey})
	pool, js := p.pool, p.js

	wantIDs := map[string][]int64{}
	for i, f := range formats {
		for id := int64(i*100 + 1); id <= int64(i*100+5); id++ {
			wantIDs[f] = append(wantIDs[f], id)
		}
	}
	checkAll := func(t *testing.T) {
		t.Helper()
		for _, f := range formats {
			checkOrders(t, ctx, pool, f, wantIDs[f])
		}
	}

	p.run(t, ctx, "s3-first")
	t.Run("every format loads exact rows", checkAll)

	t.Run("objects are not copied: staging points at them", func(t *testing.T) {
		mc, err := mongo.Connect(options.Client().ApplyURI(p.infra.MongoURI))
		if err != nil {
			t.Fatal(err)
		}
		defer mc.Disconnect(context.Background())
		cur, err := mc.Database(p.db()).Collection("raw_s3objects").Find(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		var docs []struct {
			Payload  []byte `bson:"payload"`
			S3Bucket string `bson:"s3_bucket"`
			S3Object *struct {
				Endpoint    string `bson:"endpoint"`
				ETag        string `bson:"etag"`
				Credentials string `bson:"credentials"`
			} `bson:"s3_object"`
		}
		if err := cur.All(ctx, &docs); err != nil {
			t.Fatal(err)
		}
		if len(docs) != 6 {
			t.Fatalf("%d staged documents, want 6 (one per object)", len(docs))
		}
		for _, d := range docs {
			ref := d.S3Object
			if d.Payload != nil || ref == nil || ref.Endpoint != src.Endpoint || ref.Credentials != "orders" || ref.ETag == "" || d.S3Bucket != bucket {
				t.Errorf("staged document %+v: want an S3 reference to the source object and no payload", d)
			}
		}
		claims := blob.NewClient(blob.Endpoint{URL: p.infra.S3Endpoint, Region: p.infra.S3Region, AccessKey: p.infra.S3AccessKey, SecretKey: p.infra.S3SecretKey})
		out, err := claims.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("sluice-e2e-s3-" + p.suffix), Prefix: aws.String("claims/s3objects/")})
		if err == nil && len(out.Contents) > 0 {
			t.Errorf("the claims bucket holds %d copies of source objects, want none", len(out.Contents))
		}
	})

	t.Run("an S3 event notification plans only the object it names", func(t *testing.T) {
		put("in/ndjson/c.ndjson", encode(t, "ndjson", 106, 107, false))
		// Changed, but not named by the event: the event must not pick it up.
		put("in/csv/a.csv", append(encode(t, "csv", 201, 203, false), []byte("206,customer-206,"+orderOf(206).Amount+"\n")...))
		head, err := srcClient.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("in/ndjson/c.ndjson")})
		if err != nil {
			t.Fatal(err)
		}
		note := fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","eventTime":"2024-06-01T00:00:00.000Z",
			"s3":{"bucket":{"name":%q},"object":{"key":"in/ndjson/c.ndjson","size":%d,"eTag":%q}}}]}`, bucket, aws.ToInt64(head.ContentLength), strings.Trim(aws.ToString(head.ETag), `"`))
		before := p.tasks(t, ctx)
		if _, err := js.Publish(ctx, bus.EventSubject(s3objects.Name, "object.created"), []byte(note)); err != nil {
			t.Fatal(err)
		}
		wantIDs["ndjson"] = append(wantIDs["ndjson"], 106, 107)
		if _, err := harness.WaitRows(ctx, pool, "s3_orders_ndjson", 7, 60*time.Second); err != nil {
			t.Fatal(err)
		}
		// The plan task and one object task: the changed CSV object is not planned.
		waitConsumerIdle(t, ctx, js, "TASKS", "extractor-s3objects", before+2)
		if got := p.tasks(t, ctx); got != before+2 {
			t.Fatalf("the event led to %d tasks, want 2 (its plan and the one object it names)", got-before)
		}
		checkAll(t)
	})

	t.Run("a listing ingests only what changed", func(t *testing.T) {
		before := p.tasks(t, ctx)
		p.run(t, ctx, "s3-second")
		wantIDs["csv"] = append(wantIDs["csv"], 206)
		if _, err := harness.WaitRows(ctx, pool, "s3_orders_csv", 6, 60*time.Second); err != nil {
			t.Fatal(err)
		}
		waitConsumerIdle(t, ctx, js, "TASKS", "extractor-s3objects", before+2)
		if got := p.tasks(t, ctx); got != before+2 {
			t.Fatalf("the listing led to %d tasks, want 2 (its plan and the changed CSV object; the rest was seen)", got-before)
		}
		for _, c := range []struct{ stream, consumer string }{{"RAW", "staging-store"}, {"STAGED", "transformer"}, {"ROWS", "loader"}} {
			waitConsumerIdle(t, ctx, js, c.stream, c.consumer, 0)
		}
		checkAll(t)
	})
}

// checkOrders compares table s3_orders_<format> with the orders of ids, row by row.
func checkOrders(t *testing.T, ctx context.Context, pool *pgxpool.Pool, format string, ids []int64) {
	t.Helper()
	table := "s3_orders_" + strings.ReplaceAll(format, "_array", "")
	if _, err := harness.WaitRows(ctx, pool, table, int64(len(ids)), 60*time.Second); err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, "SELECT id, customer, amount::text FROM "+table+" ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[order])
	if err != nil {
		t.Fatal(err)
	}
	var want []order
	for _, id := range ids {
		want = append(want, orderOf(id))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s:\n got %v\nwant %v", table, got, want)
	}
}

// runSluice runs the sluice CLI against the test's NATS.
func runSluice(t *testing.T, ctx context.Context, bin, natsURL string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "sluice"), args...)
	cmd.Env = append(os.Environ(), "SLUICE_NATS_URL="+natsURL)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sluice %v: %v\n%s", args, err, out)
	}
}
