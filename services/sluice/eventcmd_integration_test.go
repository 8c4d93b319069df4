package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/servicetest"
	triggers "github.com/sluice-dev/sluice/services/extractor/trigger"
)

// `sluice event` stores the event in EVENTS (where it waits for an extractor, as `sluice
// status` shows), dedupes a resend with the same --msg-id, and refuses a malformed event
// before sending it.
func TestIntegrationEventCommand(t *testing.T) {
	url, js := servicetest.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	getenv := func(string) string { return "" }
	send := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, append([]string{"event"}, append(args, "--nats-url", url)...), getenv, &out, &errOut)
		return out.String(), err
	}
	for range 2 {
		if out, err := send("demo", "profile.changed", "--from", "2024-06-01", "--param", "profile=42", "--msg-id", "e1"); err != nil {
			t.Fatalf("%v (%s)", err, out)
		}
	}
	if _, err := send("demo", "profile.changed", "--from", "June"); err == nil || !strings.Contains(err.Error(), "YYYY-MM-DD") {
		t.Errorf("malformed --from: %v", err)
	}
	st, err := js.Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Fatalf("EVENTS holds %d events, want 1", info.State.Msgs)
	}
	m, err := st.GetMsg(ctx, info.State.FirstSeq)
	if err != nil {
		t.Fatal(err)
	}
	// `sluice status` shows it waiting for the provider's extractor.
	sample, err := sampleStatus(ctx, js, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sample.Providers) != 1 || sample.Providers[0].Name != "demo" || sample.Providers[0].EventsWaiting != 1 {
		t.Errorf("status providers %+v, want demo with one event waiting", sample.Providers)
	}
	var ev triggers.Event
	if err := json.Unmarshal(m.Data, &ev); err != nil || m.Subject != "sluice.event.demo.profile.changed" || ev.From != "2024-06-01" || ev.Params["profile"] != "42" {
		t.Errorf("stored event %s %s (%v)", m.Subject, m.Data, err)
	}
}
