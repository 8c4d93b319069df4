package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/staging"
)

// HeaderRetryOf names the dead letter (its DLQ sequence) a retried message came from.
const HeaderRetryOf = "Sluice-Retry-Of"

func cmdDLQRetry(ctx context.Context, env *cliEnv, args []string) error {
	fs := config.NewFlagSet("sluice dlq retry", env.getenv, env.stdout)
	var url string
	var f dlqFilter
	var all bool
	var mongo staging.Config
	natsFlags(fs, &url)
	mongoFlags(fs, &mongo)
	f.register(fs)
	fs.BoolVar(&all, "all", "", false, "retry every dead letter matching --stage/--provider/--dataset")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	seqs, err := parseSeqs(pos)
	if err != nil {
		return err
	}
	if all == (len(seqs) > 0) {
		return &config.UsageError{Err: errors.New("name dead letters by sequence, or pass --all\n" + dlqUsage)}
	}
	if !all && (f != dlqFilter{}) {
		return errors.New("--stage/--provider/--dataset select dead letters for --all only")
	}
	nc, js, err := connect(ctx, url, env.stderr)
	if err != nil {
		return err
	}
	defer nc.Close()
	var letters []deadLetter
	if all {
		err = readDeadLetters(ctx, js, f, func(dl deadLetter) bool {
			letters = append(letters, dl)
			return true
		})
	} else {
		for _, seq := range seqs {
			dl, gerr := getDeadLetter(ctx, js, seq)
			if gerr != nil {
				err = gerr
				break
			}
			letters = append(letters, dl)
		}
	}
	if err != nil {
		return err
	}
	records := &stagedRecords{cfg: mongo}
	defer records.close(ctx)
	published, err := retry(ctx, js, letters, records)
	fmt.Fprintf(env.stdout, "retried %d of %d dead letters (%d messages re-published) and removed them from %s\n",
		published.letters, len(letters), published.messages, bus.StreamDLQ)
	return err
}

type retried struct{ letters, messages int }

// recordSource finds the staged record a source-row letter points at.
type recordSource interface {
	Record(ctx context.Context, provider, id string) ([]byte, error)
}

// retry re-publishes each dead letter's message to the subject it failed on, with its
// original headers (so the retry continues the record's trace), and then deletes it from
// the DLQ. A letter is deleted only after its message is acknowledged by its stream, so a
// failure loses nothing. A transform row letter holds only its row: its retry re-runs the
// whole staged record, read from records. Letters of the same message (several bad rows
// of one record) re-publish it once.
func retry(ctx context.Context, js jetstream.JetStream, letters []deadLetter, records recordSource) (retried, error) {
	var r retried
	stream, err := js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		return r, fmt.Errorf("stream %s: %w", bus.StreamDLQ, err)
	}
	sent := map[[32]byte]bool{}
	for _, dl := range letters {
		var key [32]byte
		if isSourceRow(dl) {
			key = sha256.Sum256([]byte(dl.GetSubject() + "\x00record\x00" + dl.GetRecordId()))
		} else {
			if dl.GetSubject() == "" || len(dl.GetData()) == 0 {
				return r, fmt.Errorf("dead letter %d has no message to retry", dl.Seq)
			}
			key = sha256.Sum256(append([]byte(dl.GetSubject()+"\x00"), dl.GetData()...))
		}
		if !sent[key] {
			data := dl.GetData()
			if isSourceRow(dl) {
				if data, err = records.Record(ctx, dl.GetProvider(), dl.GetRecordId()); err != nil {
					return r, fmt.Errorf("retry dead letter %d: record %s: %w", dl.Seq, dl.GetRecordId(), err)
				}
			}
			if _, err := js.PublishMsg(ctx, retryMessage(dl, data)); err != nil {
				return r, fmt.Errorf("retry dead letter %d on %s: %w", dl.Seq, dl.GetSubject(), err)
			}
			sent[key] = true
			r.messages++
		}
		if err := stream.DeleteMsg(ctx, dl.Seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return r, fmt.Errorf("dead letter %d was retried but not removed from %s: %w", dl.Seq, bus.StreamDLQ, err)
		}
		r.letters++
	}
	return r, nil
}

// retryMessage rebuilds the failed message with body data. Its dedupe id is new, or the
// stream would drop it as a duplicate of the original inside the dedupe window.
func retryMessage(dl deadLetter, data []byte) *nats.Msg {
	h := nats.Header{}
	for k, v := range dl.GetHeaders() {
		if strings.HasPrefix(k, "Nats-") {
			continue // server-set or publish options of the original: not ours to repeat
		}
		h.Set(k, v)
	}
	id := "retry:" + strconv.FormatUint(dl.Seq, 10)
	if orig := dl.GetHeaders()[bus.HeaderMsgID]; orig != "" {
		id = orig + ":" + id
	}
	h.Set(bus.HeaderMsgID, id)
	h.Set(HeaderRetryOf, strconv.FormatUint(dl.Seq, 10))
	return &nats.Msg{Subject: dl.GetSubject(), Data: data, Header: h}
}

// stagedRecords reads staged records from the document store, connecting on first use so
// that retrying load letters needs no MongoDB.
type stagedRecords struct {
	cfg   staging.Config
	store *staging.Store
}

func (s *stagedRecords) Record(ctx context.Context, provider, id string) ([]byte, error) {
	if s.store == nil {
		cfg := s.cfg
		cfg.WriteConcern = "1" // reads only
		st, err := staging.Open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		s.store = st
	}
	doc, err := s.store.Get(ctx, provider, id)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(doc.Record())
}

func (s *stagedRecords) close(ctx context.Context) {
	if s.store != nil {
		_ = s.store.Close(context.WithoutCancel(ctx))
	}
}
