package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestReplay(t *testing.T) {
	p := startPipeline(t)
	t1 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(24 * time.Hour)

	t.Run("rebuilds an emptied table exactly, without a provider", func(t *testing.T) {
		provider, table := p.dataset()
		p.publishRaw(provider, "page=1", "run-a", t1, `[{"id":1,"name":"one","quantity":1},{"id":2,"name":"two","quantity":2}]`)
		p.publishRaw(provider, "page=2", "run-a", t1, `[{"id":3,"name":"three","quantity":3}]`)
		want := [][]string{{"1", "one", "1"}, {"2", "two", "2"}, {"3", "three", "3"}}
		query := "SELECT id, name, quantity FROM " + table + " ORDER BY id"
		p.waitRows(query, want)
		if _, err := p.pool.Exec(t.Context(), "DELETE FROM "+table); err != nil {
			t.Fatal(err)
		}
		_, errOut, err := p.cli("replay", "--provider", provider, "--dataset", "items", "--progress-interval", "1ms")
		if err != nil {
			t.Fatalf("replay: %v\n%s", err, errOut)
		}
		if !regexp.MustCompile(`replayed 2/2 records \(100%\), \d+ records/s`).MatchString(errOut) {
			t.Errorf("replay progress %q does not show count/total and rate", errOut)
		}
		p.waitRows(query, want)
	})

	t.Run("selects by run and extraction window", func(t *testing.T) {
		provider, _ := p.dataset()
		p.publishRaw(provider, "a", "run-a", t1, `[{"id":1,"name":"a","quantity":1}]`)
		p.publishRaw(provider, "b", "run-b", t2, `[{"id":2,"name":"b","quantity":1}]`)
		p.publishRaw(provider, "c", "run-b", t2.Add(time.Hour), `[{"id":3,"name":"c","quantity":1}]`)
		p.idle()
		for _, c := range []struct {
			args []string
			want int
		}{
			{nil, 3},
			{[]string{"--run", "run-b"}, 2},
			{[]string{"--since", t2.Format(time.RFC3339), "--until", t2.Add(time.Minute).Format(time.RFC3339)}, 1},
			{[]string{"--until", "2025-06-02"}, 1},
			{[]string{"--dataset", "other"}, 0},
		} {
			out := p.mustCLI(append([]string{"replay", "--provider", provider, "--dry-run"}, c.args...)...)
			if !strings.HasPrefix(out, fmt.Sprintf("%d staged records", c.want)) {
				t.Errorf("replay %q: %q, want %d records", c.args, out, c.want)
			}
		}
		if _, errOut, err := p.cli("replay", "--provider", provider, "--since", "2025-06-03", "--until", "2025-06-02"); err == nil || !strings.Contains(errOut, "--since/--until") {
			t.Errorf("an inverted window was accepted: %v %s", err, errOut)
		}
		if _, errOut, err := p.cli("replay"); err == nil || !strings.Contains(errOut, "--provider is required") {
			t.Errorf("replay without a provider: %v %s", err, errOut)
		}
	})

	t.Run("a new spec version adds a column and replay backfills it", func(t *testing.T) {
		provider, table := p.dataset()
		p.publishRaw(provider, "page=1", "run-a", t1, `[{"id":1,"name":"one","quantity":1,"price":"9.99"},{"id":2,"name":"two","quantity":2,"price":1.5}]`)
		p.waitRows("SELECT id, name FROM "+table+" ORDER BY id", [][]string{{"1", "one"}, {"2", "two"}})
		before := p.rows("SELECT id::text, _loaded_at::text FROM " + table + " ORDER BY id")

		p.register(itemsSpec(t, provider, table, 2))
		p.mustCLI("replay", "--provider", provider)
		p.waitRows("SELECT id, name, price::text FROM "+table+" ORDER BY id", [][]string{{"1", "one", "9.99"}, {"2", "two", "1.5"}})
		if after := p.rows("SELECT id::text, _loaded_at::text FROM " + table + " ORDER BY id"); after[0][1] == before[0][1] {
			t.Errorf("rows changed by the new spec version kept _loaded_at %s", after[0][1])
		}
	})

	t.Run("replaying changes nothing, an older extraction never overwrites", func(t *testing.T) {
		provider, table := p.dataset()
		p.publishRaw(provider, "page=1", "run-old", t1, `[{"id":1,"name":"old","quantity":1},{"id":2,"name":"only old","quantity":2}]`)
		p.waitRows("SELECT id, name FROM "+table+" ORDER BY id", [][]string{{"1", "old"}, {"2", "only old"}})
		p.publishRaw(provider, "page=1", "run-new", t2, `[{"id":1,"name":"new","quantity":5}]`)
		query := "SELECT id, name, quantity, _record_id, _extracted_at::text, _loaded_at::text, xmin::text FROM " + table + " ORDER BY id"
		p.waitRows("SELECT id, name FROM "+table+" ORDER BY id", [][]string{{"1", "new"}, {"2", "only old"}})
		p.idle()
		snapshot := p.rows(query)

		// The older extraction alone, replayed after the newer one.
		p.mustCLI("replay", "--provider", provider, "--run", "run-old")
		p.idle()
		// Everything again: identical rows are not rewritten.
		p.mustCLI("replay", "--provider", provider)
		p.idle()
		if got := p.rows(query); fmt.Sprint(got) != fmt.Sprint(snapshot) {
			t.Errorf("rows changed:\nbefore %q\n after %q", snapshot, got)
		}
	})
}
