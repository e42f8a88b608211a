// Package clitest runs a serviceping binary the way a person does, for the
// tests of the binaries' command lines: built with `go build`, started with
// every service address pointing at a closed port, bounded in time. Start
// runs one in the background instead, for a test that talks to it while
// it runs.
package clitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Version is the version Build stamps into the binary.
const Version = "clitest-1"

// Timeout bounds one run. A command that only prints (help, version, a
// usage error) exits in milliseconds; one that started a service and
// waits for NATS would run into this.
const Timeout = 20 * time.Second

// Build compiles the main package in the test's directory into a temporary
// directory, with the version pkg/cli prints set to Version, and returns
// the binary.
func Build(tb testing.TB) string {
	tb.Helper()
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	bin := filepath.Join(tb.TempDir(), filepath.Base(wd))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := goBuild(ctx, "", bin, "."); err != nil {
		tb.Fatal(err)
	}
	return bin
}

// BuildPrograms compiles programs (file name → package: a directory
// relative to dir, or an import path) into one temporary directory, with
// the version stamped as Build does, within ten minutes, and returns the
// directory.
func BuildPrograms(tb testing.TB, dir string, programs map[string]string) string {
	tb.Helper()
	bin := tb.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	began := time.Now()
	for _, name := range slices.Sorted(maps.Keys(programs)) {
		if err := goBuild(ctx, dir, filepath.Join(bin, name), programs[name]); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Logf("built %d programs in %s", len(programs), time.Since(began).Round(time.Second))
	return bin
}

// goBuild builds pkg into out from dir ("": the current directory) with
// the version stamped.
func goBuild(ctx context.Context, dir, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X github.com/serviceping/serviceping/pkg/cli.version="+Version, "-o", out, pkg)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// NoneOutlived fails the test when a process whose command line holds
// marker (a directory only what was run knows) is still running: what
// ("the bench") left it behind.
func NoneOutlived(tb testing.TB, what, marker string) {
	tb.Helper()
	if b, err := exec.Command("pgrep", "-f", marker).Output(); err == nil {
		tb.Errorf("processes of %s outlived it: %s", what, b)
	}
}

// ClosedAddr is a loopback address nothing listens on.
func ClosedAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Result is what one run did.
type Result struct {
	Code           int
	Stdout, Stderr string
	Elapsed        time.Duration
}

// Run runs bin with args in the test's environment, where NATS_URL,
// CLICKHOUSE_URL and GATEWAY_URL point at a closed port, plus env
// ("NAME=value", later entries win). A run cut off by Timeout fails the
// test.
func Run(tb testing.TB, bin string, env []string, args ...string) Result {
	tb.Helper()
	closed := ClosedAddr(tb)
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = tb.TempDir()
	cmd.Env = append(os.Environ(),
		"NATS_URL=nats://"+closed,
		"CLICKHOUSE_URL=http://"+closed,
		"GATEWAY_URL=http://"+closed)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String(), Elapsed: time.Since(start)}
	if ctx.Err() != nil {
		tb.Fatalf("%s %s: still running after %s (it started something)\nstdout:\n%s\nstderr:\n%s", filepath.Base(bin), strings.Join(args, " "), Timeout, r.Stdout, r.Stderr)
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.Code = exit.ExitCode()
	case err != nil:
		tb.Fatalf("run %s: %v", bin, err)
	}
	return r
}

// Case is one command line and what it must do.
type Case struct {
	Name string
	Args []string
	// Env is added to Run's environment.
	Env []string
	// Code is the exit code.
	Code int
	// Stdout and Stderr are substrings the output must hold (empty: any).
	Stdout, Stderr string
	// Quiet: the other stream stays empty: stderr when Code is 0 (nothing
	// logged, so nothing started), stdout otherwise (no command ran).
	Quiet bool
}

// Standard is what every binary does, for the binary name and each of its
// commands (a command is its words, e.g. "query" or "collector preview"
// without the binary): --help and -h print the usage on stdout and exit 0,
// --version prints the name and Version, an unknown flag is a usage error
// (2) that prints the usage on stderr and runs nothing.
func Standard(name string, commands ...string) []Case {
	cs := []Case{
		{Name: "help", Args: []string{"--help"}, Stdout: "Usage: " + name, Quiet: true},
		{Name: "h", Args: []string{"-h"}, Stdout: "Usage: " + name, Quiet: true},
		{Name: "version", Args: []string{"--version"}, Stdout: name + " " + Version, Quiet: true},
		{Name: "unknown flag", Args: []string{"--no-such-flag"}, Code: 2, Stderr: "unknown flag --no-such-flag", Quiet: true},
	}
	for _, c := range commands {
		words := strings.Fields(c)
		usage := "Usage: " + name + " " + c
		cs = append(cs,
			Case{Name: c + " help", Args: slices.Concat(words, []string{"--help"}), Stdout: usage, Quiet: true},
			Case{Name: c + " help first", Args: slices.Concat([]string{"--help"}, words), Stdout: usage, Quiet: true},
			Case{Name: c + " version", Args: slices.Concat(words, []string{"--version"}), Stdout: name + " " + Version, Quiet: true},
			Case{Name: c + " unknown flag", Args: slices.Concat(words, []string{"--no-such-flag"}), Code: 2, Stderr: "unknown flag --no-such-flag", Quiet: true},
		)
	}
	return cs
}

// Service is what a service binary configured from the environment does:
// Standard, its help lists numeric, one of its variables, an argument is a
// usage error, and so are a bad LOG_LEVEL, a bad --log-format and numeric
// set to a word: each before anything starts.
func Service(name, numeric string) []Case {
	return append(Standard(name),
		Case{Name: "help lists the environment", Args: []string{"--help"}, Stdout: numeric, Quiet: true},
		Case{Name: "argument", Args: []string{"extra"}, Code: 2, Stderr: "unexpected argument extra", Quiet: true},
		Case{Name: "bad log level", Env: []string{"LOG_LEVEL=loud"}, Code: 2, Stderr: "LOG_LEVEL", Quiet: true},
		Case{Name: "bad log format flag", Args: []string{"--log-format", "xml"}, Code: 2, Stderr: "LOG_FORMAT", Quiet: true},
		Case{Name: "bad variable", Env: []string{numeric + "=x"}, Code: 2, Stderr: `"x"`, Quiet: true},
	)
}

// Check runs each case against bin as a parallel subtest.
func Check(t *testing.T, bin string, cases []Case) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			r := Run(t, bin, c.Env, c.Args...)
			if r.Code != c.Code {
				t.Errorf("exit code %d, want %d", r.Code, c.Code)
			}
			if !strings.Contains(r.Stdout, c.Stdout) {
				t.Errorf("stdout lacks %q", c.Stdout)
			}
			if !strings.Contains(r.Stderr, c.Stderr) {
				t.Errorf("stderr lacks %q", c.Stderr)
			}
			if quiet := map[bool]string{true: r.Stderr, false: r.Stdout}[c.Code == 0]; c.Quiet && quiet != "" {
				t.Errorf("output on the other stream")
			}
			if t.Failed() {
				t.Logf("%s %s (%s)\nstdout:\n%s\nstderr:\n%s", filepath.Base(bin), strings.Join(c.Args, " "), r.Elapsed, r.Stdout, r.Stderr)
			}
		})
	}
}
