package deploytest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// composeFile is the part of the compose specification the tests read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
	Configs  map[string]any            `yaml:"configs"`
}

type composeService struct {
	Image       string         `yaml:"image"`
	Build       *composeBuild  `yaml:"build"`
	Command     any            `yaml:"command"`
	Environment map[string]any `yaml:"environment"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Volumes []string `yaml:"volumes"`
	Configs []struct {
		Source string `yaml:"source"`
		Target string `yaml:"target"`
	} `yaml:"configs"`
	ReadOnly bool     `yaml:"read_only"`
	Tmpfs    []string `yaml:"tmpfs"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
	Target     string `yaml:"target"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("deploy/compose.yaml: %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("deploy/compose.yaml has no services")
	}
	return c
}

func TestComposeFile(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	c := loadCompose(t)
	stages := dockerStages(t, readDockerfile(t))

	for name, s := range c.Services {
		if s.Image == "" && s.Build == nil {
			t.Errorf("service %s has neither image nor build", name)
		}
		if b := s.Build; b != nil {
			ctx := filepath.Join(root, "deploy", b.Context)
			if _, err := os.Stat(filepath.Join(ctx, "go.work")); err != nil {
				t.Errorf("service %s: build context %s is not the repository root (no go.work)", name, b.Context)
			}
			if _, err := os.Stat(filepath.Join(ctx, b.Dockerfile)); err != nil {
				t.Errorf("service %s: dockerfile %s: %v", name, b.Dockerfile, err)
			}
			if !slices.ContainsFunc(stages, func(s dockerStage) bool { return s.name == b.Target }) {
				t.Errorf("service %s: build target %q is not a stage of the Dockerfile", name, b.Target)
			}
		}
		for dep, d := range s.DependsOn {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("service %s depends on %s, which does not exist", name, dep)
			}
			switch d.Condition {
			case "", "service_started", "service_healthy", "service_completed_successfully":
			default:
				t.Errorf("service %s: depends_on %s has unknown condition %q", name, dep, d.Condition)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") {
				if _, ok := c.Volumes[src]; !ok {
					t.Errorf("service %s mounts volume %s, which is not declared", name, src)
				}
			}
		}
		for _, cfg := range s.Configs {
			if _, ok := c.Configs[cfg.Source]; !ok {
				t.Errorf("service %s uses config %s, which is not declared", name, cfg.Source)
			}
		}
	}
	checkDependencyCycles(t, c)

	// The servers the system needs, with JetStream on.
	for _, server := range []string{"nats", "postgres", "ferretdb", "minio", "jaeger"} {
		if _, ok := c.Services[server]; !ok {
			t.Errorf("no %s service", server)
		}
	}
	if cmd := strings.Join(commandWords(c.Services["nats"].Command), " "); !strings.Contains(cmd, "-js") {
		t.Errorf("nats command %q does not enable JetStream (-js)", cmd)
	}

	// The sluice services, with the environment of their contract.
	want := map[string][]string{
		"staging-store":       {"SLUICE_MONGO_URI", "SLUICE_MONGO_DATABASE"},
		"transformer":         {"SLUICE_S3_ENDPOINT", "SLUICE_S3_BUCKET", "SLUICE_S3_ACCESS_KEY", "SLUICE_S3_SECRET_KEY"},
		"loader":              {"SLUICE_POSTGRES_URL"},
		"extractor-amazonads": {"SLUICE_PROVIDER", "SLUICE_PROVIDER_CONFIG", "SLUICE_S3_BUCKET"},
	}
	for name, vars := range want {
		s, ok := c.Services[name]
		if !ok {
			t.Errorf("no %s service", name)
			continue
		}
		for _, k := range append([]string{"SLUICE_NATS_URL", "SLUICE_HTTP_ADDR", "SLUICE_OTLP_ENDPOINT", "SLUICE_LOG_LEVEL", "SLUICE_LOG_FORMAT"}, vars...) {
			if _, ok := s.Environment[k]; !ok {
				t.Errorf("service %s: no environment %s", name, k)
			}
		}
		if d, ok := s.DependsOn["provision"]; !ok || d.Condition != "service_completed_successfully" {
			t.Errorf("service %s must wait for provision to complete (streams and buckets)", name)
		}
		if !s.ReadOnly || !slices.Contains(s.Tmpfs, "/tmp") {
			t.Errorf("service %s: want read_only: true and a tmpfs at /tmp, as in Kubernetes", name)
		}
	}
	if s, ok := c.Services["sim-amazonads"]; !ok {
		t.Error("no sim-amazonads service")
	} else if addr := str(s.Environment["SLUICE_SIM_ADDR"]); !strings.HasPrefix(addr, "0.0.0.0:") {
		t.Errorf("sim-amazonads: SLUICE_SIM_ADDR %q must listen on 0.0.0.0 to be reachable", addr)
	}
	if cmd := strings.Join(commandWords(c.Services["provision"].Command), " "); !strings.HasPrefix(cmd, "provision") || strings.Contains(cmd, "postgres://") {
		t.Errorf("provision command %q must be `provision`, the admin URL in SLUICE_POSTGRES_ADMIN_URL (a flag shows its password in ps)", cmd)
	}
	if u := str(c.Services["provision"].Environment["SLUICE_POSTGRES_ADMIN_URL"]); !strings.HasPrefix(u, "postgres://") {
		t.Errorf("provision: SLUICE_POSTGRES_ADMIN_URL %q, want the admin URL", u)
	}
}

func commandWords(cmd any) []string {
	switch c := cmd.(type) {
	case string:
		return strings.Fields(c)
	case []any:
		out := make([]string, len(c))
		for i, w := range c {
			out[i] = str(w)
		}
		return out
	}
	return nil
}

func checkDependencyCycles(t *testing.T, c composeFile) {
	t.Helper()
	state := map[string]int{} // 0 new, 1 visiting, 2 done
	var visit func(string, []string)
	visit = func(n string, path []string) {
		switch state[n] {
		case 1:
			t.Errorf("depends_on cycle: %s", strings.Join(append(path, n), " -> "))
			return
		case 2:
			return
		}
		state[n] = 1
		for dep := range c.Services[n].DependsOn {
			visit(dep, append(path, n))
		}
		state[n] = 2
	}
	for n := range c.Services {
		visit(n, nil)
	}
}
