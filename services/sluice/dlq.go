package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/config"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

const dlqUsage = `usage: sluice dlq list [--stage S] [--provider P] [--dataset D] [--limit N] [--json]
       sluice dlq show SEQ [--json]
       sluice dlq retry SEQ... | --all [--stage S] [--provider P] [--dataset D]`

// deadLetter is one message of the DLQ stream.
type deadLetter struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	*sluicev1.DeadLetter
}

// dlqFilter selects dead letters by the tokens of their subject.
type dlqFilter struct {
	Stage, Provider, Dataset string
}

func (f *dlqFilter) register(fs *config.FlagSet) {
	fs.StringVar(&f.Stage, "stage", "", "", "only this stage: stage, transform or load")
	fs.StringVar(&f.Provider, "provider", "", "", "only this provider")
	fs.StringVar(&f.Dataset, "dataset", "", "", "only this dataset")
}

// subject is the DLQ subject filter, e.g. sluice.dlq.load.*.*
func (f dlqFilter) subject() string {
	tok := func(s string) string {
		if s == "" {
			return "*"
		}
		return s
	}
	return "sluice.dlq." + tok(f.Stage) + "." + tok(f.Provider) + "." + tok(f.Dataset)
}

// readDeadLetters calls fn with every dead letter matching f, oldest first, until fn
// returns false.
func readDeadLetters(ctx context.Context, js jetstream.JetStream, f dlqFilter, fn func(deadLetter) bool) error {
	stream, err := js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		return fmt.Errorf("stream %s: %w (run sluice provision)", bus.StreamDLQ, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s: %w", bus.StreamDLQ, err)
	}
	if info.State.Msgs == 0 {
		return nil
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{f.subject()}})
	if err != nil {
		return fmt.Errorf("read %s: %w", bus.StreamDLQ, err)
	}
	for {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return fmt.Errorf("read %s: %w", bus.StreamDLQ, err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			md, err := msg.Metadata()
			if err != nil {
				return fmt.Errorf("read %s: %w", bus.StreamDLQ, err)
			}
			dl, err := decodeDeadLetter(md.Sequence.Stream, md.Timestamp, msg.Data())
			if err != nil {
				return err
			}
			if !fn(dl) || md.NumPending == 0 {
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("read %s: %w", bus.StreamDLQ, err)
		}
		if n == 0 {
			return nil // nothing matches the filter
		}
	}
}

func decodeDeadLetter(seq uint64, at time.Time, data []byte) (deadLetter, error) {
	dl := &sluicev1.DeadLetter{}
	if err := proto.Unmarshal(data, dl); err != nil {
		return deadLetter{}, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	if dl.GetFailedAt() != nil {
		at = dl.GetFailedAt().AsTime()
	}
	return deadLetter{Seq: seq, Time: at.UTC(), DeadLetter: dl}, nil
}

// getDeadLetter reads one dead letter by sequence.
func getDeadLetter(ctx context.Context, js jetstream.JetStream, seq uint64) (deadLetter, error) {
	stream, err := js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		return deadLetter{}, fmt.Errorf("stream %s: %w", bus.StreamDLQ, err)
	}
	msg, err := stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return deadLetter{}, fmt.Errorf("dead letter %d: not in %s (retried, or expired)", seq, bus.StreamDLQ)
	}
	if err != nil {
		return deadLetter{}, fmt.Errorf("dead letter %d: %w", seq, err)
	}
	return decodeDeadLetter(seq, msg.Time, msg.Data)
}

func parseSeqs(args []string) ([]uint64, error) {
	var seqs []uint64
	for _, a := range args {
		n, err := strconv.ParseUint(a, 10, 64)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%q is not a dead letter sequence number (see sluice dlq list)", a)
		}
		seqs = append(seqs, n)
	}
	return seqs, nil
}

func cmdDLQList(ctx context.Context, env *cliEnv, args []string) error {
	fs := config.NewFlagSet("sluice dlq list", env.getenv, env.stdout)
	var url string
	var f dlqFilter
	var limit int
	var asJSON bool
	natsFlags(fs, &url)
	f.register(fs)
	fs.IntVar(&limit, "limit", "", 100, "print at most this many dead letters, oldest first")
	fs.BoolVar(&asJSON, "json", "", false, "print one JSON object per line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(fs.Args()) > 0 || limit < 1 {
		return &config.UsageError{Err: errors.New(dlqUsage)}
	}
	nc, js, err := connect(ctx, url, env.stderr)
	if err != nil {
		return err
	}
	defer nc.Close()
	var letters []deadLetter
	more := false
	if err := readDeadLetters(ctx, js, f, func(dl deadLetter) bool {
		if len(letters) == limit {
			more = true
			return false
		}
		letters = append(letters, dl)
		return true
	}); err != nil {
		return err
	}
	if asJSON {
		return writeJSONLines(env.stdout, letters)
	}
	if len(letters) == 0 {
		fmt.Fprintln(env.stdout, "no dead letters")
		return nil
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tSTAGE\tPROVIDER\tDATASET\tRECORD\tROW\tREASON")
	for _, dl := range letters {
		row := "-"
		if dl.GetRowIndex() >= 0 {
			row = strconv.FormatInt(dl.GetRowIndex(), 10)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dl.Seq, dl.Time.Format(time.RFC3339), dl.GetStage(), dl.GetProvider(),
			dl.GetDataset(), dl.GetRecordId(), row, oneLine(dl.GetReason(), 120))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if more {
		fmt.Fprintf(env.stdout, "(more dead letters follow; raise --limit or narrow with --stage/--provider/--dataset)\n")
	}
	return nil
}

func writeJSONLines(w io.Writer, letters []deadLetter) error {
	enc := json.NewEncoder(w)
	for _, dl := range letters {
		if err := enc.Encode(dlqJSON(dl)); err != nil {
			return err
		}
	}
	return nil
}

// dlqJSON is a dead letter without its data, for --json.
func dlqJSON(dl deadLetter) map[string]any {
	return map[string]any{
		"seq": dl.Seq, "time": dl.Time, "stage": dl.GetStage(), "provider": dl.GetProvider(), "dataset": dl.GetDataset(),
		"record_id": dl.GetRecordId(), "row_index": dl.GetRowIndex(), "reason": dl.GetReason(), "subject": dl.GetSubject(),
		"deliveries": dl.GetDeliveries(), "trace_id": dl.GetTraceId(),
		// Where the failed message sits in its stream (the staged record, for a row of
		// the transform stage), and how many bytes the letter keeps.
		"stream": dl.GetStream(), "stream_sequence": dl.GetStreamSequence(), "data_bytes": len(dl.GetData()),
	}
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}
