// Package demo is the built-in provider that needs no network: it emits deterministic JSON
// records, so the pipeline can be run and tested end to end anywhere. Its data has no
// version of its own (provider.Raw.DataVersion is 0): the loader orders its rows by
// extraction time.
package demo

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/services/extractor/provider"
)

//go:embed items.json
var itemsSpec []byte

// Spec registers the demo provider.
var Spec = provider.Spec{Name: "demo", NewConfig: func() any { return DefaultConfig() }, New: New}

// Config sizes a demo run.
type Config struct {
	// Records per run; each record is one JSON array payload.
	Records int `json:"records"`
	// RowsPerRecord is the number of items in each record.
	RowsPerRecord int `json:"rows_per_record"`
	// Tasks splits a run's records over this many tasks.
	Tasks int `json:"tasks"`
}

// DefaultConfig is a small run.
func DefaultConfig() *Config { return &Config{Records: 20, RowsPerRecord: 5, Tasks: 4} }

// Validate names the wrong field.
func (c *Config) Validate() error {
	var errs []error
	if c.Records < 1 {
		errs = append(errs, fmt.Errorf("demo: records %d: must be at least 1", c.Records))
	}
	if c.RowsPerRecord < 1 {
		errs = append(errs, fmt.Errorf("demo: rows_per_record %d: must be at least 1", c.RowsPerRecord))
	}
	if c.Tasks < 1 || c.Tasks > c.Records {
		errs = append(errs, fmt.Errorf("demo: tasks %d: must be in 1..records", c.Tasks))
	}
	return errors.Join(errs...)
}

type demo struct {
	cfg   *Config
	items *spec.Spec
}

// New builds the provider.
func New(cfg any, _ provider.Deps) (provider.Provider, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return nil, fmt.Errorf("demo: config of type %T", cfg)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	items, err := spec.Parse(itemsSpec)
	if err != nil {
		return nil, fmt.Errorf("demo: items spec: %w", err)
	}
	return &demo{cfg: c, items: items}, nil
}

func (d *demo) Datasets() []*spec.Spec { return []*spec.Spec{d.items} }

type taskParams struct {
	Day   string `json:"day"`
	First int    `json:"first"`
	Count int    `json:"count"`
	Rows  int    `json:"rows"`
}

// Plan splits the run's records evenly over the configured number of tasks.
func (d *demo) Plan(_ context.Context, t provider.Trigger) ([]provider.Task, error) {
	day := t.From.UTC().Format("2006-01-02")
	var tasks []provider.Task
	per := (d.cfg.Records + d.cfg.Tasks - 1) / d.cfg.Tasks
	for first := 0; first < d.cfg.Records; first += per {
		n := min(per, d.cfg.Records-first)
		task, err := provider.NewTask("items", fmt.Sprintf("day=%s/first=%d", day, first), taskParams{Day: day, First: first, Count: n, Rows: d.cfg.RowsPerRecord})
		if err != nil {
			return nil, err
		}
		tasks = append(tasks, task)
	}
	return tasks, nil
}

// Run emits the task's records.
func (d *demo) Run(ctx context.Context, t provider.Task, emit provider.Emitter) error {
	var p taskParams
	if err := t.DecodeParams(&p); err != nil {
		return fmt.Errorf("%w: %v", provider.ErrPermanent, err)
	}
	for r := p.First; r < p.First+p.Count; r++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		payload, err := json.Marshal(Rows(p.Day, r, p.Rows))
		if err != nil {
			return err
		}
		if err := emit.Emit(ctx, provider.Raw{
			Dataset:     "items",
			SourceKey:   fmt.Sprintf("day=%s/record=%d", p.Day, r),
			ContentType: "application/json",
			Body:        bytes.NewReader(payload),
			Attributes:  map[string]string{"day": p.Day, "record": strconv.Itoa(r)},
		}); err != nil {
			return err
		}
	}
	return nil
}

// Item is one demo row as the provider emits it.
type Item struct {
	ID         int64   `json:"id"`
	Name       string  `json:"name"`
	Price      float64 `json:"price"`
	Quantity   int     `json:"quantity"`
	ObservedOn string  `json:"observed_on"`
}

// Rows returns the rows of record r of day: a pure function, so tests can compute the
// exact expected table without running anything.
func Rows(day string, r, rows int) []Item {
	out := make([]Item, rows)
	for j := range out {
		id := int64(r*rows + j + 1)
		out[j] = Item{
			ID:         id,
			Name:       "item-" + strconv.FormatInt(id, 10),
			Price:      float64(id*137%10000) / 100,
			Quantity:   int(id % 7),
			ObservedOn: day,
		}
	}
	return out
}
