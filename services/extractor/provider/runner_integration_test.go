package provider_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	noopmetric "go.opentelemetry.io/otel/metric/noop"
	nooptrace "go.opentelemetry.io/otel/trace/noop"

	"github.com/sluice-dev/sluice/internal/apiclient"
	"github.com/sluice-dev/sluice/internal/bus"
	"github.com/sluice-dev/sluice/internal/ratelimit"
	"github.com/sluice-dev/sluice/internal/servicetest"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/services/extractor/provider"
)

// stuckProvider's first attempt calls an API that never answers; later attempts succeed.
type stuckProvider struct {
	http     *apiclient.Client
	url      string
	attempts atomic.Int32
	mu       sync.Mutex
	causes   []error // context cause of each failed attempt
	done     chan struct{}
}

func (p *stuckProvider) Datasets() []*spec.Spec { return nil }
func (p *stuckProvider) Plan(context.Context, provider.Trigger) ([]provider.Task, error) {
	return nil, nil
}

func (p *stuckProvider) Run(ctx context.Context, t provider.Task, _ provider.Emitter) error {
	p.attempts.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return err
	}
	resp, err := p.http.Do(ctx, req)
	if err != nil {
		p.mu.Lock()
		p.causes = append(p.causes, context.Cause(ctx))
		p.mu.Unlock()
		// A provider may well call a failure it does not understand permanent: the
		// deadline must still retry the task, not dead-letter it.
		return errors.Join(provider.ErrPermanent, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	close(p.done)
	return nil
}

// A task whose API call hangs before any header is ended by the task attempt deadline:
// the attempt's context carries ErrTaskTimeout, the host's only download slot (shared
// through a real JetStream bucket, lease TTL an hour) is released, and the task is retried
// through the normal path and succeeds, with nothing dead-lettered.
func TestIntegrationTaskAttemptDeadline(t *testing.T) {
	_, js := servicetest.JetStream(t)
	var calls atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			<-r.Context().Done() // never answers; the client gives up
			return
		}
		io.WriteString(w, "report")
	}))
	t.Cleanup(ts.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client, gov, err := provider.NewHTTP(ctx, "stuck", provider.HTTPSpec{
		Limits: ratelimit.Config{HostConcurrency: 1, LeaseTTL: time.Hour,
			Quotas: map[string]ratelimit.QuotaConfig{"api": {Limit: ratelimit.Limit{Rate: 50}}}},
	}, provider.HTTPDeps{JS: js, Egress: provider.LoopbackEgress()})
	if err != nil {
		t.Fatal(err)
	}
	defer gov.Close()
	p := &stuckProvider{http: client, url: ts.URL + "/report", done: make(chan struct{})}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	r, err := provider.NewRunner("stuck", p, js, nil, provider.RunnerConfig{
		Workers: 1, MaxDeliver: 3, AckWait: 3 * time.Second, InlineLimit: 1024, DrainTimeout: time.Second,
		TaskTimeout: time.Second,
	}, nooptrace.NewTracerProvider().Tracer(""), noopmetric.NewMeterProvider().Meter(""), log)
	if err != nil {
		t.Fatal(err)
	}
	task, err := provider.NewTask("report", "r1", map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Publish(ctx, js, provider.TaskMessage("stuck", "run1", task)); err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- r.Run(rctx) }()
	select {
	case <-p.done:
	case <-ctx.Done():
		t.Fatalf("the task never succeeded: %d attempts, causes %v", p.attempts.Load(), p.causes)
	}
	stop()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n := p.attempts.Load(); n != 2 {
		t.Errorf("%d attempts, want 2 (one ended by the deadline, one that succeeded)", n)
	}
	if len(p.causes) != 1 || !errors.Is(p.causes[0], provider.ErrTaskTimeout) {
		t.Errorf("causes of failed attempts %v, want one ErrTaskTimeout", p.causes)
	}
	for _, name := range []string{bus.StreamDLQ, bus.StreamTasks} {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs != 0 {
			t.Errorf("%s holds %d messages, want 0 (task retried and acked, nothing dead-lettered)", name, info.State.Msgs)
		}
	}
}
