package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/term"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/ratelimit"
)

// stageStreams are the generic stages after extraction: the stream each consumes and the
// durable consumer its service creates.
var stageStreams = []struct{ stage, stream, consumer string }{
	{"stage", bus.StreamRaw, "staging-store"},
	{"transform", bus.StreamStaged, "transformer"},
	{"load", bus.StreamRows, "loader"},
}

func cmdStatus(ctx context.Context, env *cliEnv, args []string) error {
	fs := config.NewFlagSet("sluice status", env.getenv, env.stdout)
	var (
		url, providers string
		asJSON, watch  bool
		interval       time.Duration
	)
	natsFlags(fs, &url)
	fs.BoolVar(&asJSON, "json", "", false, "print JSON (one document; with --watch, one line per refresh)")
	fs.BoolVar(&watch, "watch", "", false, "refresh every --interval until interrupted")
	fs.DurationVar(&interval, "interval", "SLUICE_STATUS_INTERVAL", 2*time.Second, "time between samples; rates are the change over it (0: one sample, no rates)")
	fs.StringVar(&providers, "provider", "", "", "only these providers, comma separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(fs.Args()) > 0 {
		return fmt.Errorf("sluice status takes no arguments, got %q", fs.Args())
	}
	if interval < 0 || (watch && interval < 100*time.Millisecond) {
		return fmt.Errorf("--interval %v: want at least 100ms with --watch, and not negative", interval)
	}
	var only map[string]bool
	if providers != "" {
		only = map[string]bool{}
		for _, p := range strings.Split(providers, ",") {
			only[strings.TrimSpace(p)] = true
		}
	}
	nc, js, err := connect(ctx, url, env.stderr)
	if err != nil {
		return err
	}
	defer nc.Close()

	tty := isTerminal(env.stdout)
	var prev *statusSample
	cur, err := sampleStatus(ctx, js, only)
	if err != nil {
		return err
	}
	if !watch && interval > 0 {
		if !sleepCtx(ctx, interval) {
			return ctx.Err()
		}
		first := cur
		prev = &first
		if cur, err = sampleStatus(ctx, js, only); err != nil {
			return err
		}
	}
	for {
		rep := buildReport(prev, cur)
		switch {
		case asJSON && watch:
			err = json.NewEncoder(env.stdout).Encode(rep)
		case asJSON:
			enc := json.NewEncoder(env.stdout)
			enc.SetIndent("", "  ")
			err = enc.Encode(rep)
		default:
			if watch && tty {
				_, _ = io.WriteString(env.stdout, "\x1b[H\x1b[2J") // home, clear screen
			}
			err = renderText(env.stdout, rep, tty)
			if watch && !tty {
				_, _ = io.WriteString(env.stdout, "\n")
			}
		}
		if err != nil || !watch {
			return err
		}
		if !sleepCtx(ctx, interval) {
			return nil // interrupted: the normal end of --watch
		}
		next, err := sampleStatus(ctx, js, only)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		last := cur
		prev, cur = &last, next
	}
}

// sleepCtx waits d and reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// sampleStatus reads the consumers of TASKS, RAW, STAGED and ROWS, the DLQ stream's
// subjects and the rate governors' shared state.
func sampleStatus(ctx context.Context, js jetstream.JetStream, only map[string]bool) (statusSample, error) {
	s := statusSample{At: time.Now()}
	tasks, err := durableConsumers(ctx, js, bus.StreamTasks)
	if err != nil {
		return s, err
	}
	quotas, err := readQuotas(ctx, js)
	if err != nil {
		return s, err
	}
	names := map[string]bool{}
	for name := range tasks {
		if p, ok := strings.CutPrefix(name, "extractor-"); ok {
			names[p] = true
		}
	}
	for p := range quotas {
		names[p] = true
	}
	events, err := eventsWaiting(ctx, js)
	if err != nil {
		return s, err
	}
	for p := range events {
		names[p] = true
	}
	for p := range names {
		if only != nil && !only[p] {
			continue
		}
		s.Providers = append(s.Providers, providerSample{Name: p, Tasks: tasks["extractor-"+p], Quotas: quotas[p], EventsWaiting: events[p]})
	}
	sort.Slice(s.Providers, func(i, j int) bool { return s.Providers[i].Name < s.Providers[j].Name })

	for _, st := range stageStreams {
		cons, err := durableConsumers(ctx, js, st.stream)
		if err != nil {
			return s, err
		}
		if _, ok := cons[st.consumer]; !ok {
			cons[st.consumer] = consumerCounts{}
		}
		names := make([]string, 0, len(cons))
		for n := range cons {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			s.Stages = append(s.Stages, stageSample{Stage: st.stage, Stream: st.stream, Consumer: n, Counts: cons[n]})
		}
	}

	dlq, err := js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		return s, streamErr(bus.StreamDLQ, err)
	}
	info, err := dlq.Info(ctx, jetstream.WithSubjectFilter("sluice.dlq.>"))
	if err != nil {
		return s, fmt.Errorf("stream %s: %w", bus.StreamDLQ, err)
	}
	if s.Transfers, err = readTransfers(ctx, js, only); err != nil {
		return s, err
	}
	s.DLQ = map[string]uint64{}
	for subj, n := range info.State.Subjects {
		if p := strings.Split(subj, "."); only == nil || len(p) < 4 || only[p[3]] {
			s.DLQ[subj] = n
		}
	}
	return s, nil
}

// eventsWaiting counts the events in EVENTS by provider: the stream is a work queue, so
// what it holds is not planned yet.
func eventsWaiting(ctx context.Context, js jetstream.JetStream) (map[string]uint64, error) {
	st, err := js.Stream(ctx, bus.StreamEvents)
	if err != nil {
		return nil, streamErr(bus.StreamEvents, err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter("sluice.event.>"))
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", bus.StreamEvents, err)
	}
	out := map[string]uint64{}
	for subj, n := range info.State.Subjects {
		if p := strings.Split(subj, "."); len(p) > 3 {
			out[p[2]] += n
		}
	}
	return out, nil
}

func streamErr(name string, err error) error {
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("stream %s not found: run `sluice provision` first", name)
	}
	return fmt.Errorf("stream %s: %w", name, err)
}

// durableConsumers returns the counters of every durable consumer of stream, by name.
func durableConsumers(ctx context.Context, js jetstream.JetStream, stream string) (map[string]consumerCounts, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, streamErr(stream, err)
	}
	out := map[string]consumerCounts{}
	l := st.ListConsumers(ctx)
	for ci := range l.Info() {
		if ci.Config.Durable == "" {
			continue
		}
		out[ci.Name] = consumerCounts{Exists: true, Delivered: ci.Delivered.Consumer, Pending: ci.NumPending,
			AckPending: ci.NumAckPending, Redelivered: ci.NumRedelivered}
	}
	if err := l.Err(); err != nil {
		return nil, fmt.Errorf("consumers of %s: %w", stream, err)
	}
	return out, nil
}

// readQuotas reads every quota state in sluice-limits, by provider (the governor's
// namespace). A missing bucket means no provider has used the governor yet.
func readQuotas(ctx context.Context, js jetstream.JetStream) (map[string][]quotaSample, error) {
	kv, err := js.KeyValue(ctx, bus.BucketLimits)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", bus.BucketLimits, err)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	snaps, err := ratelimit.Snapshot(rctx, kv)
	if err != nil {
		return nil, err
	}
	out := map[string][]quotaSample{}
	for _, q := range snaps {
		out[q.Namespace] = append(out[q.Namespace], quotaSample{
			Name: q.Quota, Rate: q.Rate, Ceiling: q.Ceiling, Issued: q.Issued,
			Throttled: q.Throttled, KeyThrottled: q.KeyThrottled, Keys: q.Keys, PausedUntil: q.PauseUntil,
		})
	}
	return out, nil
}
