// Package version says which build of sluice is running.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is set at build time (-ldflags "-X github.com/sluice-dev/sluice/internal/version.Version=v1.2.3");
// without it the module version or VCS revision of the build is used.
var Version = ""

// String is the version line every binary prints for --version.
func String(binary string) string {
	v, rev := Version, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = s.Value[:12]
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	if rev != "" {
		v += " (" + rev + ")"
	}
	return fmt.Sprintf("%s %s %s/%s %s", binary, v, runtime.GOOS, runtime.GOARCH, runtime.Version())
}
