package s3objects_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/internal/testinfra"
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/conformance"
	"github.com/sluice-dev/sluice/services/extractor/providers/s3objects"
)

// TestConformance runs the provider conformance suite with the real S3 server behind the
// suite's guard: every S3 call must go through the governed client to reach it.
func TestConformance(t *testing.T) {
	infra := testinfra.Require(t, testinfra.S3)
	bucket := fmt.Sprintf("conf-s3objects-%d", time.Now().UnixNano()%1e9)
	store, err := blob.New(blob.Config{Endpoint: infra.S3Endpoint, Region: infra.S3Region, Bucket: bucket, AccessKey: infra.S3AccessKey, SecretKey: infra.S3SecretKey, PartSize: 5 << 20, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := store.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	for key, body := range map[string]string{"in/orders/a.ndjson": `{"id":1}` + "\n", "in/orders/b.ndjson": `{"id":2}` + "\n", "in/other/c.txt": "x"} {
		if _, err := store.Put(ctx, key, "application/x-ndjson", strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	target, err := url.Parse(infra.S3Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	spec := `{"provider":"s3objects","dataset":"orders","version":1,"table":"conf_orders","format":{"type":"ndjson"},
		"columns":[{"name":"id","type":"bigint","expr":"row.id"}],"primary_key":["id"]}`
	day := time.Now().UTC().AddDate(0, 0, -1).Truncate(24 * time.Hour)
	conformance.Run(t, conformance.Case{
		Spec: s3objects.Spec,
		API:  httputil.NewSingleHostReverseProxy(target),
		Config: func(api string) any {
			c := s3objects.DefaultConfig()
			c.Source = s3objects.Bucket{Endpoint: api, Region: infra.S3Region, Bucket: bucket, Prefix: "in/"}
			c.Datasets = []s3objects.Dataset{{Prefix: "orders/", Spec: json.RawMessage(spec)}}
			return c
		},
		Env:     map[string]string{"SLUICE_S3_ACCESS_KEY": infra.S3AccessKey, "SLUICE_S3_SECRET_KEY": infra.S3SecretKey},
		Trigger: provider.Trigger{Source: "cli", From: day, To: day},
	})
}
