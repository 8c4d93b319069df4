package rowsource

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/internal/spec"
)

func TestUnnestYieldsChildRowsWithTheirParent(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, format, payload string
		want                  []string // child rows as JSON (keys sorted), "!" for a row error
	}{
		{"two parents", "json_array", `[{"id":1,"rooms":[{"r":"a"},{"r":"b"}]},{"id":2,"rooms":[{"r":"c"}]}]`,
			[]string{`{"_parent":{"id":1},"r":"a"}`, `{"_parent":{"id":1},"r":"b"}`, `{"_parent":{"id":2},"r":"c"}`}},
		{"missing and null arrays yield nothing", "json_array", `[{"id":1},{"id":2,"rooms":null},{"id":3,"rooms":[]},{"id":4,"rooms":[{"r":"d"}]}]`,
			[]string{`{"_parent":{"id":4},"r":"d"}`}},
		{"not an array is a row error, then the rest", "json_array", `[{"id":1,"rooms":"x"},{"id":2,"rooms":[{"r":"e"}]}]`,
			[]string{"!", `{"_parent":{"id":2},"r":"e"}`}},
		{"an element that is not an object", "json_array", `[{"id":1,"rooms":[7,{"r":"f"}]}]`,
			[]string{"!", `{"_parent":{"id":1},"r":"f"}`}},
		{"ndjson", "ndjson", "{\"id\":1,\"rooms\":[{\"r\":\"g\"}]}\n{\"id\":2,\"rooms\":[{\"r\":\"h\"}]}\n",
			[]string{`{"_parent":{"id":1},"r":"g"}`, `{"_parent":{"id":2},"r":"h"}`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r, err := Open(spec.Format{Type: spec.FormatType(c.format), Unnest: "rooms"}, strings.NewReader(c.payload))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for {
				row, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				var re *RowError
				if errors.As(err, &re) {
					got = append(got, "!")
					if len(r.Raw()) == 0 {
						t.Errorf("row error %v without raw bytes", err)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				b, _ := json.Marshal(row)
				got = append(got, string(b))
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func TestUnnestValidation(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		f    spec.Format
		want string
	}{
		{spec.Format{Type: spec.CSV, Unnest: "rooms"}, "format.unnest"},
		{spec.Format{Type: spec.JSONArray, Unnest: "a.b"}, "format.unnest"},
		{spec.Format{Type: spec.JSONArray, Unnest: spec.ParentKey}, "format.unnest"},
		{spec.Format{Type: spec.JSONArray, Unnest: "rooms"}, ""},
	} {
		s := &spec.Spec{Provider: "p", Dataset: "d", Version: 1, Table: "p_d", Format: c.f,
			Columns: []spec.Column{{Name: "a", Type: spec.Text, Expr: "row.a"}}, PrimaryKey: []string{"a"}}
		err := s.Validate()
		if c.want == "" && err != nil {
			t.Errorf("%+v: %v", c.f, err)
		}
		if c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v: error %v, want one naming %s", c.f, err, c.want)
		}
	}
}
