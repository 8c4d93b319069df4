package deploytest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

type dockerStage struct {
	name string // "" when unnamed
	from string // image or earlier stage
	// instructions, continuation lines joined, comments dropped
	lines []string
}

func readDockerfile(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "docker", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// dockerStages splits a Dockerfile into its stages; ARG defaults before the first FROM are
// substituted into FROM lines.
func dockerStages(t *testing.T, text string) []dockerStage {
	t.Helper()
	var stages []dockerStage
	args := map[string]string{}
	var cur strings.Builder
	var lines []string
	for _, raw := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(raw)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	fromRe := regexp.MustCompile(`(?i)^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?`)
	for _, l := range lines {
		if m := fromRe.FindStringSubmatch(l); m != nil {
			from := os.Expand(m[1], func(k string) string { return args[strings.Trim(k, "{}")] })
			stages = append(stages, dockerStage{name: m[2], from: from})
			continue
		}
		if len(stages) == 0 {
			if f := strings.Fields(l); len(f) == 2 && strings.EqualFold(f[0], "ARG") {
				k, v, _ := strings.Cut(f[1], "=")
				args[k] = v
			}
			continue
		}
		stages[len(stages)-1].lines = append(stages[len(stages)-1].lines, l)
	}
	return stages
}

// user returns the effective USER of a stage, following FROM through earlier stages.
func user(stages []dockerStage, s dockerStage) string {
	for i := len(s.lines) - 1; i >= 0; i-- {
		if f := strings.Fields(s.lines[i]); len(f) >= 2 && strings.EqualFold(f[0], "USER") {
			return f[1]
		}
	}
	for _, p := range stages {
		if p.name != "" && p.name == s.from {
			return user(stages, p)
		}
	}
	if strings.Contains(s.from, ":nonroot") {
		return "nonroot (base image)"
	}
	return ""
}

// The binaries the services' contract names, the Dockerfile target that builds each, and
// the Go package it is built from.
var images = []struct{ target, binary, pkg string }{
	{"extractor", "sluice-extractor", "services/extractor"},
	{"staging-store", "sluice-staging-store", "services/staging-store"},
	{"transformer", "sluice-transformer", "services/transformer"},
	{"loader", "sluice-loader", "services/loader"},
	{"sluice", "sluice", "services/sluice"},
	{"sim-amazonads", "sluice-sim-amazonads", "services/simulators/amazonads"},
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	text := readDockerfile(t)
	stages := dockerStages(t, text)
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage Dockerfile, got %d stage(s)", len(stages))
	}
	var builder *dockerStage
	for i, s := range stages {
		if strings.HasPrefix(s.from, "golang:1.26") {
			builder = &stages[i]
		}
	}
	if builder == nil {
		t.Fatal("no golang:1.26 builder stage")
	}
	src := strings.Join(builder.lines, "\n")
	if !strings.Contains(src, "CGO_ENABLED=0") {
		t.Error("the builder must set CGO_ENABLED=0 (static binaries for distroless/static)")
	}
	if !strings.Contains(src, "COPY . .") {
		t.Error("the builder must copy the whole workspace (go.work and every module)")
	}
	for _, img := range images {
		if _, err := os.Stat(filepath.Join(repoRoot(t), img.pkg, "go.mod")); err != nil {
			t.Errorf("%s: module %s: %v", img.binary, img.pkg, err)
		}
		b := slices.IndexFunc(stages, func(s dockerStage) bool { return s.name == "build-"+img.target })
		if b < 0 {
			t.Errorf("no stage build-%s", img.target)
		} else if bs := stages[b]; bs.from != builder.name ||
			!strings.Contains(strings.Join(bs.lines, "\n"), "go build") ||
			!strings.Contains(strings.Join(bs.lines, "\n"), "-o /out/"+img.binary+" ./"+img.pkg) {
			t.Errorf("stage build-%s must go build -o /out/%s ./%s on the builder", img.target, img.binary, img.pkg)
		}
		i := slices.IndexFunc(stages, func(s dockerStage) bool { return s.name == img.target })
		if i < 0 {
			t.Errorf("no stage %q for %s", img.target, img.binary)
			continue
		}
		s := stages[i]
		if s.from == builder.name {
			t.Errorf("stage %s runs on the builder image", s.name)
		}
		if u := user(stages, s); u == "" || u == "root" || u == "0" || strings.HasPrefix(u, "0:") {
			t.Errorf("stage %s runs as %q, want a non-root USER (65532)", s.name, u)
		}
		base := s
		for base.from != "" && slices.ContainsFunc(stages, func(p dockerStage) bool { return p.name == base.from }) {
			base = stages[slices.IndexFunc(stages, func(p dockerStage) bool { return p.name == base.from })]
		}
		if !strings.HasPrefix(base.from, "gcr.io/distroless/static") {
			t.Errorf("stage %s is based on %s, want gcr.io/distroless/static", s.name, base.from)
		}
		body := strings.Join(s.lines, "\n")
		if !strings.Contains(body, "COPY --from=build-"+img.target+" /out/"+img.binary+" ") || !strings.Contains(body, `ENTRYPOINT ["/usr/local/bin/`+img.binary+`"]`) {
			t.Errorf("stage %s does not copy and run %s", s.name, img.binary)
		}
	}
	if ignore, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "docker", "Dockerfile.dockerignore")); err != nil {
		t.Errorf("no Dockerfile.dockerignore: %v", err)
	} else if !strings.Contains(string(ignore), ".git") {
		t.Error("Dockerfile.dockerignore must keep .git out of the build context")
	}
}

// TestBuildImagesScript: build-images.sh knows every image, and says so when no engine runs.
func TestBuildImagesScript(t *testing.T) {
	t.Parallel()
	script := filepath.Join(repoRoot(t), "deploy", "docker", "build-images.sh")
	out, err := exec.Command("bash", script, "--list").Output()
	if err != nil {
		t.Fatalf("build-images.sh --list: %v", err)
	}
	for _, img := range images {
		if !strings.Contains(string(out), "/"+img.binary+":") {
			t.Errorf("build-images.sh --list does not name %s:\n%s", img.binary, out)
		}
	}
}

// TestBuildImages builds every image where a container engine runs; elsewhere (as on the
// project's machines) it skips.
func TestBuildImages(t *testing.T) {
	if testing.Short() {
		t.Skip("image build: skipped with -short")
	}
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Skipf("no Docker engine (docker info: %v): images not built", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot(t), "deploy", "docker", "build-images.sh"))
	cmd.Env = append(os.Environ(), "TAG=deploytest", "REGISTRY=sluice-deploytest")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("build-images.sh: %v\n%s", err, out)
	}
	for _, img := range images {
		ref := "sluice-deploytest/" + img.binary + ":deploytest"
		user, err := exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Config.User}}", ref).Output()
		if err != nil {
			t.Errorf("inspect %s: %v", ref, err)
			continue
		}
		if u := strings.TrimSpace(string(user)); u == "" || u == "root" || u == "0" {
			t.Errorf("%s runs as %q, want 65532", ref, u)
		}
	}
}
