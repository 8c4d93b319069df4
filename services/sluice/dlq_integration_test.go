package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// listed is one line of `sluice dlq list --json`.
type listed struct {
	Seq      uint64 `json:"seq"`
	Stage    string `json:"stage"`
	Provider string `json:"provider"`
	Dataset  string `json:"dataset"`
	RecordID string `json:"record_id"`
	RowIndex int64  `json:"row_index"`
	Reason   string `json:"reason"`
}

func (p *pipeline) dlqList(args ...string) []listed {
	p.t.Helper()
	out := p.mustCLI(append([]string{"dlq", "list", "--json"}, args...)...)
	var letters []listed
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var l listed
		if err := dec.Decode(&l); err != nil {
			p.t.Fatalf("dlq list --json: %v in %q", err, out)
		}
		letters = append(letters, l)
	}
	return letters
}

// waitDLQ polls the DLQ until filter args select n dead letters.
func (p *pipeline) waitDLQ(n int, args ...string) []listed {
	p.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		letters := p.dlqList(args...)
		if len(letters) == n {
			return letters
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("dlq list %q: %d dead letters %+v, want %d", args, len(letters), letters, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestDLQ(t *testing.T) {
	p := startPipeline(t)
	provider, table := p.dataset()
	at := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	p.publishRaw(provider, "page=0", "run", at, `[{"id":1,"name":"first","quantity":1}]`)
	p.waitRows("SELECT id FROM "+table, [][]string{{"1"}})
	if _, err := p.pool.Exec(t.Context(), "ALTER TABLE "+table+" ADD CONSTRAINT name_not_refused CHECK (name <> 'refused')"); err != nil {
		t.Fatal(err)
	}

	// Row 1 breaks a spec rule (transform), row 2 a database constraint (load); the
	// others load.
	rec := p.publishRaw(provider, "page=1", "run", at, `[{"id":10,"name":"good","quantity":1},{"id":11,"name":"negative","quantity":-1},
		{"id":12,"name":"refused","quantity":1},{"id":13,"name":"good too","quantity":1}]`)
	p.waitRows("SELECT id FROM "+table+" ORDER BY id", [][]string{{"1"}, {"10"}, {"13"}})
	letters := p.waitDLQ(2, "--provider", provider)
	byStage := map[string]listed{}
	for _, l := range letters {
		byStage[l.Stage] = l
	}
	tr, ld := byStage["transform"], byStage["load"]
	if tr.RecordID != rec.GetId() || tr.RowIndex != 1 || !strings.Contains(tr.Reason, "quantity must not be negative") {
		t.Errorf("transform dead letter %+v", tr)
	}
	if ld.RecordID != rec.GetId() || ld.RowIndex != 2 || !strings.Contains(ld.Reason, "name_not_refused") || ld.Dataset != "items" {
		t.Errorf("load dead letter %+v", ld)
	}

	t.Run("list prints a table", func(t *testing.T) {
		out := p.mustCLI("dlq", "list", "--stage", "load")
		for _, want := range []string{"SEQ", "REASON", fmt.Sprint(ld.Seq), "load", provider, "items", rec.GetId(), "name_not_refused"} {
			if !strings.Contains(out, want) {
				t.Errorf("dlq list --stage load lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "quantity must not be negative") {
			t.Errorf("--stage load lists a transform dead letter:\n%s", out)
		}
		if out := p.mustCLI("dlq", "list", "--provider", "nobody"); !strings.Contains(out, "no dead letters") {
			t.Errorf("an empty selection prints %q", out)
		}
	})

	t.Run("show links the raw document and shows the row", func(t *testing.T) {
		out := p.mustCLI("dlq", "show", fmt.Sprint(ld.Seq))
		for _, want := range []string{"raw_" + provider + " _id " + rec.GetId(), "source key  page=1", "inline, ", "row          2",
			`name="refused"`, "sluice.rows." + table, "jaeger"} {
			if !strings.Contains(out, want) {
				t.Errorf("dlq show lacks %q:\n%s", want, out)
			}
		}
		if _, errOut, err := p.cli("dlq", "show", "999999"); err == nil || !strings.Contains(errOut, "not in DLQ") {
			t.Errorf("show of a missing dead letter: %v %s", err, errOut)
		}
	})

	t.Run("a transform row letter holds the row and points at the record", func(t *testing.T) {
		out := p.mustCLI("dlq", "show", fmt.Sprint(tr.Seq))
		for _, want := range []string{"source row 1 of record " + rec.GetId(), "STAGED sequence", `"name":"negative"`, `"quantity":-1`,
			"raw_" + provider + " _id " + rec.GetId(), "retry re-runs the whole record"} {
			if !strings.Contains(out, want) {
				t.Errorf("dlq show of the transform letter lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, `"good too"`) {
			t.Errorf("the transform letter holds more than its row:\n%s", out)
		}
	})

	t.Run("retry re-publishes the original message and removes the dead letter", func(t *testing.T) {
		if _, err := p.pool.Exec(t.Context(), "ALTER TABLE "+table+" DROP CONSTRAINT name_not_refused"); err != nil {
			t.Fatal(err)
		}
		out := p.mustCLI("dlq", "retry", fmt.Sprint(ld.Seq))
		if !strings.Contains(out, "retried 1 of 1 dead letters") {
			t.Errorf("retry printed %q", out)
		}
		p.waitRows("SELECT id, name FROM "+table+" ORDER BY id", [][]string{{"1", "first"}, {"10", "good"}, {"12", "refused"}, {"13", "good too"}})
		p.waitDLQ(0, "--stage", "load")

		// The transform failure is not fixed: its retry fails again and is dead-lettered
		// anew, with the same record and row.
		p.mustCLI("dlq", "retry", "--all", "--stage", "transform", "--provider", provider)
		again := p.waitDLQ(1, "--stage", "transform")
		if again[0].Seq == tr.Seq || again[0].RecordID != rec.GetId() || again[0].RowIndex != 1 {
			t.Errorf("after a retry of %+v the DLQ holds %+v", tr, again[0])
		}
	})

	t.Run("usage errors", func(t *testing.T) {
		if out, _, err := p.cli("dlq"); err != nil || !strings.Contains(out, "Available Commands:") {
			t.Errorf("sluice dlq without a subcommand shows its help: %v\n%s", err, out)
		}
		for _, args := range [][]string{{"dlq", "retry"}, {"dlq", "retry", "1", "--all"}, {"dlq", "show", "x"}, {"dlq", "frobnicate"}} {
			if _, _, err := p.cli(args...); err == nil {
				t.Errorf("sluice %q succeeded", args)
			}
		}
	})
}
