package trigger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/services/extractor/provider"
)

// Event is the body of an event message; every field is optional.
type Event struct {
	// RunID names the run; by default it is derived from the subject, body and day, so a
	// repeated event plans nothing twice (within the TASKS duplicate window).
	RunID string `json:"run_id,omitempty"`
	// From and To (YYYY-MM-DD) default to the day before the event was sent (UTC).
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Params are passed to Plan, e.g. {"profile": "123"}.
	Params map[string]string `json:"params,omitempty"`
}

// PublishEvent sends event name (e.g. "profile.changed") of provider to the EVENTS stream
// and returns once the stream stored it: the event waits there until an extractor of
// the provider plans it, however long none runs. msgID, when set, dedupes resends.
// A plain core-NATS publish on bus.EventSubject is stored too, but its sender cannot know.
func PublishEvent(ctx context.Context, js jetstream.JetStream, providerName, name string, ev Event, msgID string) (*jetstream.PubAck, error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	m := nats.NewMsg(bus.EventSubject(providerName, name))
	m.Data = data
	m.Header.Set(bus.HeaderProvider, providerName)
	if msgID != "" {
		m.Header.Set(bus.HeaderMsgID, msgID)
	}
	ack, err := js.PublishMsg(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("publish event %s: %w", m.Subject, err)
	}
	return ack, nil
}

// EventsConfig tunes the event consumer.
type EventsConfig struct {
	// MaxDeliver is how many times an event is tried before it goes to the DLQ.
	MaxDeliver int
	// DrainTimeout bounds how long planning may continue after shutdown begins.
	DrainTimeout time.Duration
}

// Events turns the provider's events on the EVENTS stream (bus.EventFilter) into plan
// tasks. One durable consumer per provider, shared by its replicas, takes each event
// once; events sent while no replica runs wait in the stream. An event is acked only
// once its plan task is stored in TASKS; a body that is not a valid Event goes to the
// DLQ (stage "event").
type Events struct {
	Provider string
	JS       jetstream.JetStream
	Config   EventsConfig
	Tracer   trace.Tracer
	Log      *slog.Logger
}

// Durable is the name of the provider's consumer on the EVENTS stream.
func Durable(providerName string) string { return "extractor-" + providerName }

// Run plans events until ctx ends.
func (e *Events) Run(ctx context.Context) error {
	log := e.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "events")
	cons, err := bus.NewConsumer(e.JS, bus.ConsumerConfig{
		Stream: bus.StreamEvents, Durable: Durable(e.Provider), FilterSubjects: []string{bus.EventFilter(e.Provider)},
		Stage: "event", MaxAckPending: 16, MaxDeliver: e.Config.MaxDeliver, AckWait: 30 * time.Second,
		Workers: 2, DrainTimeout: e.Config.DrainTimeout,
	}, e.Tracer, log)
	if err != nil {
		return err
	}
	log.Info("consuming events", "stream", bus.StreamEvents, "subject", bus.EventFilter(e.Provider))
	return cons.Run(ctx, func(ctx context.Context, msg jetstream.Msg) error { return e.handle(ctx, msg, log) })
}

func (e *Events) handle(ctx context.Context, msg jetstream.Msg, log *slog.Logger) error {
	// The day an event defaults to is the day it was sent, not the day an extractor got
	// around to it: the same event plans the same run however late it is handled.
	sent := time.Now()
	if md, err := msg.Metadata(); err == nil {
		sent = md.Timestamp
	}
	trig, err := e.Trigger(msg.Subject(), msg.Data(), sent)
	if err != nil {
		return bus.Permanent(err)
	}
	pm, err := provider.PlanMessage(e.Provider, trig)
	if err != nil {
		return bus.Permanent(err)
	}
	ack, err := bus.Publish(ctx, e.JS, pm)
	if err != nil {
		// TASKS not taking the plan is an outage of the bus, not the event's fault.
		return bus.Unavailable(bus.StreamTasks, fmt.Errorf("plan event on %s: %w", msg.Subject(), err))
	}
	log.InfoContext(ctx, "event planned", "subject", msg.Subject(), "run_id", trig.RunID, "duplicate", ack.Duplicate)
	return nil
}

// Trigger converts an event sent at sent into the trigger of its run. The subject's tail
// becomes Params["event"] (e.g. "profile.changed").
func (e *Events) Trigger(subject string, data []byte, sent time.Time) (provider.Trigger, error) {
	var ev Event
	if len(strings.TrimSpace(string(data))) > 0 {
		if err := json.Unmarshal(data, &ev); err != nil {
			return provider.Trigger{}, fmt.Errorf("event on %s: body: %w", subject, err)
		}
	}
	y, m, d := sent.UTC().AddDate(0, 0, -1).Date()
	yesterday := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	trig := provider.Trigger{RunID: ev.RunID, Source: "event", From: yesterday, To: yesterday, Params: map[string]string{}}
	for k, v := range ev.Params {
		trig.Params[k] = v
	}
	trig.Params["event"] = strings.TrimPrefix(subject, "sluice.event."+e.Provider+".")
	if len(strings.TrimSpace(string(data))) > 0 {
		// The body travels to Plan as sent: a provider may take a foreign format, such
		// as the S3 event notifications a bucket forwards (their Records are not fields
		// of Event, so the rest of this function ignores them).
		trig.Body = json.RawMessage(data)
	}
	var err error
	if ev.From != "" {
		if trig.From, err = time.Parse("2006-01-02", ev.From); err != nil {
			return trig, fmt.Errorf("event on %s: from %q: want YYYY-MM-DD", subject, ev.From)
		}
		trig.To = trig.From
	}
	if ev.To != "" {
		if trig.To, err = time.Parse("2006-01-02", ev.To); err != nil {
			return trig, fmt.Errorf("event on %s: to %q: want YYYY-MM-DD", subject, ev.To)
		}
	}
	if trig.To.Before(trig.From) {
		return trig, fmt.Errorf("event on %s: to %s is before from %s", subject, ev.To, ev.From)
	}
	if trig.RunID == "" {
		sum := sha256.Sum256(append([]byte(subject+"\n"), data...))
		trig.RunID = "event-" + trig.To.Format("20060102") + "-" + hex.EncodeToString(sum[:6])
	}
	return trig, nil
}
