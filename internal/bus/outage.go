package bus

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Target is a dependency of a stage that can be down (a database, the object store). When
// a handler fails and a target's Check fails too, the failure is an outage: the consumer
// holds its messages, stops fetching and waits for the target instead of spending
// deliveries.
type Target struct {
	Name  string
	Check func(ctx context.Context) error
}

// probeInterval bounds the wait between two checks of a target that is down, so a stage
// resumes well within 30 s of its target's return.
const probeInterval = 5 * time.Second

// gate pauses fetching while any target is down and says why, for readiness and metrics.
type gate struct {
	consumer string
	log      *slog.Logger
	mu       sync.Mutex
	down     map[string]time.Time
	// back is when each target last returned: a failure of an attempt that began before
	// then may be the outage's, even when it is judged after the return.
	back map[string]time.Time
	open chan struct{} // closed while no target is down
}

func newGate(consumer string, log *slog.Logger) *gate {
	g := &gate{consumer: consumer, log: log, down: map[string]time.Time{}, back: map[string]time.Time{}, open: make(chan struct{})}
	close(g.open)
	return g
}

// markDown records that target is unavailable; the first report logs what is awaited.
func (g *gate) markDown(target string, cause error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.down[target]; ok {
		return
	}
	if len(g.down) == 0 {
		g.open = make(chan struct{})
	}
	g.down[target] = time.Now()
	g.log.Warn("pausing: waiting for a dependency; messages are held, not retried", "waiting_for", target, "err", cause)
}

// markUp records that target is back; fetching resumes once nothing is down.
func (g *gate) markUp(target string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	since, ok := g.down[target]
	if !ok {
		return
	}
	delete(g.down, target)
	g.back[target] = time.Now()
	g.log.Info("resuming: dependency is back", "target", target, "waited", time.Since(since).Round(time.Millisecond).String())
	if len(g.down) == 0 {
		close(g.open)
	}
}

// wasDown reports whether target is down, or was down at some time after since.
func (g *gate) wasDown(target string, since time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.down[target]; ok {
		return true
	}
	return g.back[target].After(since)
}

// wait blocks until no target is down; false when ctx ends first.
func (g *gate) wait(ctx context.Context) bool {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
		return true
	case <-ctx.Done():
		return false
	}
}

// err says what the stage waits for, nil when nothing.
func (g *gate) err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.down) == 0 {
		return nil
	}
	names := make([]string, 0, len(g.down))
	for t, since := range g.down {
		names = append(names, fmt.Sprintf("%s (since %s)", t, since.UTC().Format(time.RFC3339)))
	}
	sort.Strings(names)
	return fmt.Errorf("consumer %s paused, waiting for %s", g.consumer, strings.Join(names, ", "))
}

// exportWaiting publishes sluice.consumer.waiting per target: 1 while the consumer waits
// for it, 0 for the known targets that are up.
func (g *gate) exportWaiting(known []string) (func(), error) {
	m := otel.GetMeterProvider().Meter("github.com/sluice-dev/sluice/internal/bus")
	waiting, err := m.Int64ObservableGauge("sluice.consumer.waiting", metric.WithUnit("{target}"),
		metric.WithDescription("dependencies a paused consumer waits for (1 per target while it is down)"))
	if err != nil {
		return nil, err
	}
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		g.mu.Lock()
		defer g.mu.Unlock()
		observe := func(t string, v int64) {
			o.ObserveInt64(waiting, v, metric.WithAttributes(attribute.String("messaging.consumer.group.name", g.consumer), attribute.String("target", t)))
		}
		for _, t := range known {
			if _, down := g.down[t]; !down {
				observe(t, 0)
			}
		}
		for t := range g.down {
			observe(t, 1)
		}
		return nil
	}, waiting)
	if err != nil {
		return nil, err
	}
	return func() { _ = reg.Unregister() }, nil
}
