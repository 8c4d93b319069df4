{{/* Names ------------------------------------------------------------------------------ */}}

{{- define "sluice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name; every object's name starts with it. */}}
{{- define "sluice.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "sluice.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sluice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sluice.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Labels. Called with (dict "root" $ "component" "loader" "provider" "amazonads"). ------- */}}

{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sluice.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- with .provider }}
sluice.dev/provider: {{ . }}
{{- end }}
{{- end -}}

{{- define "sluice.labels" -}}
{{ include "sluice.selectorLabels" . }}
app.kubernetes.io/part-of: sluice
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ include "sluice.chart" .root }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Images: (dict "root" $ "image" .Values.loader.image). ------------------------------- */}}

{{- define "sluice.image" -}}
{{- $g := .root.Values.global -}}
{{- $repo := .image.repository -}}
{{- /* A repository naming its own registry (a provider team's image) is left as it is. */ -}}
{{- $first := index (splitList "/" $repo) 0 -}}
{{- $ownRegistry := and (contains "/" $repo) (or (contains "." $first) (contains ":" $first) (eq $first "localhost")) -}}
{{- if and $g.imageRegistry (not $ownRegistry) -}}
{{- $repo = printf "%s/%s" (trimSuffix "/" $g.imageRegistry) $repo -}}
{{- end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $repo .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (.image.tag | default $g.imageTag | default .root.Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "sluice.pullPolicy" -}}
{{- .image.pullPolicy | default .root.Values.global.imagePullPolicy -}}
{{- end -}}

{{/*
sluice.workloads fills .out.items with one entry per Deployment that consumes a stream: the
generic stages that are enabled and one extractor per enabled provider. Every template that
renders per-workload objects (Deployment, Service, PDB, NetworkPolicy, ScaledObject) ranges
over this one list, so they cannot disagree. Called with (dict "root" $ "out" (dict)); the
result is left in the dict, not serialized, so numbers keep their types.
*/}}
{{- define "sluice.workloads" -}}
{{- $root := .root -}}
{{- $fullname := include "sluice.fullname" $root -}}
{{- $items := list -}}
{{- $stages := list
  (dict "key" "stagingStore" "component" "staging-store" "stream" "RAW" "consumer" "staging-store" "needs" (list "nats" "mongo" "otlp"))
  (dict "key" "transformer" "component" "transformer" "stream" "STAGED" "consumer" "transformer" "needs" (list "nats" "s3" "otlp"))
  (dict "key" "loader" "component" "loader" "stream" "ROWS" "consumer" "loader" "needs" (list "nats" "postgres" "otlp")) -}}
{{- range $s := $stages -}}
{{- $v := index $root.Values $s.key -}}
{{- if $v.enabled -}}
{{- $items = append $items (merge (dict "name" (printf "%s-%s" $fullname $s.component) "provider" "" "values" $v) $s) -}}
{{- end -}}
{{- end -}}
{{- $seen := dict -}}
{{- range $p := $root.Values.providers -}}
{{- if hasKey $seen $p.name -}}
{{- fail (printf "providers: %q is listed twice; each provider runs as one Deployment" $p.name) -}}
{{- end -}}
{{- $_ := set $seen $p.name true -}}
{{- if or (not (hasKey $p "enabled")) $p.enabled -}}
{{- $v := deepCopy $root.Values.extractor -}}
{{- range $k, $x := $p -}}
{{- $_ := set $v $k $x -}}
{{- end -}}
{{- $items = append $items (dict
  "key" "extractor" "component" "extractor" "provider" $p.name
  "name" (printf "%s-extractor-%s" $fullname $p.name)
  "stream" "TASKS" "consumer" (printf "extractor-%s" $p.name)
  "needs" (list "nats" "s3" "otlp" "providerAPIs") "values" $v) -}}
{{- end -}}
{{- end -}}
{{- range $w := $items -}}
{{- if gt (len $w.name) 63 -}}
{{- fail (printf "object name %q is longer than 63 characters; set fullnameOverride to a shorter name" $w.name) -}}
{{- end -}}
{{- $keda := deepCopy $root.Values.keda -}}
{{- range $k, $x := ($w.values.keda | default dict) -}}
{{- $_ := set $keda $k $x -}}
{{- end -}}
{{- if and $keda.enabled (gt (int $keda.minReplicaCount) (int $keda.maxReplicaCount)) -}}
{{- fail (printf "%s: keda.minReplicaCount (%d) is greater than keda.maxReplicaCount (%d)" $w.name (int $keda.minReplicaCount) (int $keda.maxReplicaCount)) -}}
{{- end -}}
{{- /* Schedules run inside the extractor: at zero replicas no slot fires until something
else wakes it (they are caught up then, but late), so a scheduled provider keeps one. */ -}}
{{- if and $w.provider $keda.enabled (eq (int $keda.minReplicaCount) 0) (include "sluice.hasSchedule" $w.values) -}}
{{- fail (printf "%s: provider %s has a schedule (SLUICE_SCHEDULE or --schedule) but keda.minReplicaCount is 0; schedules run inside the extractor, so scaling it to zero stops them: set the provider's keda.minReplicaCount to at least 1" $w.name $w.provider) -}}
{{- end -}}
{{- $_ := set $w "keda" $keda -}}
{{- $pdb := deepCopy $root.Values.podDisruptionBudget -}}
{{- $own := $w.values.podDisruptionBudget | default dict -}}
{{- if or (hasKey $own "minAvailable") (hasKey $own "maxUnavailable") -}}
{{- $_ := unset $pdb "minAvailable" -}}
{{- $_ := unset $pdb "maxUnavailable" -}}
{{- end -}}
{{- range $k, $x := $own -}}
{{- $_ := set $pdb $k $x -}}
{{- end -}}
{{- if and (hasKey $pdb "minAvailable") (hasKey $pdb "maxUnavailable") -}}
{{- fail (printf "%s: podDisruptionBudget sets both minAvailable and maxUnavailable; set one" $w.name) -}}
{{- end -}}
{{- $_ := set $w "pdb" $pdb -}}
{{- end -}}
{{- $_ := set .out "items" $items -}}
{{- end -}}

{{/*
The port of a URL or host:port, else the default: (list URL DEFAULT). Anything else (a
key=value DSN, an empty string) gives the default.
*/}}
{{- define "sluice.urlPort" -}}
{{- $raw := index . 0 | default "" -}}
{{- $port := "" -}}
{{- if regexMatch "^[^\\s=/@]+:[0-9]+$" $raw -}}
{{- $port = last (splitList ":" $raw) -}}
{{- else if regexMatch "^[a-zA-Z][a-zA-Z0-9+.-]*://[^\\s]*$" $raw -}}
{{- $u := urlParse $raw -}}
{{- $hostPort := last (splitList "," $u.host) -}}
{{- if regexMatch ":[0-9]+$" $hostPort -}}
{{- $port = last (splitList ":" $hostPort) -}}
{{- else if eq $u.scheme "https" -}}
{{- $port = "443" -}}
{{- else if eq $u.scheme "http" -}}
{{- $port = "80" -}}
{{- end -}}
{{- end -}}
{{- $port | default (index . 1) -}}
{{- end -}}

{{/* "true" when an extractor's values (env or args) set a schedule, else "". */}}
{{- define "sluice.hasSchedule" -}}
{{- $found := false -}}
{{- range (.env | default list) -}}
{{- if and (eq .name "SLUICE_SCHEDULE") (or .value .valueFrom) -}}{{- $found = true -}}{{- end -}}
{{- end -}}
{{- range (.args | default list) -}}
{{- if regexMatch "^--?schedule(=.+)?$" . -}}{{- $found = true -}}{{- end -}}
{{- end -}}
{{- if $found -}}true{{- end -}}
{{- end -}}

{{/* "true" when a workload list (sluice.workloads) holds an extractor, else "". */}}
{{- define "sluice.anyProvider" -}}
{{- range . }}{{ if .provider }}true{{ break }}{{ end }}{{ end -}}
{{- end -}}

{{/* Checks across keys that values.schema.json cannot express with a clear message. */}}
{{- define "sluice.validate" -}}
{{- $v := .Values -}}
{{- if and (or $v.loader.enabled (and $v.provision.enabled $v.provision.postgres)) (not (or $v.postgres.url $v.postgres.existingSecret)) -}}
{{- fail "postgres: set postgres.url or postgres.existingSecret (the loader and `sluice provision` need PostgreSQL)" -}}
{{- end -}}
{{- if and $v.stagingStore.enabled (not (or $v.mongo.uri $v.mongo.existingSecret)) -}}
{{- fail "mongo: set mongo.uri or mongo.existingSecret (the staging store needs MongoDB)" -}}
{{- end -}}
{{- if ne (empty $v.s3.accessKey) (empty $v.s3.secretKey) -}}
{{- fail "s3: set both s3.accessKey and s3.secretKey, or neither (then s3.existingSecret or the pod's workload identity is used)" -}}
{{- end -}}
{{- if and $v.s3.existingSecret $v.s3.accessKey -}}
{{- fail "s3: set s3.existingSecret or s3.accessKey/secretKey, not both" -}}
{{- end -}}
{{- end -}}

{{/* Environment --------------------------------------------------------------------------- */}}

{{- define "sluice.configMapName" -}}{{ include "sluice.fullname" . }}-config{{- end -}}
{{- define "sluice.secretName" -}}{{ include "sluice.fullname" . }}{{- end -}}

{{/* An env var read from the chart's ConfigMap: (list $ "SLUICE_X"). */}}
{{- define "sluice.envFromConfig" -}}
- name: {{ index . 1 }}
  valueFrom:
    configMapKeyRef:
      name: {{ include "sluice.configMapName" (index . 0) }}
      key: {{ index . 1 }}
{{- end -}}

{{/* Environment every sluice container gets: (dict "root" $ "values" $componentValues). */}}
{{- define "sluice.env.common" -}}
{{- $root := .root -}}
{{- if $root.Values.nats.existingSecret }}
- name: SLUICE_NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.nats.existingSecret }}
      key: url
{{- else }}
{{ include "sluice.envFromConfig" (list $root "SLUICE_NATS_URL") }}
{{- end }}
{{ include "sluice.envFromConfig" (list $root "SLUICE_HTTP_ADDR") }}
{{ include "sluice.envFromConfig" (list $root "SLUICE_METRICS_ADDR") }}
{{ include "sluice.envFromConfig" (list $root "SLUICE_OTLP_ENDPOINT") }}
{{ include "sluice.envFromConfig" (list $root "SLUICE_OTLP_INSECURE") }}
{{ include "sluice.envFromConfig" (list $root "SLUICE_LOG_FORMAT") }}
{{ include "sluice.envFromConfig" (list $root "SLUICE_STREAM_REPLICAS") }}
- name: SLUICE_LOG_LEVEL
  value: {{ .values.logLevel | default $root.Values.log.level | quote }}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: OTEL_RESOURCE_ATTRIBUTES
  value: k8s.namespace.name=$(POD_NAMESPACE),k8s.pod.name=$(POD_NAME),service.instance.id=$(POD_NAME)
{{- if $root.Values.goMemLimitFromResources }}
- name: GOMEMLIMIT
  valueFrom:
    resourceFieldRef:
      resource: limits.memory
{{- end }}
{{- end -}}

{{- define "sluice.env.postgres" -}}
- name: SLUICE_POSTGRES_URL
  valueFrom:
    secretKeyRef:
      {{- if .Values.postgres.existingSecret }}
      name: {{ .Values.postgres.existingSecret }}
      key: {{ .Values.postgres.existingSecretKey }}
      {{- else }}
      name: {{ include "sluice.secretName" . }}
      key: postgres-url
      {{- end }}
{{- end -}}

{{- define "sluice.env.mongo" -}}
- name: SLUICE_MONGO_URI
  valueFrom:
    secretKeyRef:
      {{- if .Values.mongo.existingSecret }}
      name: {{ .Values.mongo.existingSecret }}
      key: {{ .Values.mongo.existingSecretKey }}
      {{- else }}
      name: {{ include "sluice.secretName" . }}
      key: mongo-uri
      {{- end }}
{{ include "sluice.envFromConfig" (list . "SLUICE_MONGO_DATABASE") }}
{{- end -}}

{{- define "sluice.env.s3" -}}
{{ include "sluice.envFromConfig" (list . "SLUICE_S3_ENDPOINT") }}
{{ include "sluice.envFromConfig" (list . "SLUICE_S3_REGION") }}
{{ include "sluice.envFromConfig" (list . "SLUICE_S3_BUCKET") }}
{{- if or .Values.s3.existingSecret .Values.s3.accessKey }}
{{- $name := .Values.s3.existingSecret | default (include "sluice.secretName" .) }}
- name: SLUICE_S3_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ ternary .Values.s3.accessKeyKey "s3-access-key" (not (empty .Values.s3.existingSecret)) }}
- name: SLUICE_S3_SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ ternary .Values.s3.secretKeyKey "s3-secret-key" (not (empty .Values.s3.existingSecret)) }}
{{- end }}
{{- end -}}

{{/* Probes on the named port `http`. */}}
{{- define "sluice.probes" -}}
{{- $p := .Values.probes -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: http
  {{- toYaml $p.liveness | nindent 2 }}
readinessProbe:
  httpGet:
    path: /readyz
    port: http
  {{- toYaml $p.readiness | nindent 2 }}
startupProbe:
  httpGet:
    path: /healthz
    port: http
  {{- toYaml $p.startup | nindent 2 }}
{{- end -}}

{{/* Scheduling keys of a pod spec from a component's values. */}}
{{- define "sluice.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{/* The rendered provider config (JSON), with templates in its strings expanded. */}}
{{- define "sluice.providerConfig" -}}
{{- $cfg := .provider.config | default dict -}}
{{- $yaml := toYaml $cfg -}}
{{- if contains "{{" $yaml -}}
{{- $cfg = tpl $yaml .root | fromYaml -}}
{{- end -}}
{{- toPrettyJson $cfg -}}
{{- end -}}

{{/*
NATS auth and TLS of one workload: env naming the files of its own user and the TLS files.
Argument: dict "root" $ "user" <NATS user name>.
*/}}
{{- define "sluice.env.nats" -}}
{{- $n := .root.Values.nats -}}
{{- if ne $n.auth.method "none" }}
{{- if eq $n.auth.method "password" }}
- name: SLUICE_NATS_USER
  value: {{ .user | quote }}
- name: SLUICE_NATS_PASSWORD_FILE
  value: /etc/sluice/nats-auth/password
{{- else if eq $n.auth.method "nkey" }}
- name: SLUICE_NATS_NKEY_FILE
  value: /etc/sluice/nats-auth/user.nk
{{- else }}
- name: SLUICE_NATS_CREDS_FILE
  value: /etc/sluice/nats-auth/user.creds
{{- end }}
{{- end }}
{{- if $n.tls.enabled }}
- name: SLUICE_NATS_TLS_CA
  value: /etc/sluice/nats-tls/ca.crt
- name: SLUICE_NATS_TLS_CERT
  value: /etc/sluice/nats-tls/tls.crt
- name: SLUICE_NATS_TLS_KEY
  value: /etc/sluice/nats-tls/tls.key
{{- end }}
{{- end -}}

{{/* Volume mounts of the NATS auth and TLS files. Argument: the root context. */}}
{{- define "sluice.mounts.nats" -}}
{{- if ne .Values.nats.auth.method "none" }}
- name: nats-auth
  mountPath: /etc/sluice/nats-auth
  readOnly: true
{{- end }}
{{- if .Values.nats.tls.enabled }}
- name: nats-tls
  mountPath: /etc/sluice/nats-tls
  readOnly: true
{{- end }}
{{- end -}}

{{/* Volumes of the NATS auth (only this user's key) and TLS files. Argument: dict "root" $ "user" <name>. */}}
{{- define "sluice.volumes.nats" -}}
{{- $n := .root.Values.nats -}}
{{- if ne $n.auth.method "none" }}
- name: nats-auth
  secret:
    secretName: {{ $n.auth.existingSecret }}
    defaultMode: 0400
    items:
      {{- if eq $n.auth.method "password" }}
      - {key: {{ printf "%s-password" .user | quote }}, path: password}
      {{- else if eq $n.auth.method "nkey" }}
      - {key: {{ printf "%s.nk" .user | quote }}, path: user.nk}
      {{- else }}
      - {key: {{ printf "%s.creds" .user | quote }}, path: user.creds}
      {{- end }}
{{- end }}
{{- if $n.tls.enabled }}
- name: nats-tls
  secret:
    secretName: {{ $n.tls.existingSecret }}
    defaultMode: 0400
{{- end }}
{{- end -}}

{{/* A CA Secret (key ca.crt) mounted at /etc/sluice/<name>. Argument: list <volume name> <secret>. */}}
{{- define "sluice.mount.ca" -}}
{{- if index . 1 }}
- name: {{ index . 0 }}-ca
  mountPath: /etc/sluice/{{ index . 0 }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "sluice.volume.ca" -}}
{{- if index . 1 }}
- name: {{ index . 0 }}-ca
  secret:
    secretName: {{ index . 1 }}
    defaultMode: 0444
    items:
      - {key: ca.crt, path: ca.crt}
{{- end }}
{{- end -}}
