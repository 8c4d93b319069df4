package deploytest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

func TestValueSetsCoverCIFiles(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join(chartDir(t), "ci", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("helm/sluice/ci has no value sets")
	}
	for _, f := range files {
		rel := "ci/" + filepath.Base(f)
		if !slices.ContainsFunc(valueSets, func(v valueSet) bool { return v.file == rel }) {
			t.Errorf("%s is not in valueSets: add it with what it must render", rel)
		}
	}
}

func TestHelmLint(t *testing.T) {
	t.Parallel()
	helm(t) // skip once here, not in every subtest
	for _, v := range valueSets {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"lint", "--strict", chartDir(t), "--namespace", v.namespace(), "--kube-version", kubeVersion}
			for _, f := range v.files() {
				args = append(args, "--values", filepath.Join(chartDir(t), f))
			}
			if out, err := runHelm(t, args...); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

// TestChartRenders checks, for every value set, what an operator relies on beyond what the
// API server validates.
func TestChartRenders(t *testing.T) {
	t.Parallel()
	helm(t) // skip once here, not in every subtest
	for _, v := range valueSets {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			objs := render(t, v.namespace(), v.files())
			checkLabels(t, objs)
			checkPods(t, objs)
			checkStages(t, objs)
			checkExtractors(t, v, objs)
			checkKEDA(t, v, objs)
			checkServiceMonitor(t, v, objs)
			checkSimulator(t, v, objs)
			checkNetworkPolicies(t, v, objs)
			checkPDBs(t, v, objs)
			checkProvisionHook(t, objs)
			checkReferences(t, v, objs)
		})
	}
}

func checkLabels(t *testing.T, objs []object) {
	t.Helper()
	for _, o := range objs {
		for _, k := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "app.kubernetes.io/part-of", "helm.sh/chart"} {
			if o.labels()[k] == nil {
				t.Errorf("%s: no label %s", o.id(), k)
			}
		}
	}
}

// podSpec returns the pod template of a Deployment or Job.
func podSpec(o object) map[string]any {
	m, _ := o.get("spec", "template", "spec").(map[string]any)
	return m
}

func maps(v any) []map[string]any {
	list, _ := v.([]any)
	out := make([]map[string]any, 0, len(list))
	for _, x := range list {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// checkPods: every container of every Deployment and Job is locked down and bounded, and
// every Deployment's containers have liveness and readiness probes.
func checkPods(t *testing.T, objs []object) {
	t.Helper()
	for _, o := range objs {
		if o.kind() != "Deployment" && o.kind() != "Job" {
			continue
		}
		spec := podSpec(o)
		if spec == nil {
			t.Errorf("%s: no pod template", o.id())
			continue
		}
		pod := object(asMap(spec["securityContext"]))
		if str(pod.get("runAsNonRoot")) != "true" || str(pod.get("runAsUser")) != "65532" {
			t.Errorf("%s: pod securityContext must set runAsNonRoot: true, runAsUser: 65532; got %v", o.id(), pod)
		}
		if str(pod.get("seccompProfile", "type")) != "RuntimeDefault" {
			t.Errorf("%s: pod seccompProfile must be RuntimeDefault", o.id())
		}
		if str(spec["automountServiceAccountToken"]) != "false" {
			t.Errorf("%s: automountServiceAccountToken must be false (sluice never calls the Kubernetes API)", o.id())
		}
		tmpVolumes := map[string]bool{}
		for _, vol := range maps(spec["volumes"]) {
			if vol["emptyDir"] != nil {
				tmpVolumes[str(vol["name"])] = true
			}
		}
		containers := append(maps(spec["containers"]), maps(spec["initContainers"])...)
		if len(containers) == 0 {
			t.Errorf("%s: no containers", o.id())
		}
		for _, c := range containers {
			id := o.id() + " container " + str(c["name"])
			co := object(c)
			for _, r := range []string{"cpu", "memory"} {
				if str(co.get("resources", "limits", r)) == "" {
					t.Errorf("%s: no resources.limits.%s", id, r)
				}
			}
			sc := object(asMap(c["securityContext"]))
			want := map[string]string{"runAsNonRoot": "true", "runAsUser": "65532", "readOnlyRootFilesystem": "true", "allowPrivilegeEscalation": "false"}
			for k, w := range want {
				if got := str(sc.get(k)); got != w {
					t.Errorf("%s: securityContext.%s = %q, want %s", id, k, got, w)
				}
			}
			if drop, _ := sc.get("capabilities", "drop").([]any); !slices.ContainsFunc(drop, func(x any) bool { return str(x) == "ALL" }) {
				t.Errorf("%s: securityContext.capabilities.drop must contain ALL", id)
			}
			if str(sc.get("seccompProfile", "type")) != "RuntimeDefault" {
				t.Errorf("%s: container seccompProfile must be RuntimeDefault", id)
			}
			if !slices.ContainsFunc(maps(c["volumeMounts"]), func(m map[string]any) bool {
				return str(m["mountPath"]) == "/tmp" && tmpVolumes[str(m["name"])]
			}) {
				t.Errorf("%s: /tmp must be an emptyDir (the root filesystem is read-only)", id)
			}
			if o.kind() == "Deployment" {
				for _, p := range []string{"livenessProbe", "readinessProbe"} {
					if c[p] == nil {
						t.Errorf("%s: no %s", id, p)
					}
				}
			}
		}
	}
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// env returns a container's env var names (value or valueFrom) and plain values.
func env(c map[string]any) map[string]string {
	out := map[string]string{}
	for _, e := range maps(c["env"]) {
		out[str(e["name"])] = str(e["value"])
	}
	return out
}

func deployment(objs []object, name string) object {
	for _, o := range byKind(objs, "Deployment") {
		if o.name() == name {
			return o
		}
	}
	return nil
}

func firstContainer(o object) map[string]any {
	cs := maps(podSpec(o)["containers"])
	if len(cs) == 0 {
		return nil
	}
	return cs[0]
}

// checkStages: the generic stages run with the environment the services' contract names.
func checkStages(t *testing.T, objs []object) {
	t.Helper()
	common := []string{"SLUICE_NATS_URL", "SLUICE_HTTP_ADDR", "SLUICE_METRICS_ADDR", "SLUICE_OTLP_ENDPOINT", "SLUICE_LOG_LEVEL", "SLUICE_LOG_FORMAT"}
	stages := map[string][]string{
		"staging-store": {"SLUICE_MONGO_URI", "SLUICE_MONGO_DATABASE"},
		"transformer":   {"SLUICE_S3_ENDPOINT", "SLUICE_S3_REGION", "SLUICE_S3_BUCKET"},
		"loader":        {"SLUICE_POSTGRES_URL"},
	}
	for stage, vars := range stages {
		d := deployment(objs, release+"-"+stage)
		if d == nil {
			t.Errorf("no Deployment %s-%s", release, stage)
			continue
		}
		e := env(firstContainer(d))
		for _, k := range append(slices.Clone(common), vars...) {
			if _, ok := e[k]; !ok {
				t.Errorf("%s: no env %s", d.id(), k)
			}
		}
	}
}

// checkExtractors: exactly one extractor Deployment per enabled provider, each started with
// --provider=<name> and its config file mounted from its own ConfigMap.
func checkExtractors(t *testing.T, v valueSet, objs []object) {
	t.Helper()
	var got []string
	for _, d := range byKind(objs, "Deployment") {
		if str(d.labels()["app.kubernetes.io/component"]) != "extractor" {
			continue
		}
		p := str(d.labels()["sluice.dev/provider"])
		got = append(got, p)
		if d.name() != release+"-extractor-"+p {
			t.Errorf("%s: want name %s-extractor-%s", d.id(), release, p)
		}
		c := firstContainer(d)
		if args, _ := c["args"].([]any); len(args) == 0 || str(args[0]) != "--provider="+p {
			t.Errorf("%s: args %v must start with --provider=%s", d.id(), c["args"], p)
		}
		if want, ok := v.images[p]; ok && str(c["image"]) != want {
			t.Errorf("%s: image %s, want %s", d.id(), str(c["image"]), want)
		}
		e := env(c)
		if e["SLUICE_PROVIDER"] != p || e["SLUICE_PROVIDER_CONFIG"] == "" {
			t.Errorf("%s: SLUICE_PROVIDER=%q SLUICE_PROVIDER_CONFIG=%q", d.id(), e["SLUICE_PROVIDER"], e["SLUICE_PROVIDER_CONFIG"])
		}
		var cm object
		for _, o := range byKind(objs, "ConfigMap") {
			if o.name() == d.name() {
				cm = o
			}
		}
		if cm == nil {
			t.Errorf("%s: no ConfigMap %s with the provider config", d.id(), d.name())
			continue
		}
		var cfg map[string]any
		if err := json.Unmarshal([]byte(str(cm.get("data", "config.json"))), &cfg); err != nil {
			t.Errorf("%s: config.json is not a JSON object: %v", cm.id(), err)
		}
		if strings.Contains(str(cm.get("data", "config.json")), "{{") {
			t.Errorf("%s: config.json holds an unexpanded template", cm.id())
		}
	}
	sort.Strings(got)
	want := slices.Clone(v.providers)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("extractor Deployments for providers %v, want exactly one for each of %v", got, want)
	}
}

func checkKEDA(t *testing.T, v valueSet, objs []object) {
	t.Helper()
	sos := byKind(objs, "ScaledObject")
	if v.keda == nil {
		if len(sos) > 0 {
			t.Errorf("KEDA is off but ScaledObjects render: %v", names(sos))
		}
		for _, d := range byKind(objs, "Deployment") {
			if d.get("spec", "replicas") == nil {
				t.Errorf("%s: no replicas while KEDA is off", d.id())
			}
		}
		return
	}
	got := map[string]string{}
	for _, so := range sos {
		short := strings.TrimPrefix(so.name(), release+"-")
		if str(so.get("spec", "scaleTargetRef", "name")) != so.name() || deployment(objs, so.name()) == nil {
			t.Errorf("%s: scaleTargetRef %v does not name its Deployment", so.id(), so.get("spec", "scaleTargetRef"))
		}
		for _, trig := range maps(so.get("spec", "triggers")) {
			tr := object(trig)
			if str(tr.get("type")) != "nats-jetstream" {
				t.Errorf("%s: trigger type %v, want nats-jetstream", so.id(), tr.get("type"))
			}
			for _, k := range []string{"natsServerMonitoringEndpoint", "account", "lagThreshold"} {
				if str(tr.get("metadata", k)) == "" {
					t.Errorf("%s: trigger metadata has no %s", so.id(), k)
				}
			}
			if got[short] != "" {
				got[short] += " + "
			}
			got[short] += str(tr.get("metadata", "stream")) + "/" + str(tr.get("metadata", "consumer"))
		}
	}
	for name, sc := range v.keda {
		if got[name] != sc {
			t.Errorf("ScaledObject %s-%s reads %q, want %q", release, name, got[name], sc)
		}
	}
	for name := range got {
		if _, ok := v.keda[name]; !ok {
			t.Errorf("unexpected ScaledObject %s-%s", release, name)
		}
	}
	for _, d := range byKind(objs, "Deployment") {
		_, scaled := v.keda[strings.TrimPrefix(d.name(), release+"-")]
		if hasReplicas := d.get("spec", "replicas") != nil; scaled == hasReplicas {
			t.Errorf("%s: replicas set = %v, KEDA-scaled = %v: exactly one of them must own the count", d.id(), hasReplicas, scaled)
		}
	}
}

func checkServiceMonitor(t *testing.T, v valueSet, objs []object) {
	t.Helper()
	sms := byKind(objs, "ServiceMonitor")
	if !v.serviceMonitor {
		if len(sms) > 0 {
			t.Errorf("serviceMonitor is off but %v render", names(sms))
		}
		return
	}
	if len(sms) != 1 {
		t.Fatalf("want one ServiceMonitor, got %v", names(sms))
	}
	for _, ep := range maps(sms[0].get("spec", "endpoints")) {
		if str(ep["port"]) != "metrics" {
			t.Errorf("ServiceMonitor scrapes port %s; /metrics has its own listener, port metrics", str(ep["port"]))
		}
	}
	sel := asMap(sms[0].get("spec", "selector", "matchLabels"))
	var scraped []string
	for _, svc := range byKind(objs, "Service") {
		if matches(sel, svc.labels()) {
			scraped = append(scraped, svc.name())
		}
	}
	for _, d := range byKind(objs, "Deployment") {
		if d.labels()["app.kubernetes.io/component"] != "sim-amazonads" && !slices.Contains(scraped, d.name()) {
			t.Errorf("%s: no Service of it is selected by the ServiceMonitor (scraped: %v)", d.id(), scraped)
		}
	}
}

func matches(selector, labels map[string]any) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if str(labels[k]) != str(v) {
			return false
		}
	}
	return true
}

func checkSimulator(t *testing.T, v valueSet, objs []object) {
	t.Helper()
	d := deployment(objs, release+"-sim-amazonads")
	if (d != nil) != v.simulator {
		t.Errorf("simulator Deployment rendered = %v, want %v", d != nil, v.simulator)
	}
	if d != nil && env(firstContainer(d))["SLUICE_SIM_ADDR"] != "0.0.0.0:8089" {
		t.Errorf("%s: SLUICE_SIM_ADDR must be 0.0.0.0:8089 to be reachable in the cluster", d.id())
	}
}

// checkNetworkPolicies: every pod is selected by a NetworkPolicy that admits traffic only to
// its named port and lets it resolve names.
func checkNetworkPolicies(t *testing.T, v valueSet, objs []object) {
	t.Helper()
	nps := byKind(objs, "NetworkPolicy")
	if !v.networkPolicy {
		if len(nps) > 0 {
			t.Errorf("networkPolicy is off but %v render", names(nps))
		}
		return
	}
	for _, o := range objs {
		if o.kind() != "Deployment" && o.kind() != "Job" {
			continue
		}
		podLabels := asMap(o.get("spec", "template", "metadata", "labels"))
		var np object
		for _, n := range nps {
			if matches(asMap(n.get("spec", "podSelector", "matchLabels")), podLabels) {
				np = n
			}
		}
		if np == nil {
			t.Errorf("%s: no NetworkPolicy selects its pods", o.id())
			continue
		}
		for _, rule := range maps(np.get("spec", "ingress")) {
			for _, p := range maps(rule["ports"]) {
				if port := str(p["port"]); port != "http" && port != "metrics" && port != "api" {
					t.Errorf("%s: ingress on port %s; only the named service ports may be open", np.id(), port)
				}
			}
		}
		dns := false
		for _, rule := range maps(np.get("spec", "egress")) {
			for _, p := range maps(rule["ports"]) {
				dns = dns || str(p["port"]) == "53"
			}
		}
		if !dns {
			t.Errorf("%s: egress does not allow DNS", np.id())
		}
	}
}

func checkPDBs(t *testing.T, v valueSet, objs []object) {
	t.Helper()
	pdbs := byKind(objs, "PodDisruptionBudget")
	if !v.pdb {
		if len(pdbs) > 0 {
			t.Errorf("podDisruptionBudget is off but %v render", names(pdbs))
		}
		return
	}
	for _, d := range byKind(objs, "Deployment") {
		if d.labels()["app.kubernetes.io/component"] == "sim-amazonads" {
			continue
		}
		podLabels := asMap(d.get("spec", "template", "metadata", "labels"))
		if !slices.ContainsFunc(pdbs, func(p object) bool {
			return matches(asMap(p.get("spec", "selector", "matchLabels")), podLabels)
		}) {
			t.Errorf("%s: no PodDisruptionBudget selects its pods", d.id())
		}
	}
}

func checkProvisionHook(t *testing.T, objs []object) {
	t.Helper()
	jobs := byKind(objs, "Job")
	if len(jobs) != 1 {
		t.Fatalf("want the provision Job, got %v", names(jobs))
	}
	j := jobs[0]
	hook := str(j.get("metadata", "annotations", "helm.sh/hook"))
	if !strings.Contains(hook, "pre-install") || !strings.Contains(hook, "pre-upgrade") {
		t.Errorf("%s: helm.sh/hook = %q, want pre-install,pre-upgrade", j.id(), hook)
	}
	c := firstContainer(j)
	if args, _ := c["args"].([]any); len(args) == 0 || str(args[0]) != "provision" {
		t.Errorf("%s: args %v must run `sluice provision`", j.id(), c["args"])
	}
	if _, ok := env(c)["SLUICE_NATS_URL"]; !ok {
		t.Errorf("%s: no SLUICE_NATS_URL", j.id())
	}
	// A pre-install hook runs before the release's own objects exist: whatever it reads
	// must be a hook too, or provided by the operator.
	for _, e := range maps(c["env"]) {
		ref := object(e).get("valueFrom", "secretKeyRef", "name")
		if ref == nil {
			continue
		}
		for _, s := range byKind(objs, "Secret") {
			if s.name() == str(ref) && s.get("metadata", "annotations", "helm.sh/hook") == nil {
				t.Errorf("%s reads Secret %s, which is created after pre-install hooks run", j.id(), s.name())
			}
		}
	}
}

// checkReferences: every Secret and ConfigMap a pod reads is rendered (with that key) or is
// one of the existing Secrets the values name, and every named existing Secret is used.
func checkReferences(t *testing.T, v valueSet, objs []object) {
	t.Helper()
	rendered := map[string]map[string]any{} // kind/name -> data
	for _, o := range objs {
		if o.kind() == "Secret" || o.kind() == "ConfigMap" {
			data := asMap(o.get("data"))
			if data == nil {
				data = asMap(o.get("stringData"))
			}
			rendered[o.kind()+"/"+o.name()] = data
		}
	}
	used := map[string]bool{}
	ref := func(owner object, kind, name, key string) {
		if kind == "Secret" && slices.Contains(v.existingSecrets, name) {
			used[name] = true
			return
		}
		data, ok := rendered[kind+"/"+name]
		if !ok {
			t.Errorf("%s reads %s %q, which is neither rendered nor an existing Secret of the values", owner.id(), kind, name)
			return
		}
		if key != "" {
			if _, ok := data[key]; !ok {
				t.Errorf("%s reads key %q of %s %s, which has no such key", owner.id(), key, kind, name)
			}
		}
	}
	for _, o := range objs {
		spec := podSpec(o)
		if spec == nil {
			continue
		}
		for _, s := range maps(spec["imagePullSecrets"]) {
			ref(o, "Secret", str(s["name"]), "")
		}
		for _, vol := range maps(spec["volumes"]) {
			if cm := asMap(vol["configMap"]); cm != nil {
				ref(o, "ConfigMap", str(cm["name"]), "")
			}
			if s := asMap(vol["secret"]); s != nil {
				ref(o, "Secret", str(s["secretName"]), "")
			}
		}
		for _, c := range maps(spec["containers"]) {
			for _, e := range maps(c["env"]) {
				if r := asMap(object(e).get("valueFrom", "secretKeyRef")); r != nil {
					ref(o, "Secret", str(r["name"]), str(r["key"]))
				}
				if r := asMap(object(e).get("valueFrom", "configMapKeyRef")); r != nil {
					ref(o, "ConfigMap", str(r["name"]), str(r["key"]))
				}
			}
			for _, e := range maps(c["envFrom"]) {
				if r := asMap(e["secretRef"]); r != nil {
					ref(o, "Secret", str(r["name"]), "")
				}
				if r := asMap(e["configMapRef"]); r != nil {
					ref(o, "ConfigMap", str(r["name"]), "")
				}
			}
		}
	}
	for _, s := range v.existingSecrets {
		if !used[s] {
			t.Errorf("existing Secret %s named in the values is never read", s)
		}
	}
}

// TestSchemaRejectsBadValues: values.schema.json (and the chart's own checks) stop a bad
// value at `helm template`/`helm install` with a message that names the key.
func TestSchemaRejectsBadValues(t *testing.T) {
	t.Parallel()
	helm(t) // skip once here, not in every subtest
	cases := []struct {
		name   string
		values string
		want   []string // all must appear in helm's error
	}{
		{"negative replicas", "transformer: {replicas: -1}", []string{"/transformer/replicas", "minimum"}},
		{"unknown log level", "log: {level: verbose}", []string{"/log/level", "must be one of 'debug', 'info', 'warn', 'error'"}},
		{"unknown log format", "log: {format: xml}", []string{"/log/format"}},
		{"component log level", "loader: {logLevel: trace}", []string{"/loader/logLevel"}},
		{"misspelt top-level key", "replica: 3", []string{"replica"}},
		{"misspelt component key", "loader: {replica: 3}", []string{"/loader", "replica"}},
		{"replicas as a string", `stagingStore: {replicas: "two"}`, []string{"/stagingStore/replicas"}},
		{"no cpu limit", "loader: {resources: {limits: {cpu: null}}}", []string{"/loader/resources/limits", "missing property 'cpu'"}},
		{"bad quantity", "loader: {resources: {limits: {cpu: lots, memory: 1Gi}}}", []string{"/loader/resources/limits/cpu"}},
		{"bad pull policy", "global: {imagePullPolicy: Sometimes}", []string{"/global/imagePullPolicy"}},
		{"provider without a name", "providers: [{enabled: true}]", []string{"/providers/0", "name"}},
		{"provider name with capitals", "providers: [{name: AmazonAds}]", []string{"/providers/0/name"}},
		{"provider secret env name", "providers: [{name: amazonads, secretEnv: {client_id: x}}]", []string{"/providers/0/secretEnv", "client_id"}},
		{"provider listed twice", "providers: [{name: amazonads}, {name: amazonads}]", []string{`"amazonads" is listed twice`}},
		{"otlp endpoint with a scheme", "otlp: {endpoint: 'http://jaeger:4317'}", []string{"/otlp/endpoint"}},
		{"nats url without scheme", "nats: {url: 'nats:4222'}", []string{"/nats/url"}},
		{"keda lag threshold zero", "keda: {enabled: true, lagThreshold: 0}", []string{"/keda/lagThreshold", "minimum"}},
		{"keda min above max", "keda: {enabled: true, minReplicaCount: 5, maxReplicaCount: 2}", []string{"minReplicaCount (5) is greater than keda.maxReplicaCount (2)"}},
		{"scheduled provider scaled to zero (env)", "keda: {enabled: true, minReplicaCount: 0}\nnats: {monitoringEndpoint: 'nats:8222'}\nproviders: [{name: amazonads, env: [{name: SLUICE_SCHEDULE, value: '@daily'}]}]",
			[]string{"provider amazonads has a schedule", "keda.minReplicaCount is 0"}},
		{"scheduled provider scaled to zero (args)", "nats: {monitoringEndpoint: 'nats:8222'}\nproviders: [{name: amazonads, args: ['--schedule=0 6 * * *'], keda: {enabled: true, minReplicaCount: 0}}]",
			[]string{"provider amazonads has a schedule"}},
		{"no postgres", "postgres: {url: ''}", []string{"set postgres.url or postgres.existingSecret"}},
		{"no mongo", "mongo: {uri: ''}", []string{"set mongo.uri or mongo.existingSecret"}},
		{"half of the s3 keys", "s3: {accessKey: AKIA}", []string{"set both s3.accessKey and s3.secretKey"}},
		{"pdb with both bounds", "loader: {podDisruptionBudget: {minAvailable: 1, maxUnavailable: 1}}", []string{"sets both minAvailable and maxUnavailable"}},
		{"bad scrape interval", "serviceMonitor: {enabled: true, interval: 30}", []string{"/serviceMonitor/interval"}},
		{"bad http port", "httpPort: 70000", []string{"/httpPort", "maximum"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := filepath.Join(t.TempDir(), "values.yaml")
			if err := os.WriteFile(f, []byte(tc.values+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := runHelm(t, templateArgs(t, "sluice", []string{f})...)
			if err == nil {
				t.Fatalf("helm template accepted %q:\n%.2000s", tc.values, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error for %q does not mention %q:\n%v", tc.values, w, err)
				}
			}
		})
	}
}

// TestSchemaAcceptsValidVariants: values the schema must not reject.
func TestSchemaAcceptsValidVariants(t *testing.T) {
	t.Parallel()
	helm(t) // skip once here, not in every subtest
	cases := []struct{ name, values string }{
		{"scale to zero", "keda: {enabled: true, minReplicaCount: 0}"},
		{"scheduled provider kept at one while others scale to zero", "keda: {enabled: true, minReplicaCount: 0}\nnats: {monitoringEndpoint: 'nats:8222'}\nproviders: [{name: amazonads, env: [{name: SLUICE_SCHEDULE, value: '@daily'}], keda: {enabled: true, minReplicaCount: 1}}, {name: demo, args: ['--schedule-catch-up=each']}]"},
		{"percent pdb", "podDisruptionBudget: {enabled: true, maxUnavailable: 50%}"},
		{"image digest", "loader: {image: {repository: sluice-loader, digest: 'sha256:" + strings.Repeat("a", 64) + "'}}"},
		{"no registry", "global: {imageRegistry: ''}"},
		{"existing secrets only", "postgres: {url: '', existingSecret: pg}\nmongo: {uri: '', existingSecret: mg}\ns3: {existingSecret: s3}"},
		{"stages off", "stagingStore: {enabled: false}\ntransformer: {enabled: false}\nloader: {enabled: false}\nprovision: {postgres: false}"},
		{"netpol off", "networkPolicy: {enabled: false}"},
		{"mongo srv uri", "mongo: {uri: 'mongodb+srv://u:p@cluster0.example.net/?retryWrites=true'}"},
		{"postgres DSN with options", "postgres: {url: 'postgresql://u:p%40ss@db:6432/sluice?sslmode=verify-full&target_session_attrs=read-write'}"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := filepath.Join(t.TempDir(), "values.yaml")
			if err := os.WriteFile(f, []byte(tc.values+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			render(t, "sluice", []string{f})
		})
	}
}
