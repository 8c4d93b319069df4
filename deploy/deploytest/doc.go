// Package deploytest checks what sluice ships for deployment: the Helm chart (helm/sluice),
// the Dockerfile (deploy/docker) and the compose file (deploy/compose.yaml).
//
// The chart tests render every value set with the pinned helm, assert what an operator relies
// on (probes, limits, security contexts, one extractor per enabled provider, KEDA objects only
// when enabled, a schema that rejects bad values) and submit every rendered object to a real
// kube-apiserver with server-side dry-run and strict field validation. The tools come from
// deploy/local/k8s-tools.sh: run `bash deploy/local/k8s-tools.sh up` first. Without them the
// tests skip, or fail when SLUICE_INTEGRATION=1 (make test), like internal/testinfra.
package deploytest
