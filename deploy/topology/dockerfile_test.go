package topology_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/serviceping/serviceping/deploy/topology"
)

// binaries are the services the Makefile builds (SERVICES), each an image
// of deploy/Dockerfile.
func binaries(t *testing.T) []string {
	t.Helper()
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^SERVICES\s*:=\s*(.+)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("the Makefile has no SERVICES line")
	}
	return strings.Fields(string(m[1]))
}

// TestDockerfile: one SERVICE argument picks the image; each binary has
// its runtime stage, ending as an unprivileged user with its entrypoint;
// the binaries are built without cgo on their own go.mod; every base
// image is pinned.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	d, err := topology.ParseDockerfile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(d.Global, func(in topology.Instruction) bool { return in.Keyword == "ARG" && in.Args == "SERVICE" }) {
		t.Error("no global ARG SERVICE")
	}
	if last := d.Stages[len(d.Stages)-1]; last.From != "runtime-${SERVICE}" {
		t.Errorf("the final stage is FROM %s, want FROM runtime-${SERVICE}", last.From)
	}
	build, ok := d.Stage("build")
	if !ok {
		t.Fatal("no build stage")
	}
	var buildRun strings.Builder
	for _, in := range build.Instructions {
		if in.Keyword == "RUN" {
			buildRun.WriteString(in.Args + "\n")
		}
	}
	for _, want := range []string{"cd services/$SERVICE", "./httpprobe"} {
		if !strings.Contains(buildRun.String(), want) {
			t.Errorf("the build stage does not run %q", want)
		}
	}
	if all, static := strings.Count(buildRun.String(), "go build"), strings.Count(buildRun.String(), "CGO_ENABLED=0 GOWORK=off go build"); all < 2 || static != all {
		t.Errorf("%d of the build stage's %d go builds are CGO_ENABLED=0 GOWORK=off, want all (the service and httpprobe)", static, all)
	}
	stages := map[string]bool{}
	for _, s := range d.Stages {
		stages[s.Name] = true
		if stages[s.From] || strings.Contains(s.From, "$") || s.From == "scratch" {
			continue // a stage of this file, the final stage, or nothing
		}
		if why := unpinned(s.From); why != "" {
			t.Errorf("stage %s: base image %s is not pinned: %s", s.Name, s.From, why)
		}
	}
	for _, svc := range binaries(t) {
		name := "runtime-" + svc
		if _, ok := d.Stage(name); !ok {
			t.Errorf("%s: no stage %s", svc, name)
			continue
		}
		// The image's instructions: the stage and the stages it is built
		// FROM, the nearest first.
		var chain []topology.Instruction
		for s, ok := d.Stage(name); ok; s, ok = d.Stage(s.From) {
			chain = append(slices.Clone(s.Instructions), chain...)
		}
		user, entry := topology.Last(chain, "USER"), topology.Last(chain, "ENTRYPOINT")
		if uid, _, _ := strings.Cut(user, ":"); uid == "" || uid == "0" || uid == "root" {
			t.Errorf("%s: the image runs as %q, want an unprivileged user", svc, user)
		}
		if want := `["/usr/local/bin/` + svc + `"]`; entry != want {
			t.Errorf("%s: ENTRYPOINT %s, want %s", svc, entry, want)
		}
	}
}

// TestDockerignore: the build context holds what the image build reads —
// every module's go.mod, go.sum and sources — and none of the repository's
// build output, data or secrets.
func TestDockerignore(t *testing.T) {
	t.Parallel()
	f, err := os.Open("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	excluded := func(p string) bool {
		ex, err := pm.MatchesOrParentMatches(p)
		if err != nil {
			t.Fatal(err)
		}
		return ex
	}
	for _, p := range []string{".git/HEAD", "bin/gateway", "data/nats/x", "deploy/compose/.env", "services/gateway/gateway/gateway.test", "services/serviceping/data/nats/x", "go.work", "docs/README.md"} {
		if !excluded(p) {
			t.Errorf("%s is in the build context", p)
		}
	}
	needed := 0
	for _, dir := range append([]string{"pkg", "proto", "deploy"}, prefixed("services/", binaries(t))...) {
		err := filepath.WalkDir(filepath.Join("../..", dir), func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			rel, _ := filepath.Rel("../..", p)
			rel = filepath.ToSlash(rel)
			if strings.HasPrefix(rel, "deploy/topology/") || strings.HasPrefix(rel, "deploy/compose/") || strings.HasPrefix(rel, "deploy/kubernetes/") {
				return nil // not part of the deploy module the services build
			}
			base := filepath.Base(p)
			if base == "go.mod" || base == "go.sum" || strings.HasSuffix(base, ".sql") || (strings.HasSuffix(base, ".go") && !strings.HasSuffix(base, "_test.go")) {
				needed++
				if excluded(rel) {
					t.Errorf("%s is needed by the image build but left out of the context", rel)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if needed < 50 {
		t.Errorf("only %d files checked: did the walk find the modules?", needed)
	}
}

func prefixed(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}

// TestDockerfileListeners: an image started on its own listens where the
// compose file and the probes expect it, on every interface, and exposes
// that port.
func TestDockerfileListeners(t *testing.T) {
	t.Parallel()
	d, err := topology.ParseDockerfile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	p := loadCompose(t)
	for _, s := range stages {
		st, ok := d.Stage("runtime-" + s.name)
		if !ok {
			t.Errorf("%s: no runtime stage", s.name)
			continue
		}
		env, exposed := map[string]string{}, []string{}
		for _, in := range st.Instructions {
			switch in.Keyword {
			case "ENV":
				k, v, _ := strings.Cut(in.Args, "=")
				env[k] = v
			case "EXPOSE":
				exposed = append(exposed, strings.Fields(in.Args)...)
			}
		}
		want := environment(p.Services[s.name])[s.listenVar]
		port := strconv.Itoa(listenPort(t, "compose", s, environment(p.Services[s.name])))
		if env[s.listenVar] != want || !slices.Contains(exposed, port) {
			t.Errorf("%s: the image sets %s=%q and exposes %v; the compose file runs it on %q", s.name, s.listenVar, env[s.listenVar], exposed, want)
		}
	}
}

// TestLast: the last instruction with the keyword wins; none gives "".
func TestLast(t *testing.T) {
	t.Parallel()
	ins := []topology.Instruction{{Keyword: "USER", Args: "root"}, {Keyword: "EXPOSE", Args: "80"}, {Keyword: "USER", Args: "65532"}}
	for keyword, want := range map[string]string{"USER": "65532", "EXPOSE": "80", "ENTRYPOINT": ""} {
		if got := topology.Last(ins, keyword); got != want {
			t.Errorf("Last(%s) = %q, want %q", keyword, got, want)
		}
	}
}
