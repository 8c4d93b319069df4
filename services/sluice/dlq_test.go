package main

import (
	"strings"
	"testing"

	sluicev1 "github.com/sluice-dev/sluice/proto/sluice/v1"
)

func TestDLQFilterSubject(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		f    dlqFilter
		want string
	}{
		{dlqFilter{}, "sluice.dlq.*.*.*"},
		{dlqFilter{Stage: "load"}, "sluice.dlq.load.*.*"},
		{dlqFilter{Provider: "acme", Dataset: "orders"}, "sluice.dlq.*.acme.orders"},
	} {
		if got := c.f.subject(); got != c.want {
			t.Errorf("%+v: %s, want %s", c.f, got, c.want)
		}
	}
}

func TestParseSeqs(t *testing.T) {
	t.Parallel()
	if got, err := parseSeqs([]string{"3", "17"}); err != nil || len(got) != 2 || got[1] != 17 {
		t.Errorf("parseSeqs = %v, %v", got, err)
	}
	for _, bad := range []string{"0", "-1", "x", "1.5"} {
		if _, err := parseSeqs([]string{bad}); err == nil {
			t.Errorf("parseSeqs(%q) succeeded", bad)
		}
	}
}

func TestRetryMessage(t *testing.T) {
	t.Parallel()
	dl := deadLetter{Seq: 9, DeadLetter: &sluicev1.DeadLetter{Subject: "sluice.rows.t", Data: []byte{1, 2},
		Headers: map[string]string{"Nats-Msg-Id": "rec:v1:0", "Nats-Expected-Stream": "ROWS", "Traceparent": "00-abc-def-01", "Sluice-Record-Id": "rec"}}}
	m := retryMessage(dl, dl.GetData())
	if m.Subject != "sluice.rows.t" || string(m.Data) != "\x01\x02" {
		t.Errorf("message %s %x", m.Subject, m.Data)
	}
	if got := m.Header.Get("Nats-Msg-Id"); got != "rec:v1:0:retry:9" {
		t.Errorf("dedupe id %q, want a new one derived from the original", got)
	}
	if m.Header.Get("Nats-Expected-Stream") != "" {
		t.Error("a publish option of the original was repeated")
	}
	if m.Header.Get("Traceparent") != "00-abc-def-01" || m.Header.Get("Sluice-Record-Id") != "rec" || m.Header.Get(HeaderRetryOf) != "9" {
		t.Errorf("headers %v", m.Header)
	}
}

func TestShowSourceRowLetter(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		dl   *sluicev1.DeadLetter
		want []string
	}{
		{"row with bytes", &sluicev1.DeadLetter{Stage: "transform", RecordId: "rec", RowIndex: 3, Subject: "sluice.staged.p.d",
			Data: []byte(`{"id":3}`), ContentType: "application/json", Stream: "STAGED", StreamSequence: 42},
			[]string{"source row 3 of record rec (application/json), STAGED sequence 42", `{"id":3}`, "re-runs the whole record"}},
		{"unreadable row", &sluicev1.DeadLetter{Stage: "transform", RecordId: "rec", RowIndex: 4, ContentType: "text/csv"},
			[]string{"source row 4 of record rec (text/csv)", "could not be read"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dl := deadLetter{Seq: 1, DeadLetter: c.dl}
			if !isSourceRow(dl) {
				t.Fatal("not recognised as a source row letter")
			}
			var b strings.Builder
			writeData(&b, dl)
			for _, w := range c.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("shown data lacks %q:\n%s", w, b.String())
				}
			}
		})
	}
	whole := deadLetter{DeadLetter: &sluicev1.DeadLetter{Stage: "transform", RowIndex: 2, Data: []byte{1}}}
	if isSourceRow(whole) {
		t.Error("a letter written before rows were stored alone (no content type) taken for a source row")
	}
}
