package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/envelope"
	"github.com/sluice-dev/sluice/internal/testinfra"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// rowsPerMessage is what the transformer puts in one row batch by default.
const rowsPerMessage = 2000

// loaderAlone fills ROWS with the transformer's messages for sc.rows rows, then starts the
// loader and times it from its first delivery until everything is acked (committed).
func (b *loadBench) loaderAlone(ctx context.Context, round int, bin string) (float64, error) {
	name := "load" + strconv.Itoa(round)
	if bin != "" {
		name = "loadalt" + strconv.Itoa(round)
	}
	sp, err := b.table(ctx, name)
	if err != nil {
		return 0, err
	}
	pub := bus.NewBatch(b.p.js)
	extracted := timestamppb.New(time.Now().UTC())
	for first := int64(0); first < b.sc.rows; first += rowsPerMessage {
		record := first / b.sc.rowsPerRecord
		rb := &sluicev1.RowBatch{
			Table: sp.Table, Provider: benchProvider, Dataset: sp.Dataset, SpecVersion: sp.Version,
			RecordId: fmt.Sprintf("rec%08d", record), TraceId: "4bf92f3577b34da6a3ce929d0e0e4736",
			ExtractedAt: extracted, Columns: sp.ColumnNames(), Part: int32(first / rowsPerMessage),
		}
		for i := first; i < min(first+rowsPerMessage, b.sc.rows); i++ {
			rb.Rows = append(rb.Rows, wireRow(i/b.sc.rowsPerRecord, i, i%b.sc.rowsPerRecord))
		}
		if err := pub.Add(ctx, bus.Message{Subject: bus.RowsSubject(sp.Table), MsgID: sp.Table + ":" + strconv.FormatInt(first, 10), Body: rb}); err != nil {
			return 0, err
		}
		if pub.Len() >= 256 {
			if err := pub.Wait(ctx); err != nil {
				return 0, err
			}
		}
	}
	if err := pub.Wait(ctx); err != nil {
		return 0, err
	}
	last, err := b.lastSeq(ctx, bus.StreamRows)
	if err != nil {
		return 0, err
	}
	prof := newProfiler(b.env.Logf)
	start := b.p.start
	if bin != "" {
		start = func(_ string, extra ...string) (*testinfra.Proc, error) {
			return b.p.startBin("sluice-loader", bin, extra...)
		}
	}
	loader, err := start("sluice-loader", prof.env()...)
	if err != nil {
		return 0, err
	}
	defer loader.Stop(30 * time.Second) //nolint:errcheck
	prof.start(ctx, name, 5*time.Second, testinfra.Group{loader})
	defer prof.wait()
	first, end, err := b.p.drained(ctx, 10*time.Minute, []procWatch{{loader}}, b.rowCount(sp.Table, b.sc.rows), consumerRef{bus.StreamRows, "loader", last})
	if err != nil {
		return 0, err
	}
	return float64(b.sc.rows) / end.Sub(first).Seconds(), nil
}

func (b *loadBench) lastSeq(ctx context.Context, stream string) (uint64, error) {
	s, err := b.p.js.Stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.LastSeq, nil
}

// rowCount is a drain check: the table holds want rows.
func (b *loadBench) rowCount(table string, want int64) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		n, err := b.count(ctx, table)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42P01" {
			return false, nil // the loader has not created it yet
		}
		return n == want, err
	}
}

// endToEnd publishes raw records to RAW, runs staging-store, transformer and loader, and
// times RAW → Postgres; then it empties the table and times `sluice replay` rebuilding it.
func (b *loadBench) endToEnd(ctx context.Context, round int) (e2e, replay float64, err error) {
	sp, err := b.table(ctx, "e2e"+strconv.Itoa(round))
	if err != nil {
		return 0, 0, err
	}
	records := (b.sc.rows + b.sc.rowsPerRecord - 1) / b.sc.rowsPerRecord
	pub := bus.NewBatch(b.p.js)
	extracted := time.Now().UTC()
	for r := int64(0); r < records; r++ {
		n := min(b.sc.rowsPerRecord, b.sc.rows-r*b.sc.rowsPerRecord)
		rec := envelope.NewInline(envelope.Source{
			Provider: benchProvider, Dataset: sp.Dataset, SourceKey: sourceKey(r), RunID: "bench",
			ExtractedAt: extracted, ContentType: "application/json",
			Attributes: map[string]string{"profileId": strconv.FormatInt(profileOf(r), 10)},
		}, jsonReport(r*b.sc.rowsPerRecord, n))
		if err := pub.Add(ctx, bus.Message{Subject: bus.RawSubject(benchProvider, sp.Dataset), MsgID: rec.GetId(), Body: rec,
			RecordID: rec.GetId(), Provider: benchProvider, Dataset: sp.Dataset}); err != nil {
			return 0, 0, err
		}
		if pub.Len() >= 64 {
			if err := pub.Wait(ctx); err != nil {
				return 0, 0, err
			}
		}
	}
	if err := pub.Wait(ctx); err != nil {
		return 0, 0, err
	}
	rawLast, err := b.lastSeq(ctx, bus.StreamRaw)
	if err != nil {
		return 0, 0, err
	}
	prof := newProfiler(b.env.Logf)
	group, err := b.startServices(prof.env()...)
	if err != nil {
		return 0, 0, err
	}
	defer group.Stop(30 * time.Second) //nolint:errcheck
	prof.start(ctx, "e2e"+strconv.Itoa(round), 10*time.Second, group)
	defer prof.wait()
	watch := watchAll(group)
	first, end, err := b.p.drained(ctx, 20*time.Minute, watch, b.rowCount(sp.Table, b.sc.rows),
		consumerRef{bus.StreamRaw, "staging-store", rawLast}, consumerRef{bus.StreamStaged, "transformer", 0}, consumerRef{bus.StreamRows, "loader", 0})
	if err != nil {
		return 0, 0, err
	}
	e2e = float64(b.sc.rows) / end.Sub(first).Seconds()
	b.env.Logf("e2e: %d rows in %v", b.sc.rows, end.Sub(first).Round(time.Millisecond))

	if _, err := b.pool.Exec(ctx, "TRUNCATE "+sp.Table); err != nil {
		return 0, 0, err
	}
	prof.wait()
	start := time.Now()
	prof.start(ctx, "replay"+strconv.Itoa(round), 10*time.Second, group)
	if d, err := time.ParseDuration(os.Getenv("BENCH_STALL_NATS")); err == nil {
		go b.p.nats.stall(ctx, 500*time.Millisecond, d)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(b.env.Bin, "sluice"), "replay", "--provider", benchProvider, "--dataset", sp.Dataset)
	cmd.Env = b.p.serviceEnv()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("sluice replay: %w\n%s", err, out.String())
	}
	b.env.Logf("  sluice replay exited after %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out.String()))
	_, end, err = b.p.drained(ctx, 20*time.Minute, watch, b.rowCount(sp.Table, b.sc.rows),
		consumerRef{bus.StreamStaged, "transformer", 0}, consumerRef{bus.StreamRows, "loader", 0})
	if err != nil {
		return 0, 0, err
	}
	b.env.Logf("replay: %d rows in %v", b.sc.rows, end.Sub(start).Round(time.Millisecond))
	return e2e, float64(b.sc.rows) / end.Sub(start).Seconds(), nil
}

func (b *loadBench) startServices(extraEnv ...string) (testinfra.Group, error) {
	return b.p.startStages(extraEnv...)
}

func watchAll(g testinfra.Group) []procWatch {
	var w []procWatch
	for _, p := range g {
		w = append(w, procWatch{p})
	}
	return w
}

// largeReport sends reports of growing size through fresh service processes, one report
// per set of processes, and reports the peak RSS of each service for the largest.
func (b *loadBench) largeReport(ctx context.Context) error {
	blobs, err := blob.New(blob.Config{
		Endpoint: b.p.infra.S3Endpoint, Region: b.p.infra.S3Region, Bucket: b.p.bucket,
		AccessKey: b.p.infra.S3AccessKey, SecretKey: b.p.infra.S3SecretKey, PartSize: 16 << 20, Concurrency: 2,
	})
	if err != nil {
		return err
	}
	if err := blobs.EnsureBucket(ctx); err != nil {
		return err
	}
	for i, size := range b.sc.reportBytes {
		sp, err := b.table(ctx, "report"+strconv.Itoa(i))
		if err != nil {
			return err
		}
		stream := newReportStream(size)
		key := "bench/" + sp.Table + ".json"
		obj, err := blobs.Put(ctx, key, "application/json", stream)
		if err != nil {
			return err
		}
		defer blobs.Client().DeleteObject(context.WithoutCancel(ctx), deleteInput(obj)) //nolint:errcheck
		rows := stream.Rows()
		prof := newProfiler(b.env.Logf)
		group, err := b.startServices(append(prof.env(), strings.Fields(os.Getenv("BENCH_RSS_ENV"))...)...)
		if err != nil {
			return err
		}
		hctx, stopHeaps := context.WithCancel(ctx)
		defer stopHeaps()
		prof.heaps(hctx, "rss"+strconv.Itoa(i), 500*time.Millisecond, group[2])
		rec := envelope.NewClaimCheck(envelope.Source{
			Provider: benchProvider, Dataset: sp.Dataset, SourceKey: "profile=1000/report=" + strconv.Itoa(i), RunID: "bench",
			ExtractedAt: time.Now().UTC(), ContentType: "application/json",
			Attributes: map[string]string{"profileId": "1000"},
		}, &sluicev1.ClaimCheck{Bucket: obj.Bucket, Key: obj.Key, Size: obj.Size, Sha256: obj.SHA256})
		if _, err := bus.Publish(ctx, b.p.js, bus.Message{Subject: bus.RawSubject(benchProvider, sp.Dataset), MsgID: rec.GetId(), Body: rec,
			RecordID: rec.GetId(), Provider: benchProvider, Dataset: sp.Dataset}); err != nil {
			_ = group.Stop(10 * time.Second)
			return err
		}
		start := time.Now()
		_, end, err := b.p.drained(ctx, time.Hour, watchAll(group), b.rowCount(sp.Table, rows),
			consumerRef{bus.StreamRaw, "staging-store", 0}, consumerRef{bus.StreamStaged, "transformer", 0}, consumerRef{bus.StreamRows, "loader", 0})
		if err != nil {
			_ = group.Stop(10 * time.Second)
			return err
		}
		stopHeaps()
		prof.wait()
		var rss [3]float64
		for j, p := range group {
			if rss[j], err = peakRSSMB(p.Pid()); err != nil {
				_ = group.Stop(10 * time.Second)
				return err
			}
		}
		if err := group.Stop(30 * time.Second); err != nil {
			b.env.Logf("stop services: %v", err)
		}
		if os.Getenv("BENCH_KEEP_LOGS") != "" {
			for _, p := range group {
				b.env.Logf("log of %s: %s", p.Name, p.LogPath)
			}
		}
		b.env.Logf("report of %d MiB (%d rows) in %v: peak RSS stage %.0f MiB, transform %.0f MiB, load %.0f MiB",
			size>>20, rows, end.Sub(start).Round(time.Millisecond), rss[0], rss[1], rss[2])
		if i == len(b.sc.reportBytes)-1 {
			b.env.Emit("stage_peak_rss_mb", round(rss[0]))
			b.env.Emit("transform_peak_rss_mb", round(rss[1]))
			b.env.Emit("load_peak_rss_mb", round(rss[2]))
		}
	}
	return nil
}

func deleteInput(obj blob.Object) *s3.DeleteObjectInput {
	return &s3.DeleteObjectInput{Bucket: aws.String(obj.Bucket), Key: aws.String(obj.Key)}
}
