package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluice-dev/sluice/e2e/harness"
	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/testinfra"
	"github.com/sluice-dev/sluice/services/extractor/providers/s3objects"
	"github.com/sluice-dev/sluice/services/extractor/providers/s3objects/transfer"
	"github.com/sluice-dev/sluice/services/extractor/providers/s3objects/transfer/transfertest"
)

// partCounter stands between the extractor and the target account's S3 server: it
// counts the part uploads the server received and slows each a little, so a kill can
// land mid-transfer.
type partCounter struct {
	transfertest.Parts
	proxy *httputil.ReverseProxy
}

func (c *partCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("partNumber") != "" {
		time.Sleep(150 * time.Millisecond)
	}
	c.Observe(r)
	c.proxy.ServeHTTP(w, r)
}

// TestS3TransferKilledAndResumed copies objects from the shared S3 server to a second
// account's server through the whole pipeline, kills the extractor with SIGKILL in the
// middle of a multipart copy, restarts it, and checks that no part the target already
// held was sent again, that every object arrived byte for byte, that the manifest rows
// reached Postgres, and that a later plan skips what is there and re-copies what changed.
func TestS3TransferKilledAndResumed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	p := newS3Pipeline(t, ctx)
	env := p.infra
	dst := testinfra.StartS3(t) // the target account: its own server and keys

	srcBucket, dstBucket := "xfer-src-"+p.suffix, "xfer-dst"
	srcStore, err := blob.New(blob.Config{Endpoint: env.S3Endpoint, Region: env.S3Region, Bucket: srcBucket, AccessKey: env.S3AccessKey, SecretKey: env.S3SecretKey, PartSize: 8 << 20, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := srcStore.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	dstClient := blob.NewClient(blob.Endpoint{URL: dst.Endpoint, Region: dst.Region, AccessKey: dst.AccessKey, SecretKey: dst.SecretKey})
	if _, err := dstClient.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(dstBucket)}); err != nil {
		t.Fatal(err)
	}
	const part = transfer.MinPartSize
	objects := map[string]struct {
		seed uint64
		size int64
	}{
		"data/empty.bin":  {1, 0},
		"data/small.bin":  {2, 1000},
		"data/medium.bin": {3, part + 1},
		"data/big.bin":    {4, 24*part - 3},
	}
	for key, o := range objects {
		if err := transfertest.Put(ctx, srcStore, key, o.seed, o.size); err != nil {
			t.Fatal(err)
		}
	}
	// Already at the target with the same bytes: the plan must skip it.
	small, err := io.ReadAll(transfertest.NewReader(2, 1000))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dstClient.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(dstBucket), Key: aws.String("backup/small.bin"),
		Body: bytes.NewReader(small), ContentLength: aws.Int64(1000)}); err != nil {
		t.Fatal(err)
	}

	target, _ := url.Parse(dst.Endpoint)
	counter := &partCounter{proxy: httputil.NewSingleHostReverseProxy(target)}
	proxy := httptest.NewServer(counter)
	defer proxy.Close()

	cfg := s3objects.DefaultConfig()
	cfg.Source = s3objects.Bucket{Endpoint: env.S3Endpoint, Region: env.S3Region, Bucket: srcBucket, Prefix: "data/"}
	cfg.Target = &s3objects.Bucket{Endpoint: proxy.URL, Region: dst.Region, Bucket: dstBucket, Prefix: "backup/", Credentials: "backup"}
	cfg.Transfer = transfer.Config{PartSize: part, Concurrency: 2}

	p.start(t, ctx, cfg, map[string]string{"SLUICE_S3_BACKUP_ACCESS_KEY": dst.AccessKey, "SLUICE_S3_BACKUP_SECRET_KEY": dst.SecretKey}, "--ack-wait", "5s")
	svc, pool, js := p.svc, p.pool, p.js
	ckpt, err := js.KeyValue(ctx, bus.BucketCheckpoints)
	if err != nil {
		t.Fatal(err)
	}
	bigKey := s3objects.TransferCheckpoint(dstBucket, "backup/big.bin")
	journal := func() transfer.State {
		t.Helper()
		var st transfer.State
		if e, err := ckpt.Get(ctx, bigKey); err == nil {
			if err := json.Unmarshal(e.Value(), &st); err != nil {
				t.Fatal(err)
			}
		}
		return st
	}

	p.run(t, ctx, "xfer-first")
	// Kill the extractor once a few parts of the big object are journalled.
	deadline := time.Now().Add(2 * time.Minute)
	for journal().PartsDone < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("the big object's copy did not get 4 parts in: %+v", journal())
		}
		time.Sleep(50 * time.Millisecond)
	}
	svc.Group[len(svc.Group)-1].Kill() // the extractor is started last
	killed := journal()
	if killed.Done || killed.UploadID == "" {
		t.Fatalf("journal at the kill: %+v, want an open upload", killed)
	}
	listed, err := dstClient.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(dstBucket), Key: aws.String("backup/big.bin"), UploadId: aws.String(killed.UploadID)})
	if err != nil {
		t.Fatal(err)
	}
	// Parts listed and journalled as verified must not be sent again; a part cut off by
	// the kill may be listed too, with the wrong bytes, and is sent again.
	kept := map[string]bool{}
	for _, p := range listed.Parts {
		n := aws.ToInt32(p.PartNumber)
		if killed.PartETags[n-1] == strings.Trim(aws.ToString(p.ETag), `"`) {
			kept[strconv.Itoa(int(n))] = true
		}
	}
	if len(kept) < 4 || len(kept) >= 24 {
		t.Fatalf("target holds %d verified parts after the kill, want 4..23", len(kept))
	}
	before := counter.Snapshot()

	if _, err := svc.Restart("extractor-" + s3objects.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := harness.WaitRows(ctx, pool, "s3objects_transfers", 3, 2*time.Minute); err != nil {
		t.Fatal(err)
	}

	t.Run("finished parts are not sent again", func(t *testing.T) {
		after := counter.Snapshot()
		for n := range kept {
			if after[n] != before[n] {
				t.Errorf("part %s was on the target before the restart and was sent again (%d → %d uploads)", n, before[n], after[n])
			}
		}
		st := journal()
		last := st.Attempts[len(st.Attempts)-1]
		if !st.Done || last.Listed < len(kept) || last.Listed+last.Sent != 24 {
			t.Errorf("journal %+v: the resumed attempt should keep ≥ %d parts and send only the rest of 24", st, len(kept))
		}
	})
	t.Run("progress in metrics", func(t *testing.T) {
		// The restarted extractor counted the parts it found uploaded and those it sent.
		last := journal().Attempts
		var resumed, sent float64
		err := scrapeLines(ctx, svc.HTTP["extractor-"+s3objects.Name], func(line string) {
			v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			switch {
			case strings.HasPrefix(line, "sluice_transfer_parts_total{") && strings.Contains(line, `outcome="resumed"`):
				resumed += v
			case strings.HasPrefix(line, "sluice_transfer_parts_total{") && strings.Contains(line, `mode="stream"`):
				sent += v
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		a := last[len(last)-1]
		if resumed != float64(a.Listed) || sent < float64(a.Sent) {
			t.Errorf("metrics: %v parts resumed, %v streamed; the resumed attempt found %d and sent %d", resumed, sent, a.Listed, a.Sent)
		}
	})
	t.Run("every object arrives byte for byte", func(t *testing.T) {
		for key, o := range objects {
			n, sum, err := transfertest.Digest(ctx, dstClient, dstBucket, "backup/"+strings.TrimPrefix(key, "data/"))
			if err != nil || n != o.size || !bytes.Equal(sum, transfertest.SHA256(o.seed, o.size)) {
				t.Errorf("%s: %d bytes (want %d), equal to the source: %v (%v)", key, n, o.size, bytes.Equal(sum, transfertest.SHA256(o.seed, o.size)), err)
			}
		}
	})
	t.Run("manifest rows in Postgres", func(t *testing.T) {
		rows, err := pool.Query(ctx, "SELECT dst_key, size, mode, parts FROM s3objects_transfers ORDER BY dst_key")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var key, mode string
			var size int64
			var parts int
			if err := rows.Scan(&key, &size, &mode, &parts); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%s %d %s %d", key, size, mode, parts))
		}
		want := []string{
			fmt.Sprintf("backup/big.bin %d stream 24", 24*part-3),
			"backup/empty.bin 0 single 1",
			fmt.Sprintf("backup/medium.bin %d stream 2", part+1),
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("manifest:\n got %v\nwant %v (small.bin was already there)", got, want)
		}
	})
	t.Run("a later plan skips what is there and re-copies what changed", func(t *testing.T) {
		if err := transfertest.Put(ctx, srcStore, "data/medium.bin", 33, part+1); err != nil {
			t.Fatal(err)
		}
		p.run(t, ctx, "xfer-second")
		var sum s3objects.PlanSummary
		deadline := time.Now().Add(time.Minute)
		for sum.RunID != "xfer-second" {
			if time.Now().After(deadline) {
				t.Fatalf("no plan summary of run xfer-second: %+v", sum)
			}
			time.Sleep(100 * time.Millisecond)
			if e, err := ckpt.Get(ctx, bus.KVKey(s3objects.Name, "transferplan")); err == nil {
				_ = json.Unmarshal(e.Value(), &sum)
			}
		}
		if sum.Listed != 4 || sum.Counts[s3objects.DecideSkip] != 3 || sum.Counts[s3objects.DecideRecopy] != 1 || sum.Samples[s3objects.DecideRecopy][0].Key != "data/medium.bin" {
			t.Fatalf("plan %+v: want medium.bin re-copied (ETag changed) and the other 3 skipped", sum)
		}
		if !strings.Contains(sum.Samples[s3objects.DecideRecopy][0].Reason, "ETag changed") {
			t.Errorf("re-copy reason %q: want the ETag change named", sum.Samples[s3objects.DecideRecopy][0].Reason)
		}
		deadline = time.Now().Add(time.Minute)
		for {
			if _, sum, err := transfertest.Digest(ctx, dstClient, dstBucket, "backup/medium.bin"); err == nil && bytes.Equal(sum, transfertest.SHA256(33, part+1)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the changed medium.bin was not copied again")
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	t.Run("sluice status shows the transfer", func(t *testing.T) {
		cmd := exec.CommandContext(ctx, filepath.Join(p.bin, "sluice"), "status", "--interval", "0")
		cmd.Env = append(cmd.Environ(), "SLUICE_NATS_URL="+p.natsURL)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("sluice status: %v\n%s", err, out)
		}
		for _, want := range []string{"TRANSFERS:", "s3://xfer-dst/backup/big.bin", "24/24", "last plan of s3objects (run xfer-second"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("sluice status lacks %q:\n%s", want, out)
			}
		}
	})
}
