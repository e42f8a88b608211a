package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/serviceping/serviceping/pkg/cli/clitest"
)

// TestCommandLine runs the built binary: --help, --version and usage
// errors answer at once and collect nothing (GATEWAY_URL points at a
// closed port, DATABASE_URL at nothing).
func TestCommandLine(t *testing.T) {
	bin := clitest.Build(t)
	clitest.Check(t, bin, append(clitest.Standard("collector", "preview", "export", "send", "run", "seed", "dictionary"),
		clitest.Case{Name: "no command", Code: 2, Stderr: "Usage: collector <command>", Quiet: true},
		clitest.Case{Name: "help lists the variables", Args: []string{"--help"}, Stdout: "$COLLECTOR_DEFINITIONS", Quiet: true},
		clitest.Case{Name: "export without out", Args: []string{"export"}, Code: 2, Stderr: "--out", Quiet: true},
		clitest.Case{Name: "seed builds", Args: []string{"seed", "--builds", "many"}, Code: 2, Stderr: "--builds", Quiet: true},
		clitest.Case{Name: "disabled by flag", Args: []string{"preview", "--usage-ping-enabled=false"}, Code: 1, Stderr: "usage ping is disabled", Quiet: true},
		clitest.Case{Name: "disabled by variable", Args: []string{"send"}, Env: []string{"USAGE_PING_ENABLED=0"}, Code: 1, Stderr: "usage ping is disabled", Quiet: true},
		clitest.Case{Name: "bad switch", Args: []string{"preview", "--usage-ping-enabled", "maybe"}, Code: 2, Stderr: "want true or false", Quiet: true},
		clitest.Case{Name: "bad timeout variable", Args: []string{"preview"}, Env: []string{"COLLECTOR_METRIC_TIMEOUT=soon"}, Code: 2, Stderr: "COLLECTOR_METRIC_TIMEOUT", Quiet: true},
	))
}

// TestDictionaryArgumentOrder: `collector dictionary DIR --out FILE` and
// `collector dictionary --out FILE DIR` write the same dictionary, and
// without --out it goes to stdout.
func TestDictionaryArgumentOrder(t *testing.T) {
	bin := clitest.Build(t)
	dir, err := filepath.Abs("../../testdata/collector/metrics")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	var got []string
	for i, args := range [][]string{
		{"dictionary", dir, "--out", filepath.Join(out, "0.csv")},
		{"dictionary", "--out", filepath.Join(out, "1.csv"), dir},
		{"--log-level", "error", "dictionary", dir, "--out=" + filepath.Join(out, "2.csv")},
		{"dictionary", dir},
	} {
		r := clitest.Run(t, bin, nil, args...)
		if r.Code != 0 {
			t.Fatalf("%q: exit %d\nstderr:\n%s", args, r.Code, r.Stderr)
		}
		if i == 3 {
			got = append(got, r.Stdout)
			continue
		}
		b, err := os.ReadFile(filepath.Join(out, string(rune('0'+i))+".csv"))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(b))
	}
	if !strings.HasPrefix(got[0], "key_path,") || strings.Count(got[0], "\n") < 100 {
		t.Fatalf("not a dictionary:\n%.300s", got[0])
	}
	for i, g := range got[1:] {
		if g != got[0] {
			t.Errorf("run %d wrote another dictionary than run 0", i+1)
		}
	}
}
