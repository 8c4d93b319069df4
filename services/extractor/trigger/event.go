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

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/services/extractor/provider"
)

// EventSubject is where events for provider arrive: sluice.event.<provider>.<anything>,
// e.g. sluice.event.amazonads.profile.changed.
func EventSubject(provider string) string { return "sluice.event." + provider + ".>" }

// Event is the body of an event message; every field is optional.
type Event struct {
	// RunID names the run; by default it is derived from the subject and body, so a
	// repeated event plans nothing twice (within the stream's duplicate window).
	RunID string `json:"run_id,omitempty"`
	// From and To (YYYY-MM-DD) default to yesterday (UTC).
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Params are passed to Plan, e.g. {"profile": "123"}.
	Params map[string]string `json:"params,omitempty"`
}

// Events turns messages on EventSubject(Provider) into plan tasks. Replicas subscribe in
// one queue group, so each event is planned by one replica.
type Events struct {
	Provider string
	NC       *nats.Conn
	JS       jetstream.JetStream
	Log      *slog.Logger
}

// Run subscribes until ctx ends.
func (e *Events) Run(ctx context.Context) error {
	log := e.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sub, err := e.NC.QueueSubscribe(EventSubject(e.Provider), "extractor-"+e.Provider, func(m *nats.Msg) {
		trig, err := e.Trigger(m.Subject, m.Data, time.Now())
		if err == nil {
			var msg bus.Message
			if msg, err = provider.PlanMessage(e.Provider, trig); err == nil {
				_, err = bus.Publish(ctx, e.JS, msg)
			}
		}
		if err != nil {
			log.Warn("event not planned", "subject", m.Subject, "err", err)
			if m.Reply != "" {
				_ = m.Respond([]byte(`{"error":` + jsonString(err.Error()) + `}`))
			}
			return
		}
		log.Info("event planned", "subject", m.Subject, "run_id", trig.RunID)
		if m.Reply != "" {
			_ = m.Respond([]byte(`{"run_id":` + jsonString(trig.RunID) + `}`))
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", EventSubject(e.Provider), err)
	}
	log.Info("listening for events", "subject", EventSubject(e.Provider))
	<-ctx.Done()
	if err := sub.Drain(); err != nil {
		return fmt.Errorf("drain %s: %w", EventSubject(e.Provider), err)
	}
	return nil
}

// Trigger converts an event into the trigger of its run. The subject's tail becomes
// Params["event"] (e.g. "profile.changed").
func (e *Events) Trigger(subject string, data []byte, now time.Time) (provider.Trigger, error) {
	var ev Event
	if len(strings.TrimSpace(string(data))) > 0 {
		if err := json.Unmarshal(data, &ev); err != nil {
			return provider.Trigger{}, fmt.Errorf("event on %s: body: %w", subject, err)
		}
	}
	y, m, d := now.UTC().AddDate(0, 0, -1).Date()
	yesterday := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	trig := provider.Trigger{RunID: ev.RunID, Source: "event", From: yesterday, To: yesterday, Params: map[string]string{}}
	for k, v := range ev.Params {
		trig.Params[k] = v
	}
	trig.Params["event"] = strings.TrimPrefix(subject, "sluice.event."+e.Provider+".")
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

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
