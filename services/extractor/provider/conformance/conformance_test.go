package conformance_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sluice-dev/sluice/internal/ratelimit"
	"github.com/sluice-dev/sluice/internal/spec"
	"github.com/sluice-dev/sluice/internal/testinfra"
	"github.com/sluice-dev/sluice/services/extractor/provider"
	"github.com/sluice-dev/sluice/services/extractor/provider/conformance"
)

// fake is a provider with configurable misbehaviour: it fetches /data from its API and
// emits it.
type fake struct {
	mode string // "good", "bypass", "unstable", "deaf"
	url  string
	http interface {
		Do(context.Context, *http.Request) (*http.Response, error)
	}
	sp *spec.Spec
}

type fakeConfig struct{ URL, Mode string }

var fakeSpec = []byte(`{"provider":"fake","dataset":"things","version":1,"table":"fake_things","format":{"type":"json_array"},
 "columns":[{"name":"id","type":"bigint","expr":"row.id"}],"primary_key":["id"]}`)

func fakeProviderSpec() provider.Spec {
	return provider.Spec{
		Name:      "fake",
		NewConfig: func() any { return &fakeConfig{} },
		HTTP: func(any) (provider.HTTPSpec, error) {
			return provider.HTTPSpec{Limits: ratelimit.Config{Quotas: map[string]ratelimit.QuotaConfig{"default": {Limit: ratelimit.Limit{Rate: 100}}}}}, nil
		},
		New: func(cfg any, d provider.Deps) (provider.Provider, error) {
			c := cfg.(*fakeConfig)
			sp, err := spec.Parse(fakeSpec)
			if err != nil {
				return nil, err
			}
			return &fake{mode: c.Mode, url: c.URL, http: httpDo{d}, sp: sp}, nil
		},
	}
}

type httpDo struct{ d provider.Deps }

func (h httpDo) Do(ctx context.Context, req *http.Request) (*http.Response, error) {
	return h.d.Services.HTTP.Do(ctx, req)
}

func (f *fake) Datasets() []*spec.Spec { return []*spec.Spec{f.sp} }

func (f *fake) Plan(context.Context, provider.Trigger) ([]provider.Task, error) {
	return []provider.Task{{Kind: "fetch", Key: "a"}, {Kind: "fetch", Key: "b"}}, nil
}

func (f *fake) Run(ctx context.Context, t provider.Task, emit provider.Emitter) error {
	if f.mode == "deaf" {
		time.Sleep(1500 * time.Millisecond) // ignores ctx
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url+"/data", nil)
	if err != nil {
		return err
	}
	if f.mode == "deaf" {
		req = req.WithContext(context.Background())
	}
	var resp *http.Response
	if f.mode == "bypass" {
		resp, err = http.DefaultClient.Do(req)
	} else {
		resp, err = f.http.Do(ctx, req)
	}
	if err != nil && f.mode != "deaf" {
		return err
	}
	var body []byte
	if resp != nil {
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	key := "key=" + t.Key
	if f.mode == "unstable" {
		key += fmt.Sprintf("/at=%d", time.Now().UnixNano())
	}
	return emit.Emit(ctx, provider.Raw{Dataset: "things", SourceKey: key, ContentType: "application/json", Body: bytes.NewReader(body)})
}

func TestSuiteCatchesMisbehaviour(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `[{"id":1}]`) })
	for _, tc := range []struct {
		mode string
		want string // "" means no violation
	}{
		{"good", ""},
		{"bypass", "without the SDK's governed client"},
		{"unstable", "source keys are not stable"},
		{"deaf", "cancel"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			c := conformance.Case{
				Spec: fakeProviderSpec(), API: api, CancelWithin: 500 * time.Millisecond,
				Config: func(url string) any { return &fakeConfig{URL: url, Mode: tc.mode} },
			}
			errs := conformance.Verify(t, c)
			var all []string
			for _, e := range errs {
				all = append(all, e.Error())
			}
			joined := strings.Join(all, "\n")
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Errorf("good provider flagged:\n%s", joined)
			case tc.want != "" && !strings.Contains(strings.ToLower(joined), strings.ToLower(tc.want)):
				t.Errorf("violations do not mention %q:\n%s", tc.want, joined)
			}
		})
	}
}

// TestSuiteRunsWithAndWithoutServers: the suite needs no local servers (a provider team's
// repository has none: JetStream runs inside the test), and uses the pinned nats-server
// when deploy/local installed it.
func TestSuiteRunsWithAndWithoutServers(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `[{"id":1}]`) })
	for _, kind := range []string{"embedded", "process"} {
		t.Run(kind, func(t *testing.T) {
			if kind == "embedded" {
				t.Setenv("SLUICE_TEST_NATS", "embedded")
			} else if _, err := os.Stat(testinfra.NATSServerBin()); err != nil {
				t.Skip("no nats-server installed by deploy/local/infra.sh: " + err.Error())
			}
			c := conformance.Case{
				Spec: fakeProviderSpec(), API: api, CancelWithin: 500 * time.Millisecond,
				Config: func(url string) any { return &fakeConfig{URL: url, Mode: "good"} },
			}
			if errs := conformance.Verify(t, c); len(errs) > 0 {
				t.Fatalf("good provider flagged on %s JetStream: %v", kind, errs)
			}
		})
	}
}
