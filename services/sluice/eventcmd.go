package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/config"
	"github.com/sluice-dev/sluice/internal/envelope"
	triggers "github.com/sluice-dev/sluice/services/extractor/trigger"
)

// cmdEvent sends an event to a provider through the EVENTS stream: it is stored before
// the command returns and planned by the provider's extractor when one runs.
func cmdEvent(ctx context.Context, env *cliEnv, args []string) error {
	fs := config.NewFlagSet("sluice event", env.getenv, env.stdout)
	var url, msgID string
	var params []string
	var ev triggers.Event
	natsFlags(fs, &url)
	fs.StringVar(&ev.From, "from", "", "", "first day of the run (YYYY-MM-DD; default: the day before the event was sent)")
	fs.StringVar(&ev.To, "to", "", "", "last day of the run, inclusive (YYYY-MM-DD)")
	fs.StringVar(&ev.RunID, "run-id", "", "", "run id (default: derived from the event, so a repeated event plans one run)")
	fs.StringArrayVar(&params, "param", "", "a provider parameter k=v; repeat for several")
	fs.StringVar(&msgID, "msg-id", "", "", "dedupe id: a resend with the same id within the duplicate window is dropped")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(fs.Args()) != 2 {
		return config.Usagef("usage: sluice event <provider> <name> [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--param k=v]... [--run-id ID] [--msg-id ID]")
	}
	name, event := fs.Args()[0], fs.Args()[1]
	if err := envelope.CheckName("provider", name); err != nil {
		return &config.UsageError{Err: err}
	}
	for _, tok := range strings.Split(event, ".") {
		if err := envelope.CheckName("event name token", tok); err != nil {
			return config.Usagef("event name %q: %w", event, err)
		}
	}
	p, err := parseParams(params)
	if err != nil {
		return &config.UsageError{Err: err}
	}
	if len(p) > 0 {
		ev.Params = p
	}
	// The extractor validates the event as it plans it; check here too, so a typo fails
	// now instead of in the DLQ.
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if _, err := (&triggers.Events{Provider: name}).Trigger(bus.EventSubject(name, event), body, time.Now()); err != nil {
		return err
	}
	nc, js, err := connect(ctx, url, env.stderr)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := bus.Provision(ctx, js, bus.DefaultProvision()); err != nil {
		return err
	}
	ack, err := triggers.PublishEvent(ctx, js, name, event, ev, msgID)
	if err != nil {
		return err
	}
	if ack.Duplicate {
		fmt.Fprintf(env.stdout, "event %s of %s was sent before (msg id %s); not sent again\n", event, name, msgID)
		return nil
	}
	fmt.Fprintf(env.stdout, "event %s of %s stored in %s (seq %d); the %s extractor plans it when it runs\n", event, name, ack.Stream, ack.Sequence, name)
	return nil
}
