package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sluice-dev/sluice/internal/blob"
	"github.com/sluice-dev/sluice/internal/bus"
	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

// KindPlan is the task kind that carries a trigger: the replica that takes it calls Plan
// and publishes the resulting tasks, which any replica may then take.
const KindPlan = "plan"

// RunnerConfig tunes task execution.
type RunnerConfig struct {
	// Workers is how many tasks one replica runs at once.
	Workers int
	// MaxDeliver is how many times a task is tried before it goes to the DLQ.
	MaxDeliver int
	// AckWait is how long a silent task may go before redelivery; running tasks send
	// progress heartbeats well within it.
	AckWait time.Duration
	// InlineLimit is the largest payload carried inside a message; larger ones go to S3.
	InlineLimit  int
	DrainTimeout time.Duration
	// TaskTimeout bounds one attempt of a task (DefaultTaskTimeout when zero). A task
	// whose provider is stuck (a stalled API, a poll that never ends) would otherwise keep
	// its heartbeat going and its worker busy forever. When it fires, the attempt's context
	// is cancelled with ErrTaskTimeout and the task is retried like any transient failure;
	// async jobs and checkpoints let the next attempt resume where this one stopped.
	TaskTimeout time.Duration
}

// DefaultTaskTimeout is RunnerConfig.TaskTimeout when unset: long enough for a report to
// be generated and downloaded in one attempt.
const DefaultTaskTimeout = 2 * time.Hour

// ErrTaskTimeout is the cause of a task attempt's context when RunnerConfig.TaskTimeout
// ended it, and is wrapped by the attempt's error. It is transient: the task is retried.
var ErrTaskTimeout = errors.New("task attempt deadline exceeded")

// WithDefaults returns c with zero fields that have a default set.
func (c RunnerConfig) WithDefaults() RunnerConfig {
	if c.TaskTimeout == 0 {
		c.TaskTimeout = DefaultTaskTimeout
	}
	return c
}

// Validate names the wrong field.
func (c RunnerConfig) Validate() error {
	var errs []error
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("--workers %d: must be at least 1", c.Workers))
	}
	if c.MaxDeliver < 1 {
		errs = append(errs, fmt.Errorf("--max-deliver %d: must be at least 1", c.MaxDeliver))
	}
	if c.AckWait < 3*time.Second {
		errs = append(errs, fmt.Errorf("--ack-wait %v: must be at least 3s", c.AckWait))
	}
	if c.InlineLimit < 1024 || c.InlineLimit > 900<<10 {
		errs = append(errs, fmt.Errorf("--inline-limit %d: want 1 KiB..900 KiB (NATS messages are at most 1 MiB by default)", c.InlineLimit))
	}
	if c.TaskTimeout != 0 && c.TaskTimeout < time.Second {
		errs = append(errs, fmt.Errorf("--task-timeout %v: must be at least 1s (0: %v)", c.TaskTimeout, DefaultTaskTimeout))
	}
	return errors.Join(errs...)
}

// Runner takes a provider's tasks off the TASKS stream and runs them.
type Runner struct {
	name     string
	p        Provider
	js       jetstream.JetStream
	cfg      RunnerConfig
	tracer   trace.Tracer
	log      *slog.Logger
	emit     *emitter
	tasks    metric.Int64Counter
	consumer *bus.Consumer
}

// NewRunner prepares the task loop of provider name. blobs may be nil when every payload
// fits inline.
func NewRunner(name string, p Provider, js jetstream.JetStream, blobs *blob.Store, cfg RunnerConfig, tracer trace.Tracer, meter metric.Meter, log *slog.Logger) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	records, err := meter.Int64Counter("sluice.extract.records", metric.WithDescription("raw records published"))
	if err != nil {
		return nil, err
	}
	byteCount, err := meter.Int64Counter("sluice.extract.bytes", metric.WithUnit("By"), metric.WithDescription("raw payload bytes published"))
	if err != nil {
		return nil, err
	}
	tasks, err := meter.Int64Counter("sluice.extract.tasks", metric.WithDescription("tasks finished, by kind and outcome"))
	if err != nil {
		return nil, err
	}
	datasets := map[string]bool{}
	for _, sp := range p.Datasets() {
		datasets[sp.Dataset] = true
	}
	var targets []bus.Target
	if blobs != nil {
		// Claim checks go to S3: while it is down, tasks wait instead of spending attempts.
		targets = append(targets, bus.Target{Name: "object-store", Check: blobs.Ping})
	}
	cons, err := bus.NewConsumer(js, bus.ConsumerConfig{
		Stream: bus.StreamTasks, Durable: "extractor-" + name, FilterSubjects: []string{bus.TaskSubject(name)},
		Stage: "extract", MaxAckPending: cfg.Workers, MaxDeliver: cfg.MaxDeliver, AckWait: cfg.AckWait,
		Workers: cfg.Workers, DrainTimeout: cfg.DrainTimeout, Targets: targets,
	}, tracer, log)
	if err != nil {
		return nil, err
	}
	return &Runner{
		name: name, p: p, js: js, cfg: cfg, tracer: tracer, log: log, tasks: tasks, consumer: cons,
		emit: &emitter{js: js, blobs: blobs, provider: name, inlineLimit: cfg.InlineLimit, tracer: tracer,
			records: records, bytes: byteCount, datasets: datasets},
	}, nil
}

// Run takes tasks until ctx ends, then lets running tasks finish within DrainTimeout.
func (r *Runner) Run(ctx context.Context) error { return r.consumer.Run(ctx, r.handle) }

// Ready is the task loop's readiness: not running, or paused while a dependency is down.
func (r *Runner) Ready(ctx context.Context) error { return r.consumer.Ready(ctx) }

func (r *Runner) handle(ctx context.Context, msg jetstream.Msg) error {
	var t sluicev1.Task
	if err := proto.Unmarshal(msg.Data(), &t); err != nil {
		return bus.Permanent(fmt.Errorf("decode task on %s: %w", msg.Subject(), err))
	}
	span := trace.SpanFromContext(ctx)
	span.SetAttributes(attribute.String("sluice.task.kind", t.GetKind()), attribute.String("sluice.task.key", t.GetKey()), attribute.String("sluice.run_id", t.GetRunId()))
	err := r.runTask(ctx, &t)
	outcome := "ok"
	switch {
	case errors.Is(err, ErrTaskTimeout):
		outcome = "timeout"
	case err != nil:
		outcome = "error"
	}
	r.tasks.Add(ctx, 1, metric.WithAttributes(attribute.String("provider", r.name), attribute.String("kind", t.GetKind()), attribute.String("outcome", outcome)))
	if errors.Is(err, ErrPermanent) {
		return bus.Permanent(err)
	}
	return err
}

// runTask runs one attempt of t within TaskTimeout. An attempt the deadline ended fails
// with ErrTaskTimeout and never as permanent, whatever the provider made of its cancelled
// context: the task is retried, not dead-lettered as bad data.
func (r *Runner) runTask(ctx context.Context, t *sluicev1.Task) error {
	actx, cancel := context.WithTimeoutCause(ctx, r.cfg.TaskTimeout, ErrTaskTimeout)
	defer cancel()
	err := r.attempt(actx, t)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(actx), ErrTaskTimeout) {
		return fmt.Errorf("%w (%v): %v", ErrTaskTimeout, r.cfg.TaskTimeout, err)
	}
	return err
}

func (r *Runner) attempt(ctx context.Context, t *sluicev1.Task) error {
	if t.GetKind() == KindPlan {
		return r.plan(ctx, t)
	}
	task := Task{RunID: t.GetRunId(), Kind: t.GetKind(), Key: t.GetKey(), Params: t.GetParams()}
	em := *r.emit
	em.runID = t.GetRunId()

	// A report can take far longer than AckWait to generate: the bus keeps the task in
	// progress while it runs, and the attempt's deadline bounds it (the conformance suite
	// fails a provider that ignores cancellation).
	err := r.p.Run(ctx, task, &em)
	if err != nil {
		return fmt.Errorf("task %s %s: %w", t.GetKind(), t.GetKey(), err)
	}
	return nil
}

func (r *Runner) plan(ctx context.Context, t *sluicev1.Task) error {
	var trig Trigger
	if err := json.Unmarshal(t.GetParams(), &trig); err != nil {
		return fmt.Errorf("%w: plan %s: trigger: %v", ErrPermanent, t.GetRunId(), err)
	}
	trig.RunID = t.GetRunId()
	tasks, err := r.p.Plan(ctx, trig)
	if err != nil {
		return fmt.Errorf("plan run %s: %w", trig.RunID, err)
	}
	batch := bus.NewBatch(r.js)
	for _, task := range tasks {
		if task.Key == "" || task.Kind == "" || task.Kind == KindPlan {
			return fmt.Errorf("%w: plan run %s: task %+v needs a kind (not %q) and a key", ErrPermanent, trig.RunID, task, KindPlan)
		}
		if err := batch.Add(ctx, TaskMessage(r.name, trig.RunID, task)); err != nil {
			return err
		}
		if batch.Len() >= 512 {
			if err := batch.Wait(ctx); err != nil {
				return err
			}
		}
	}
	if err := batch.Wait(ctx); err != nil {
		return err
	}
	r.log.InfoContext(ctx, "run planned", "run_id", trig.RunID, "tasks", len(tasks), "source", trig.Source)
	return nil
}

// TaskMessage is the TASKS message of one task; its id dedupes re-planning.
func TaskMessage(provider, runID string, task Task) bus.Message {
	id := provider + "/" + runID + "/" + task.Key
	return bus.Message{
		Subject:  bus.TaskSubject(provider),
		MsgID:    id,
		Provider: provider,
		Body: &sluicev1.Task{
			Id: id, Provider: provider, RunId: runID, Kind: task.Kind, Key: task.Key,
			Params: task.Params, CreatedAt: timestamppb.Now(),
		},
	}
}

// PlanMessage is the TASKS message that starts a run from a trigger.
func PlanMessage(provider string, trig Trigger) (bus.Message, error) {
	params, err := json.Marshal(trig)
	if err != nil {
		return bus.Message{}, fmt.Errorf("encode trigger: %w", err)
	}
	return TaskMessage(provider, trig.RunID, Task{Kind: KindPlan, Key: KindPlan, Params: params}), nil
}
