package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/envelope"
	"github.com/sluice-dev/sluice/internal/redact"
	"github.com/sluice-dev/sluice/internal/staging"
)

const replayUsage = "usage: sluice replay --provider P [--dataset D] [--since T] [--until T] [--run R]"

// replayConfig is what sluice replay re-publishes, and from where.
type replayConfig struct {
	NATS     config.NATS
	Mongo    staging.Config
	Provider string
	Filter   staging.Filter
	ID       string
	// InFlight bounds publishes awaiting their acknowledgement.
	InFlight int
	Progress time.Duration
	DryRun   bool
}

func parseReplayConfig(env *cliEnv, args []string) (replayConfig, error) {
	fs := config.NewFlagSet("sluice replay", env.getenv, env.stdout)
	var c replayConfig
	var since, until string
	natsFlags(fs, &c.NATS)
	mongoFlags(fs, &c.Mongo)
	fs.StringVar(&c.Provider, "provider", "", "", "provider whose staged documents are replayed (required)")
	fs.StringVar(&c.Filter.Dataset, "dataset", "", "", "only this dataset")
	fs.StringVar(&since, "since", "", "", "only records extracted at or after this time (RFC 3339 or YYYY-MM-DD, UTC)")
	fs.StringVar(&until, "until", "", "", "only records extracted before this time (RFC 3339 or YYYY-MM-DD, UTC)")
	fs.StringVar(&c.Filter.RunID, "run", "", "", "only records of this run id")
	fs.StringVar(&c.ID, "replay-id", "", "", "id of this replay (default: generated); re-using one within the publish dedupe window re-sends nothing")
	fs.IntVar(&c.InFlight, "max-in-flight", "", 256, "records published and not yet acknowledged by the stream")
	fs.DurationVar(&c.Progress, "progress-interval", "", 2*time.Second, "how often progress is printed")
	fs.BoolVar(&c.DryRun, "dry-run", "", false, "count the records that would be replayed and stop")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if len(fs.Args()) > 0 {
		return c, fmt.Errorf("unexpected arguments %q; %s", fs.Args(), replayUsage)
	}
	var errs []error
	if c.Provider == "" {
		errs = append(errs, errors.New("--provider is required; "+replayUsage))
	} else if err := envelope.CheckName("--provider", c.Provider); err != nil {
		errs = append(errs, err)
	}
	if c.Filter.Dataset != "" {
		if err := envelope.CheckName("--dataset", c.Filter.Dataset); err != nil {
			errs = append(errs, err)
		}
	}
	var err error
	if c.Filter.Since, err = parseTime("--since", since); err != nil {
		errs = append(errs, err)
	}
	if c.Filter.Until, err = parseTime("--until", until); err != nil {
		errs = append(errs, err)
	}
	if err := c.Filter.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--since/--until: %w", err))
	}
	if c.InFlight < 1 {
		errs = append(errs, fmt.Errorf("--max-in-flight %d: must be at least 1", c.InFlight))
	}
	if c.Progress <= 0 {
		errs = append(errs, fmt.Errorf("--progress-interval %v: must be positive", c.Progress))
	}
	if c.ID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		c.ID = time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
	} else if !validRunID(c.ID) {
		errs = append(errs, fmt.Errorf("--replay-id %q: letters, digits, '-', '_' only", c.ID))
	}
	if err := c.Mongo.Validate(); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// parseTime reads RFC 3339 or a UTC date; empty is the zero time.
func parseTime(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%s %q: want RFC 3339 (2025-03-01T12:00:00Z) or a date (2025-03-01)", flag, s)
}

func mongoFlags(fs *config.FlagSet, c *staging.Config) {
	fs.ConnStringVar(&c.URI, "mongo-uri", "SLUICE_MONGO_URI", "mongodb://127.0.0.1:27017/", "document store URI", redact.MongoHasPassword)
	fs.StringVar(&c.Database, "mongo-database", "SLUICE_MONGO_DATABASE", "sluice", "document store database")
}

// cmdReplay re-publishes staged documents to STAGED, so the transformer and the loader
// re-run them under the current dataset specs; no provider is called. Each message carries
// the replay id (header Sluice-Replay), which gives its row batches new dedupe ids: a
// replay is never mistaken for a redelivery. Rows whose content did not change are not
// rewritten by the loader, and the monotonic guard keeps rows of newer extractions.
func cmdReplay(ctx context.Context, env *cliEnv, args []string) error {
	c, err := parseReplayConfig(env, args)
	if err != nil {
		return err
	}
	store, err := staging.Open(ctx, c.Mongo)
	if err != nil {
		return unreachable("MongoDB", redact.Mongo(c.Mongo.URI), "--mongo-uri", "SLUICE_MONGO_URI", err)
	}
	defer store.Close(context.WithoutCancel(ctx))
	what := describeReplay(c)
	if c.DryRun {
		total, err := store.Count(ctx, c.Provider, c.Filter)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "%d staged records of %s would be replayed\n", total, what)
		return nil
	}
	nc, js, err := connect(ctx, c.NATS, env.stderr)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := bus.Provision(ctx, js, bus.DefaultProvision()); err != nil {
		return err
	}
	// The count only feeds the progress line, so it runs beside the replay rather than
	// before it: on a large collection it is a scan of its own, and the first records
	// reach the transformer without waiting for it.
	counted := make(chan int64, 1)
	go func() {
		total, err := store.Count(ctx, c.Provider, c.Filter)
		if err != nil {
			total = -1
		}
		counted <- total
	}()
	fmt.Fprintf(env.stderr, "replay %s: staged records of %s\n", c.ID, what)
	start := time.Now()
	n, err := replay(ctx, js, store, c, newReplayProgress(env.stderr, counted, c.Progress))
	if err != nil {
		return fmt.Errorf("replay %s stopped after %d records: %w", c.ID, n, err)
	}
	if n == 0 {
		fmt.Fprintf(env.stdout, "0 staged records of %s: nothing to replay\n", what)
		return nil
	}
	elapsed := time.Since(start)
	fmt.Fprintf(env.stdout, "replay %s: %d records of %s re-published to %s in %v (%.0f records/s)\n",
		c.ID, n, what, bus.StreamStaged, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())
	return nil
}

func describeReplay(c replayConfig) string {
	s := c.Provider
	if c.Filter.Dataset != "" {
		s += "/" + c.Filter.Dataset
	}
	if !c.Filter.Since.IsZero() {
		s += " extracted since " + c.Filter.Since.Format(time.RFC3339)
	}
	if !c.Filter.Until.IsZero() {
		s += " extracted before " + c.Filter.Until.Format(time.RFC3339)
	}
	if c.Filter.RunID != "" {
		s += " of run " + c.Filter.RunID
	}
	return s
}

// replay streams the matching documents from the store to STAGED with at most
// c.InFlight publishes unacknowledged, and returns how many it published.
func replay(ctx context.Context, js jetstream.JetStream, store *staging.Store, c replayConfig, prog *replayProgress) (int64, error) {
	pub := bus.NewBatch(js)
	var sent, acked int64
	err := store.Find(ctx, c.Provider, c.Filter, 64, func(d staging.Document) error {
		rec := d.Record()
		if err := pub.Add(ctx, bus.Message{
			Subject:  bus.StagedSubject(d.Provider, d.Dataset),
			MsgID:    d.ID + ":replay:" + c.ID,
			Body:     rec,
			RecordID: d.ID,
			Provider: d.Provider,
			Dataset:  d.Dataset,
			Header:   nats.Header{bus.HeaderReplay: []string{c.ID}},
		}); err != nil {
			return err
		}
		sent++
		if pub.Len() >= c.InFlight {
			if err := pub.Wait(ctx); err != nil {
				return err
			}
			acked = sent
			prog.update(acked)
		}
		return nil
	})
	if err != nil {
		return acked, err
	}
	if err := pub.Wait(ctx); err != nil {
		return acked, err
	}
	prog.update(sent)
	prog.done()
	return sent, nil
}

// replayProgress prints "replayed n/total (p%), r records/s" at most every interval; until
// the total is counted, "replayed n records, r records/s".
type replayProgress struct {
	w        io.Writer
	counted  <-chan int64
	total    int64 // -1 while not known
	every    time.Duration
	start    time.Time
	last     time.Time
	n        int64
	printedN int64
	// printedTotal says whether the last line printed showed the total.
	printedTotal bool
}

func newReplayProgress(w io.Writer, counted <-chan int64, every time.Duration) *replayProgress {
	now := time.Now()
	return &replayProgress{w: w, counted: counted, total: -1, every: every, start: now, last: now}
}

func (p *replayProgress) update(n int64) {
	p.n = n
	if time.Since(p.last) >= p.every {
		p.print()
	}
}

// receive takes the count once it has come in (wait: blocking until it does). Records
// staged since the count are replayed too, so the total is never below what was sent; a
// count that failed leaves the total unknown.
func (p *replayProgress) receive(wait bool) {
	if p.counted == nil {
		return
	}
	var t int64
	if wait {
		t = <-p.counted
	} else {
		select {
		case t = <-p.counted:
		default:
			return
		}
	}
	p.counted = nil
	if t >= 0 {
		p.total = max(t, p.n)
	}
}

func (p *replayProgress) print() {
	p.receive(false)
	now := time.Now()
	rate := float64(p.n-p.printedN) / now.Sub(p.last).Seconds()
	p.printedTotal = p.total >= 0
	if p.total < 0 {
		fmt.Fprintf(p.w, "replayed %d records, %.0f records/s\n", p.n, rate)
	} else {
		pct := 100.0
		if p.total > 0 {
			pct = 100 * float64(p.n) / float64(p.total)
		}
		fmt.Fprintf(p.w, "replayed %d/%d records (%.0f%%), %.0f records/s\n", p.n, p.total, pct, rate)
	}
	p.last, p.printedN = now, p.n
}

// done prints the final line, with the total once the count is in.
func (p *replayProgress) done() {
	p.receive(true)
	// The final line: unless the last one already showed every record and the total.
	if p.printedN != p.n || (p.total >= 0 && !p.printedTotal) {
		p.last = p.start
		p.printedN = 0
		p.print()
	}
}
