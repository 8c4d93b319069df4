package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// pending is a message not settled yet: to run again, or (letter set) to dead-letter.
type pending struct {
	msg    jetstream.Msg
	err    error
	letter string
}

// settle gives each message its fate after an attempt (errs[i] is msgs[i]'s outcome):
//   - nil: acked, and the server confirms the ack;
//   - Permanent: dead-lettered with the reason, then terminated;
//   - any failure once shutdown began (ctx done): handed back without spending a delivery;
//   - Unavailable, or a failure while one of the consumer's targets is down: held in
//     progress while the stage pauses, and run again through rerun once the target is back;
//   - any other failure: naked with a backoff and counted; the failure that spends the
//     budget dead-letters the message with the last error.
//
// A dead letter that cannot be published is held like an outage, never dropped.
//
// started is when the attempt began: a failure of an attempt that overlapped an outage is
// the outage's, even when the target is back by the time it is judged.
func (c *Consumer) settle(ctx, work context.Context, msgs []jetstream.Msg, errs []error, started time.Time, rerun func(context.Context, []jetstream.Msg) []error) {
	todo := make([]pending, len(msgs))
	for i, m := range msgs {
		todo[i] = pending{msg: m, err: errs[i]}
	}
	backoff := 250 * time.Millisecond
	waited := map[string]bool{}
	for len(todo) > 0 {
		var held []pending
		var acks []jetstream.Msg
		down := map[string]error{}
		for _, p := range todo {
			if p.letter == "" {
				switch {
				case p.err == nil:
					acks = append(acks, p.msg)
					continue
				case IsPermanent(p.err):
					p.letter = p.err.Error()
				case ctx.Err() != nil:
					c.handBack(p.msg)
					continue
				default:
					if target, cause, ok := c.diagnose(work, p.err, started); ok {
						down[target] = cause
						held = append(held, p)
						continue
					}
					if p.letter = c.fail(work, p.msg, p.err); p.letter == "" {
						continue
					}
				}
			}
			if err := c.deadLetter(work, p.msg, p.letter); err != nil {
				if ctx.Err() != nil {
					c.handBack(p.msg)
					continue
				}
				c.gate.markDown("dlq", err)
				down["dlq"] = err
				held = append(held, p)
			}
		}
		c.ackAll(work, acks)
		for t := range waited {
			if _, still := down[t]; !still {
				c.gate.markUp(t)
				delete(waited, t)
			}
		}
		if len(held) == 0 {
			return
		}
		for t := range down {
			waited[t] = true
		}
		if !c.await(ctx, down, &backoff) {
			for _, p := range held {
				c.handBack(p.msg)
			}
			return
		}
		todo = todo[:0]
		var again []jetstream.Msg
		for _, p := range held {
			if p.letter != "" {
				todo = append(todo, p)
			} else {
				again = append(again, p.msg)
			}
		}
		if len(again) > 0 {
			started = time.Now()
			errs := rerun(work, again)
			for i, m := range again {
				var err error = errors.New("handler returned too few results")
				if len(errs) == len(again) {
					err = errs[i]
				}
				todo = append(todo, pending{msg: m, err: err})
			}
		}
	}
}

// diagnose tells an outage from a failure of the message: the error says so
// (Unavailable), a target is or was down since the attempt started, or a target's check
// fails now.
func (c *Consumer) diagnose(ctx context.Context, err error, started time.Time) (target string, cause error, ok bool) {
	if u, ok := AsUnavailable(err); ok {
		c.gate.markDown(u.Target, u.Err)
		return u.Target, u.Err, true
	}
	if isBusFailure(err) {
		// The bus lost a request (a node died, a stream leader moved): the message is not
		// at fault even when the bus answers again by now.
		c.gate.markDown("nats", err)
		return "nats", err, true
	}
	for _, t := range c.targets {
		if c.gate.wasDown(t.Name, started) {
			return t.Name, err, true
		}
	}
	for _, t := range c.targets {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		cerr := t.Check(cctx)
		cancel()
		if cerr != nil {
			c.gate.markDown(t.Name, cerr)
			return t.Name, cerr, true
		}
	}
	return "", nil, false
}

// await waits until every target in down with a check passes it (those without a check,
// such as a spec not registered yet, are tried again by running the message), or ctx ends.
func (c *Consumer) await(ctx context.Context, down map[string]error, backoff *time.Duration) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(*backoff):
		}
		*backoff = min(2**backoff, probeInterval)
		up := true
		for name := range down {
			check := c.check(name)
			if check == nil {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			err := check(cctx)
			cancel()
			if err != nil {
				up = false
				break
			}
		}
		if up {
			return true
		}
	}
}

func (c *Consumer) check(target string) func(context.Context) error {
	for _, t := range c.targets {
		if t.Name == target {
			return t.Check
		}
	}
	return nil
}

// fail counts a failed attempt and naks msg with a backoff; when the failure spends the
// budget it returns the reason to dead-letter it with instead.
func (c *Consumer) fail(ctx context.Context, msg jetstream.Msg, err error) (letter string) {
	d := c.held.get(msg)
	failures := d.entry.Failures + 1
	if failures >= uint64(c.cfg.MaxDeliver) {
		return fmt.Sprintf("failed %d attempts; last error: %v", failures, err)
	}
	if c.ledger != nil {
		if lerr := c.ledger.note(detached(ctx), d.seq, err); lerr != nil {
			c.log.Warn("delivery ledger not updated; the retry will count as a crash", "seq", d.seq, "err", lerr)
		}
	}
	c.held.remove(msg)
	c.log.InfoContext(ctx, "message failed, will retry", "subject", msg.Subject(), "seq", d.seq, "failures", failures, "err", err)
	_ = msg.NakWithDelay(RetryDelay(failures))
	return ""
}

// handBack returns msg to the server for another delivery that does not count against it.
func (c *Consumer) handBack(msg jetstream.Msg) {
	d := c.held.remove(msg)
	if c.ledger != nil && d.seq > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := c.ledger.note(ctx, d.seq, nil); err != nil {
			c.log.Warn("hand-back not recorded; the redelivery will count as a crash", "seq", d.seq, "err", err)
		}
		cancel()
	}
	_ = msg.Nak()
}

// deadLetter publishes msg to the DLQ with reason, then terminates it.
func (c *Consumer) deadLetter(ctx context.Context, msg jetstream.Msg, reason string) error {
	if err := c.dlq.Message(detached(ctx), msg, reason); err != nil {
		return err
	}
	d := c.held.remove(msg)
	c.log.WarnContext(ctx, "message dead-lettered", "subject", msg.Subject(), "record_id", msg.Headers().Get(HeaderRecordID), "deliveries", d.delivered, "reason", reason)
	_ = msg.TermWithReason(truncate(reason, 200))
	if d.inLedger {
		c.ledger.forget(detached(ctx), d.seq)
	}
	return nil
}

// ackAll acks msgs and waits for the server to confirm each (a lost ack would redeliver).
func (c *Consumer) ackAll(ctx context.Context, msgs []jetstream.Msg) {
	if len(msgs) == 0 {
		return
	}
	ctx = detached(ctx)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, m := range msgs {
		d := c.held.remove(m)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			actx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := m.DoubleAck(actx); err != nil {
				c.log.WarnContext(ctx, "ack not confirmed; the message may be redelivered (its effect is idempotent)", "subject", m.Subject(), "seq", d.seq, "err", err)
				return
			}
			if d.inLedger {
				c.ledger.forget(actx, d.seq)
			}
		}()
	}
	wg.Wait()
}

// detached keeps ctx's values (the trace) but not its end: settling must complete even
// when the work context has expired.
func detached(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// isBusFailure reports whether err is NATS failing to carry a request, not a refusal.
func isBusFailure(err error) bool {
	for _, target := range []error{nats.ErrNoResponders, nats.ErrTimeout, nats.ErrConnectionClosed,
		nats.ErrConnectionReconnecting, nats.ErrDisconnected, jetstream.ErrAsyncPublishTimeout,
		jetstream.ErrNoStreamResponse, jetstream.ErrConnectionClosed} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
