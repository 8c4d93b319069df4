// Command kube-apiserver is the upstream Kubernetes API server, built from the module proxy
// for the chart tests in deploy/deploytest. k8s.io/kubernetes cannot be `go install`ed: its
// go.mod replaces the k8s.io/* staging modules with local paths, so this module pins them to
// their published versions instead (see go.mod).
package main

import (
	"os"
	_ "time/tzdata" // for timeZone support in CronJob

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
