package rest

import (
	"strings"
	"testing"
)

const validManifest = `
name: acme
base_url: https://api.acme.test
auth: {type: api_key, name: X-Key, secret: {env: ACME_KEYS}}
limits: {rate: 5}
datasets: [datasets/items.json]
streams:
  - name: items
    datasets: [items]
    list: {path: /items, records: data, params: {q: "{trigger.params.q}"}}
    pagination: {type: cursor, cursor_path: meta.next, param: after}
`

func TestParseManifestNamesTheBadField(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, old, new string
		want           []string // substrings of the error, each naming a path
	}{
		{"valid", "", "", nil},
		{"bad pagination type", "type: cursor,", "type: scroll,", []string{"/streams/0/pagination/type"}},
		{"cursor without cursor_path", "type: cursor, cursor_path: meta.next,", "type: cursor,", []string{"/streams/0/pagination", "cursor_path"}},
		{"negative rate", "rate: 5", "rate: -1", []string{"/limits/rate"}},
		{"unknown field", "limits: {rate: 5}", "limits: {rate: 5, qps: 3}", []string{"/limits", "qps"}},
		{"secret in the manifest", "secret: {env: ACME_KEYS}", "secret: {value: hunter2}", []string{"/auth/secret", "value"}},
		{"api_key without a name", "name: X-Key, ", "", []string{"/auth", "name"}},
		{"relative path", "path: /items", "path: items", []string{"/streams/0/list/path"}},
		{"bad stream name", "- name: items", "- name: Items!", []string{"/streams/0/name"}},
		{"unknown placeholder", "{trigger.params.q}", "{secrets.q}", []string{"/streams/0/list/params/q", "unknown placeholder"}},
		{"pagination param also in params", "params: {q:", "params: {after: x, q:", []string{"/streams/0/list/params/after", "set by the pagination"}},
		{"link with a param", "pagination: {type: cursor, cursor_path: meta.next, param: after}", "pagination: {type: link, param: after}", []string{"/streams/0/pagination", "takes no param"}},
		{"duplicate stream", "", "", nil}, // filled below
		{"missing streams", "streams:", "x_streams:", []string{"streams"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			doc := validManifest
			if c.old != "" {
				if !strings.Contains(doc, c.old) {
					t.Fatalf("case does not apply: %q not in the manifest", c.old)
				}
				doc = strings.Replace(doc, c.old, c.new, 1)
			}
			want := c.want
			if c.name == "duplicate stream" {
				i := strings.Index(doc, "  - name: items")
				doc += doc[i:]
				want = []string{"/streams/1/name", "declared twice"}
			}
			_, err := ParseManifest([]byte(doc))
			if len(want) == 0 {
				if err != nil {
					t.Fatalf("valid manifest refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want an error naming %v", want)
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}
