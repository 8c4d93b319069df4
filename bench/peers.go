package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/testinfra"
)

// peersSuite runs the load bench's rows through a peer, Benthos (bench/peers/README.md),
// and through sluice in the same run, alternating round by round:
//
//   - peer_rows_per_s: Benthos, nats_jetstream input → sql_insert with ON CONFLICT and the
//     monotonic guard, into the same table shape (median round).
//   - loader_vs_peer: the loader alone (as load_ratio measures it) over the peer.
//   - e2e_vs_peer: the whole sluice pipeline from JSON reports over the peer; the fairer
//     comparison, since the peer's input is rows already made.
//
// It is not in `make bench` (it builds Benthos); `make bench-peers` runs it.
// BENCH_PEER_SWEEP=batch×in_flight,… (e.g. 100x8,1000x8,1000x16) measures each setting
// instead, once, to tune the peer.
var peersSuite = Suite{Name: "peers", Explicit: true, Run: runPeers}

const peerStream = "PEER"

type peerSetting struct{ batch, inFlight int }

// peerDefault is the best setting of the sweep in bench/peers/README.md.
var peerDefault = peerSetting{batch: 1000, inFlight: 8}

func runPeers(ctx context.Context, env *Env) error {
	bin, err := benthosBinary(ctx, env)
	if err != nil {
		return err
	}
	b, err := openLoadBench(ctx, env)
	if err != nil {
		return err
	}
	defer b.close(context.WithoutCancel(ctx))
	if _, err := b.p.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: peerStream, Subjects: []string{"peer.>"}}); err != nil {
		return err
	}
	if sweep := os.Getenv("BENCH_PEER_SWEEP"); sweep != "" {
		return b.peerSweep(ctx, bin, sweep)
	}
	var peer, loadVs, e2eVs []float64
	for r := range b.rounds {
		rate, err := b.peerRound(ctx, bin, fmt.Sprintf("peer%d", r), peerDefault)
		if err != nil {
			return fmt.Errorf("peer: %w", err)
		}
		l, err := b.loaderAlone(ctx, r, "")
		if err != nil {
			return fmt.Errorf("loader alone: %w", err)
		}
		e, _, err := b.endToEnd(ctx, r)
		if err != nil {
			return fmt.Errorf("end to end: %w", err)
		}
		env.Logf("round %d: peer %.0f rows/s, loader %.0f rows/s (%.2f×), e2e %.0f rows/s (%.2f×)", r+1, rate, l, l/rate, e, e/rate)
		peer, loadVs, e2eVs = append(peer, rate), append(loadVs, l/rate), append(e2eVs, e/rate)
		if err := b.purge(ctx, peerStream); err != nil {
			return err
		}
	}
	env.Emit("peer_rows_per_s", round(median(peer)))
	env.Emit("peer_spread", round3(slices.Max(peer)/slices.Min(peer)))
	// Each round's sluice figures over that round's peer, the median of them.
	env.Emit("loader_vs_peer", round3(median(loadVs)))
	env.Emit("e2e_vs_peer", round3(median(e2eVs)))
	return nil
}

// peerSweep measures the peer once per setting, to find its best.
func (b *loadBench) peerSweep(ctx context.Context, bin, sweep string) error {
	for i, s := range strings.Split(sweep, ",") {
		var set peerSetting
		if _, err := fmt.Sscanf(strings.TrimSpace(s), "%dx%d", &set.batch, &set.inFlight); err != nil || set.batch < 1 || set.inFlight < 1 {
			return fmt.Errorf("BENCH_PEER_SWEEP %q: want batch×in_flight pairs such as 1000x8", s)
		}
		rate, err := b.peerRound(ctx, bin, fmt.Sprintf("sweep%d", i), set)
		if err != nil {
			return err
		}
		b.env.Logf("peer batch %d, max_in_flight %d: %.0f rows/s", set.batch, set.inFlight, rate)
		b.env.Emit(fmt.Sprintf("peer_rows_per_s_b%d_f%d", set.batch, set.inFlight), round(rate))
		if err := b.purge(ctx, peerStream); err != nil {
			return err
		}
	}
	return nil
}

// benthosBinary is BENCH_BENTHOS, or the pinned build bench/peers/install-benthos.sh
// caches (building it on first use).
func benthosBinary(ctx context.Context, env *Env) (string, error) {
	if bin := os.Getenv("BENCH_BENTHOS"); bin != "" {
		return bin, nil
	}
	env.Logf("installing the peer (bench/peers/install-benthos.sh)")
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(env.Root, "bench", "peers", "install-benthos.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("install benthos: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// peerRound publishes the bench's rows as JSON, one row per message, then runs Benthos
// until the table holds them all; the clock runs from its first delivery to the last row.
func (b *loadBench) peerRound(ctx context.Context, bin, name string, set peerSetting) (float64, error) {
	sp, err := b.table(ctx, name)
	if err != nil {
		return 0, err
	}
	if err := b.createTable(ctx, sp); err != nil {
		return 0, err
	}
	subject := "peer." + sp.Table
	extracted := time.Now().UTC().Format(time.RFC3339Nano)
	var buf []byte
	for i := int64(0); i < b.sc.rows; i++ {
		buf = appendPeerRow(buf[:0], i/b.sc.rowsPerRecord, i, extracted)
		if _, err := b.p.js.PublishAsync(subject, bytes.Clone(buf)); err != nil {
			return 0, err
		}
		if i%4096 == 4095 {
			select {
			case <-b.p.js.PublishAsyncComplete():
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
	}
	<-b.p.js.PublishAsyncComplete()
	proc, err := testinfra.StartProc(name+"-benthos", bin, []string{"-c", filepath.Join(b.env.Root, "bench", "peers", "benthos.yaml")}, []string{
		"PEER_NATS_URL=" + b.p.nats.URL, "PEER_SUBJECT=" + subject, "PEER_TABLE=" + sp.Table, "PEER_DURABLE=" + name,
		"PEER_DSN=" + b.p.infra.PostgresURL,
		"PEER_BATCH=" + strconv.Itoa(set.batch), "PEER_MAX_IN_FLIGHT=" + strconv.Itoa(set.inFlight),
		"PEER_MAX_ACK_PENDING=" + strconv.Itoa(set.batch*set.inFlight),
	}, b.p.logDir)
	if err != nil {
		return 0, err
	}
	defer proc.Stop(10 * time.Second) //nolint:errcheck
	// Benthos's input is a push consumer, which the jetstream package does not describe;
	// the older JetStream API does.
	legacy, err := b.p.nc.JetStream()
	if err != nil {
		return 0, err
	}
	done := b.rowCount(sp.Table, b.sc.rows)
	var first time.Time
	for deadline := time.Now().Add(30 * time.Minute); ; {
		if first.IsZero() {
			if ci, err := legacy.ConsumerInfo(peerStream, name); err == nil && ci.Delivered.Stream > 0 {
				first = time.Now()
			}
		}
		ok, err := done(ctx)
		if err != nil {
			return 0, err
		}
		if ok && !first.IsZero() {
			return float64(b.sc.rows) / time.Since(first).Seconds(), nil
		}
		if exited, _ := proc.Exited(); exited {
			return 0, fmt.Errorf("benthos exited early:\n%s", proc.Tail(2000))
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("benthos did not load %d rows within 30 minutes", b.sc.rows)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// peerRow is a row of the bench as the JSON object the peer's config maps.
type peerRow struct {
	ProfileID    int64  `json:"profile_id"`
	CampaignID   int64  `json:"campaign_id"`
	CampaignName string `json:"campaign_name"`
	Date         string `json:"date"`
	Impressions  int64  `json:"impressions"`
	Clicks       int64  `json:"clicks"`
	Cost         string `json:"cost"`
	Purchases    int64  `json:"purchases_7d"`
	CTR          any    `json:"click_through_rate"`
	ReportSource string `json:"report_source"`
	RecordID     string `json:"record_id"`
	TraceID      string `json:"trace_id"`
	ExtractedAt  string `json:"extracted_at"`
}

// appendPeerRow appends row i of record as JSON.
func appendPeerRow(b []byte, record, i int64, extracted string) []byte {
	r := genRow(i)
	data, _ := json.Marshal(peerRow{
		ProfileID: profileOf(record), CampaignID: r.CampaignID, CampaignName: r.Name, Date: r.Date.Format("2006-01-02"),
		Impressions: r.Impressions, Clicks: r.Clicks, Cost: r.Cost, Purchases: r.Purchases, CTR: ctr(r),
		ReportSource: sourceKey(record), RecordID: fmt.Sprintf("rec%08d", record),
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", ExtractedAt: extracted,
	})
	return append(b, data...)
}
