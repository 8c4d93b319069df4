package s3objects

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sluice-dev/sluice/services/extractor/provider/checkpoint"
	"github.com/sluice-dev/sluice/services/extractor/providers/s3objects/transfer"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	obj := transfer.Object{Key: "data/a", Size: 10, ETag: "e1"}
	journal := func(st transfer.State) checkpoint.Cursor[transfer.State] {
		return checkpoint.Cursor[transfer.State]{Found: true, Value: st}
	}
	done := transfer.State{Object: obj, Done: true, DstETag: "d1"}
	cases := []struct {
		name   string
		st     checkpoint.Cursor[transfer.State]
		tgt    *transfer.Object
		action string
		reason string
	}{
		{"new", checkpoint.Cursor[transfer.State]{}, nil, DecideCopy, "new"},
		{"copied earlier, unchanged", journal(done), &transfer.Object{Size: 10, ETag: "d1"}, DecideSkip, "unchanged"},
		{"present with the same ETag and size", checkpoint.Cursor[transfer.State]{}, &transfer.Object{Size: 10, ETag: "e1"}, DecideSkip, "same ETag"},
		{"source changed", journal(transfer.State{Object: transfer.Object{Key: "data/a", Size: 10, ETag: "e0"}, Done: true, DstETag: "d0"}), &transfer.Object{Size: 10, ETag: "d0"}, DecideRecopy, "ETag changed from e0 to e1"},
		{"copied, then the target was replaced", journal(done), &transfer.Object{Size: 3, ETag: "x"}, DecideRecopy, "target differs"},
		{"copied, then the target was deleted", journal(done), nil, DecideCopy, "new"},
		{"interrupted copy", journal(transfer.State{Object: obj, UploadID: "u", Parts: 4, PartsDone: 2}), nil, DecideCopy, "resume: 2 of 4"},
		{"target differs without a journal", checkpoint.Cursor[transfer.State]{}, &transfer.Object{Size: 10, ETag: "other"}, DecideRecopy, "target differs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := decide(obj, c.st, c.tgt)
			if d.Action != c.action || !strings.Contains(d.Reason, c.reason) || d.Key != obj.Key {
				t.Fatalf("decide = %+v, want %s (%q)", d, c.action, c.reason)
			}
		})
	}
}

func testProvider(t *testing.T) *s3objects {
	t.Helper()
	c := DefaultConfig()
	c.Source = Bucket{Region: "us-east-1", Bucket: "src", Prefix: "in/"}
	spec := func(name string) json.RawMessage {
		return json.RawMessage(`{"provider":"s3objects","dataset":"` + name + `","version":1,"table":"t_` + name + `","format":{"type":"ndjson"},
			"columns":[{"name":"id","type":"bigint","expr":"row.id"}],"primary_key":["id"]}`)
	}
	c.Datasets = []Dataset{{Prefix: "a/", Spec: spec("a")}, {Prefix: "a/deep/", Spec: spec("deep")}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	p := &s3objects{cfg: c}
	for _, d := range c.Datasets {
		sp, _ := d.parse()
		p.byPrefix = append(p.byPrefix, prefixed{prefix: c.Source.Prefix + d.Prefix, spec: sp})
	}
	return p
}

func TestDatasetOfLongestPrefix(t *testing.T) {
	t.Parallel()
	p := testProvider(t)
	for key, want := range map[string]string{"in/a/x.ndjson": "a", "in/a/deep/x.ndjson": "deep", "in/b/x": "", "a/x": ""} {
		got := ""
		if sp := p.datasetOf(key); sp != nil {
			got = sp.Dataset
		}
		if got != want {
			t.Errorf("datasetOf(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestFromNotification(t *testing.T) {
	t.Parallel()
	p := testProvider(t)
	cases := []struct {
		name    string
		body    string
		ok      bool
		keys    []string
		wantErr bool
	}{
		{"sluice event", `{"params":{"x":"1"}}`, false, nil, false},
		{"not JSON", `nope`, false, nil, false},
		{"created objects, decoded keys, filtered by bucket, prefix and event", `{"Records":[
			{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"src"},"object":{"key":"in/a/my+file%3D1.ndjson","size":5,"eTag":"\"e1\""}}},
			{"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"src"},"object":{"key":"in/a/gone.ndjson","eTag":"e2"}}},
			{"eventName":"ObjectCreated:Copy","s3":{"bucket":{"name":"other"},"object":{"key":"in/a/x","eTag":"e3"}}},
			{"eventName":"ObjectCreated:Post","s3":{"bucket":{"name":"src"},"object":{"key":"out/x","eTag":"e4"}}},
			{"eventName":"ObjectCreated:CompleteMultipartUpload","s3":{"bucket":{"name":"src"},"object":{"key":"in/a/big","size":9,"eTag":"e5-2","versionId":"v1"}}}]}`,
			true, []string{"in/a/big", "in/a/my file=1.ndjson"}, false},
		{"no eTag", `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"src"},"object":{"key":"in/a/x"}}}]}`, true, nil, true},
		{"bad key encoding", `{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"src"},"object":{"key":"in/%zz","eTag":"e"}}}]}`, true, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			objs, ok, err := p.fromNotification(json.RawMessage(c.body))
			if ok != c.ok || (err != nil) != c.wantErr {
				t.Fatalf("ok %v err %v, want ok %v err %v", ok, err, c.ok, c.wantErr)
			}
			var keys []string
			for _, o := range objs {
				keys = append(keys, o.Key)
				if strings.Contains(o.ETag, `"`) {
					t.Errorf("ETag %s keeps its quotes", o.ETag)
				}
			}
			if strings.Join(keys, ",") != strings.Join(c.keys, ",") {
				t.Fatalf("keys %v, want %v", keys, c.keys)
			}
		})
	}
}

func FuzzFromNotification(f *testing.F) {
	f.Add([]byte(`{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"src"},"object":{"key":"in/a/x","size":1,"eTag":"e"}}}]}`))
	f.Add([]byte(`{"Records":null}`))
	f.Add([]byte(`{}`))
	p := &s3objects{cfg: &Config{Source: Bucket{Bucket: "src", Prefix: "in/"}}}
	f.Fuzz(func(t *testing.T, body []byte) {
		objs, ok, err := p.fromNotification(body)
		if !ok && (err != nil || objs != nil) {
			t.Fatalf("not a notification, yet objs %v err %v", objs, err)
		}
		for _, o := range objs {
			if !strings.HasPrefix(o.Key, "in/") || o.ETag == "" {
				t.Fatalf("object %+v outside the prefix or without an ETag", o)
			}
		}
	})
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	spec := json.RawMessage(`{"provider":"s3objects","dataset":"d","version":1,"table":"t_d","format":{"type":"csv"},"columns":[{"name":"id","type":"text","expr":"row.id"}],"primary_key":["id"]}`)
	good := func() *Config {
		c := DefaultConfig()
		c.Source = Bucket{Region: "us-east-1", Bucket: "src"}
		c.Datasets = []Dataset{{Prefix: "x/", Spec: spec}}
		return c
	}
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"valid ingest", func(*Config) {}, ""},
		{"valid transfer", func(c *Config) {
			c.Datasets = nil
			c.Target = &Bucket{Region: "us-east-1", Bucket: "dst", Endpoint: "http://127.0.0.1:9001", Credentials: "backup"}
		}, ""},
		{"no bucket", func(c *Config) { c.Source.Bucket = "" }, "source.bucket is empty"},
		{"bad endpoint", func(c *Config) { c.Source.Endpoint = "localhost" }, "source.endpoint"},
		{"bad credentials name", func(c *Config) { c.Source.Credentials = "a-b" }, "credentials"},
		{"nothing to do", func(c *Config) { c.Datasets = nil }, "no datasets"},
		{"both modes", func(c *Config) { c.Target = &Bucket{Region: "r", Bucket: "dst"} }, "either ingests or transfers"},
		{"target is source", func(c *Config) { c.Datasets = nil; c.Target = &Bucket{Region: "r", Bucket: "src"} }, "target is the source"},
		{"spec of another provider", func(c *Config) {
			c.Datasets[0].Spec = json.RawMessage(strings.Replace(string(spec), `"s3objects"`, `"demo"`, 1))
		}, `want "s3objects"`},
		{"html is not read", func(c *Config) {
			c.Datasets[0].Spec = json.RawMessage(strings.Replace(string(spec), `"csv"`, `"html_table"`, 1))
		}, "json_array, ndjson or csv"},
		{"small parts", func(c *Config) { c.Transfer.PartSize = 1 << 20 }, "part_size"},
		{"no rate", func(c *Config) { c.RequestsPerSecond = 0 }, "requests_per_second"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := good()
			c.mutate(cfg)
			err := cfg.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %q", err, c.want)
			}
		})
	}
}
