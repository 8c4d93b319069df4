package deploytest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// kube is a minimal client of the kube-apiserver that k8s-tools.sh runs: discovery, create,
// server-side apply and dry-run, over net/http with JSON bodies. client-go stays out of the
// root module on purpose (it is large); the chart tests need five requests.
type kube struct {
	base  string
	token string
	http  *http.Client

	mu        sync.Mutex
	resources map[string]apiResource // by apiVersion + "/" + kind
}

type apiResource struct {
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	Namespaced bool   `json:"namespaced"`
}

// apiError is a non-2xx answer; Status is the server's Status object when it sent one.
type apiError struct {
	Code   int
	Reason string
	Msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d %s: %s", e.Code, e.Reason, e.Msg) }

var (
	kubeOnce sync.Once
	kubeC    *kube
	kubeErr  error
)

// apiServer returns a client of the running test API server, or skips (fails under
// SLUICE_INTEGRATION=1) when none answers.
func apiServer(t testing.TB) *kube {
	t.Helper()
	if testing.Short() {
		t.Skip("chart test: skipped with -short")
	}
	kubeOnce.Do(func() { kubeC, kubeErr = newKube() })
	if kubeErr != nil {
		unavailable(t, "kube-apiserver: "+kubeErr.Error())
	}
	return kubeC
}

func newKube() (*kube, error) {
	env := toolEnv()
	base, token, caFile := env["KUBE_APISERVER_URL"], env["KUBE_APISERVER_TOKEN"], env["KUBE_APISERVER_CA"]
	if base == "" || token == "" || caFile == "" {
		return nil, errors.New("KUBE_APISERVER_URL, KUBE_APISERVER_TOKEN and KUBE_APISERVER_CA are not set and no k8s-tools.sh env file was found")
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", caFile)
	}
	k := &kube{
		base:  strings.TrimSuffix(base, "/"),
		token: token,
		http: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body, _, err := k.do(ctx, http.MethodGet, "/readyz", "", nil)
	if err != nil {
		return nil, fmt.Errorf("%s/readyz: %w", k.base, err)
	}
	if strings.TrimSpace(string(body)) != "ok" {
		return nil, fmt.Errorf("%s/readyz answered %q", k.base, body)
	}
	return k, nil
}

// do sends one request; it returns the body and the Warning headers of a 2xx answer.
func (k *kube) do(ctx context.Context, method, path, contentType string, body []byte) ([]byte, []string, error) {
	req, err := http.NewRequestWithContext(ctx, method, k.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+k.token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := k.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if resp.StatusCode/100 != 2 {
		var st struct {
			Reason  string `json:"reason"`
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &st) != nil || st.Message == "" {
			st.Message = string(data)
		}
		return nil, nil, &apiError{Code: resp.StatusCode, Reason: st.Reason, Msg: st.Message}
	}
	return data, resp.Header.Values("Warning"), nil
}

// resource resolves apiVersion and kind to the REST resource through discovery.
func (k *kube) resource(ctx context.Context, apiVersion, kind string) (apiResource, error) {
	key := apiVersion + "/" + kind
	k.mu.Lock()
	defer k.mu.Unlock()
	if r, ok := k.resources[key]; ok {
		return r, nil
	}
	path := "/apis/" + apiVersion
	if !strings.Contains(apiVersion, "/") {
		path = "/api/" + apiVersion
	}
	body, _, err := k.do(ctx, http.MethodGet, path, "", nil)
	if err != nil {
		return apiResource{}, fmt.Errorf("discover %s: %w", apiVersion, err)
	}
	var list struct {
		Resources []apiResource `json:"resources"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return apiResource{}, fmt.Errorf("discover %s: %w", apiVersion, err)
	}
	if k.resources == nil {
		k.resources = map[string]apiResource{}
	}
	for _, r := range list.Resources {
		if !strings.Contains(r.Name, "/") { // skip subresources such as deployments/scale
			k.resources[apiVersion+"/"+r.Kind] = r
		}
	}
	r, ok := k.resources[key]
	if !ok {
		return apiResource{}, fmt.Errorf("the API server does not serve kind %s in %s", kind, apiVersion)
	}
	return r, nil
}

func (k *kube) collectionPath(ctx context.Context, obj map[string]any, namespace string) (string, error) {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	r, err := k.resource(ctx, apiVersion, kind)
	if err != nil {
		return "", err
	}
	prefix := "/apis/" + apiVersion
	if !strings.Contains(apiVersion, "/") {
		prefix = "/api/" + apiVersion
	}
	if r.Namespaced {
		return prefix + "/namespaces/" + url.PathEscape(namespace) + "/" + r.Name, nil
	}
	return prefix + "/" + r.Name, nil
}

// dryRunCreate submits obj as a create with server-side dry-run and strict field validation:
// defaulting, validation and admission run in full, nothing is stored, and an unknown or
// duplicate field is an error rather than a silent drop.
func (k *kube) dryRunCreate(ctx context.Context, obj map[string]any, namespace string) ([]string, error) {
	path, err := k.collectionPath(ctx, obj, namespace)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	_, warnings, err := k.do(ctx, http.MethodPost, path+"?dryRun=All&fieldValidation=Strict", "application/json", body)
	return warnings, err
}

// apply creates or updates obj for real with server-side apply (test fixtures: CRDs,
// namespaces).
func (k *kube) apply(ctx context.Context, obj map[string]any, namespace string) error {
	path, err := k.collectionPath(ctx, obj, namespace)
	if err != nil {
		return err
	}
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	body, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	_, _, err = k.do(ctx, http.MethodPatch, path+"/"+url.PathEscape(name)+"?fieldManager=sluice-deploytest&force=true&fieldValidation=Strict",
		"application/apply-patch+yaml", body)
	return err
}

// get fetches one object by its collection path and name.
func (k *kube) get(ctx context.Context, obj map[string]any, namespace string) (map[string]any, error) {
	path, err := k.collectionPath(ctx, obj, namespace)
	if err != nil {
		return nil, err
	}
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	body, _, err := k.do(ctx, http.MethodGet, path+"/"+url.PathEscape(name), "", nil)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	return out, json.Unmarshal(body, &out)
}

// forgetDiscovery drops cached discovery, after CRDs add kinds.
func (k *kube) forgetDiscovery() {
	k.mu.Lock()
	k.resources = nil
	k.mu.Unlock()
}
