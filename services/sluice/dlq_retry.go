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

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/config"
)

// HeaderRetryOf names the dead letter (its DLQ sequence) a retried message came from.
const HeaderRetryOf = "Sluice-Retry-Of"

func cmdDLQRetry(ctx context.Context, env *cliEnv, args []string) error {
	fs := config.NewFlagSet("sluice dlq retry", env.getenv, env.stderr)
	var url string
	var f dlqFilter
	var all bool
	natsFlags(fs, &url)
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
		return errors.New("name dead letters by sequence, or pass --all\n" + dlqUsage)
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
	published, err := retry(ctx, js, letters)
	fmt.Fprintf(env.stdout, "retried %d of %d dead letters (%d messages re-published) and removed them from %s\n",
		published.letters, len(letters), published.messages, bus.StreamDLQ)
	return err
}

type retried struct{ letters, messages int }

// retry re-publishes each dead letter's data to the subject it failed on, with its
// original headers (so the retry continues the record's trace), and then deletes it from
// the DLQ. A letter is deleted only after its message is acknowledged by its stream, so a
// failure loses nothing. Letters carrying the same message (several bad rows of one
// record, dead-lettered by the transformer) re-publish it once.
func retry(ctx context.Context, js jetstream.JetStream, letters []deadLetter) (retried, error) {
	var r retried
	stream, err := js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		return r, fmt.Errorf("stream %s: %w", bus.StreamDLQ, err)
	}
	sent := map[[32]byte]bool{}
	for _, dl := range letters {
		if dl.GetSubject() == "" || len(dl.GetData()) == 0 {
			return r, fmt.Errorf("dead letter %d has no message to retry", dl.Seq)
		}
		key := sha256.Sum256(append([]byte(dl.GetSubject()+"\x00"), dl.GetData()...))
		if !sent[key] {
			if _, err := js.PublishMsg(ctx, retryMessage(dl)); err != nil {
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

// retryMessage rebuilds the failed message. Its dedupe id is new, or the stream would drop
// it as a duplicate of the original inside the dedupe window.
func retryMessage(dl deadLetter) *nats.Msg {
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
	return &nats.Msg{Subject: dl.GetSubject(), Data: dl.GetData(), Header: h}
}
