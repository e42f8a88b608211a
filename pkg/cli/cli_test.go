package cli_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"

	"github.com/serviceping/serviceping/pkg/cli"
)

// grammar is a small binary: one command with a flag mirrored by a
// variable, an argument, and what its Run returns.
type grammar struct {
	cli.Logging
	Echo echoCmd `cmd:"" help:"Print the word."`
}

type echoCmd struct {
	Word   string `arg:"" help:"What to print."`
	Prefix string `env:"CLITEST_PREFIX" default:"> " help:"Printed before the word."`
	Count  int    `env:"CLITEST_COUNT" default:"1" help:"How often."`
	Fail   string `enum:",failure,usage" default:"" help:"Fail this way."`
}

func (c *echoCmd) Run(ctx context.Context, log *slog.Logger, kctx *kong.Context) error {
	if ctx == nil || log == nil {
		return errors.New("context or logger not bound")
	}
	switch c.Fail {
	case "failure":
		return errors.New("it broke")
	case "usage":
		return cli.Usage(errors.New("word is not a word"))
	}
	for range c.Count {
		fmt.Fprintln(kctx.Stdout, c.Prefix+c.Word)
	}
	return nil
}

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errw bytes.Buffer
	code = cli.Run(context.Background(), cli.App{Name: "clitest", Version: "1.2.3", Epilog: "Epilog.\n", Stdout: &out, Stderr: &errw}, &grammar{}, args)
	return code, out.String(), errw.String()
}

func TestRun(t *testing.T) {
	cases := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string
	}{
		{"flags after the argument", []string{"echo", "hi", "--prefix", "+ "}, 0, "+ hi\n", ""},
		{"flags before the argument", []string{"echo", "--prefix=+ ", "hi"}, 0, "+ hi\n", ""},
		{"flags before the command", []string{"--log-level", "debug", "echo", "hi"}, 0, "> hi\n", ""},
		{"help", []string{"--help"}, 0, "Usage: clitest <command>", ""},
		{"help of a command", []string{"echo", "--help"}, 0, "Usage: clitest echo <word>", ""},
		{"help before the command", []string{"--help", "echo"}, 0, "Usage: clitest echo <word>", ""},
		{"help with a missing argument", []string{"echo", "-h"}, 0, "What to print.", ""},
		{"help ends with the epilog", []string{"--help"}, 0, "Epilog.\n", ""},
		{"version", []string{"--version"}, 0, "clitest 1.2.3\n", ""},
		{"version after a command", []string{"echo", "--version"}, 0, "clitest 1.2.3\n", ""},
		{"nothing", nil, 2, "", "Usage: clitest <command>"},
		{"unknown command", []string{"ehco"}, 2, "", "unexpected argument ehco"},
		{"unknown flag", []string{"echo", "hi", "--bogus"}, 2, "", "unknown flag --bogus"},
		{"missing argument", []string{"echo"}, 2, "", `Run "clitest echo --help"`},
		{"bad flag value", []string{"echo", "hi", "--count", "many"}, 2, "", "--count"},
		{"bad log level", []string{"echo", "hi", "--log-level", "loud"}, 2, "", "LOG_LEVEL"},
		{"command fails", []string{"echo", "hi", "--fail", "failure"}, 1, "", "clitest: it broke\n"},
		{"command finds a usage error", []string{"echo", "hi", "--fail", "usage"}, 2, "", "clitest: word is not a word\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := run(t, c.args...)
			if code != c.code || !strings.Contains(stdout, c.stdout) || !strings.Contains(stderr, c.stderr) {
				t.Errorf("exit %d, want %d (stdout want %q, stderr want %q)\nstdout:\n%s\nstderr:\n%s", code, c.code, c.stdout, c.stderr, stdout, stderr)
			}
			if c.code == 0 && stderr != "" {
				t.Errorf("stderr not empty: %s", stderr)
			}
		})
	}
}

// TestStampedVersion: an App without a Version prints the version stamped
// into pkg/cli, "dev" in a build (such as this test's) that stamps none.
func TestStampedVersion(t *testing.T) {
	var out bytes.Buffer
	code := cli.Run(context.Background(), cli.App{Name: "clitest", Stdout: &out, Stderr: &out}, &grammar{}, []string{"--version"})
	if code != cli.ExitOK || out.String() != "clitest dev\n" {
		t.Errorf("exit %d, printed %q; want 0 and %q", code, out.String(), "clitest dev\n")
	}
}

func TestVariables(t *testing.T) {
	cases := []struct {
		name, prefix, count string
		args                []string
		want                string
	}{
		{"variable mirrors the flag", "+ ", "2", nil, "+ hi\n+ hi\n"},
		{"flag wins over the variable", "+ ", "", []string{"--prefix", "* "}, "* hi\n"},
		{"empty variable is unset", "", "", nil, "> hi\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("CLITEST_PREFIX", c.prefix)
			t.Setenv("CLITEST_COUNT", c.count)
			code, stdout, stderr := run(t, append([]string{"echo", "hi"}, c.args...)...)
			if code != 0 || stdout != c.want {
				t.Errorf("exit %d, stdout %q, want %q\nstderr:\n%s", code, stdout, c.want, stderr)
			}
			if v, ok := os.LookupEnv("CLITEST_COUNT"); !ok || v != c.count {
				t.Errorf("CLITEST_COUNT after the run: %q (set: %v), want %q", v, ok, c.count)
			}
		})
	}
	t.Run("bad variable is a usage error", func(t *testing.T) {
		t.Setenv("CLITEST_COUNT", "many")
		if code, _, stderr := run(t, "echo", "hi"); code != 2 || !strings.Contains(stderr, "CLITEST_COUNT") {
			t.Errorf("exit %d, want 2, stderr:\n%s", code, stderr)
		}
	})
}

func TestEnvHelp(t *testing.T) {
	type inner struct {
		Listen string `env:"INNER_LISTEN, default=127.0.0.1:1"`
	}
	type config struct {
		inner
		Name   string `env:"NAME"`
		List   string `env:"LIST, default=a,b"`
		Nested struct {
			Depth int `env:"DEPTH, default=3"`
		}
		Again   string `env:"NAME"`
		ignored string
	}
	got := cli.EnvHelp(config{}, &inner{})
	want := "Environment (read at start; the README explains each):\n" +
		"  INNER_LISTEN  127.0.0.1:1\n" +
		"  NAME          (empty)\n" +
		"  LIST          a,b\n" +
		"  DEPTH         3\n"
	if got != want {
		t.Errorf("EnvHelp:\n%s\nwant:\n%s", got, want)
	}
	_ = config{}.ignored
}

func TestFlagValues(t *testing.T) {
	type flags struct {
		Wait    time.Duration `env:"CLITEST_WAIT"`
		URL     string        `env:"CLITEST_URL"`
		Unset   string        `env:"CLITEST_UNSET"`
		NoVar   string
		Default int `env:"CLITEST_DEFAULT" default:"3"`
	}
	t.Setenv("CLITEST_URL", "http://from-the-variable")
	var f flags
	parser, err := kong.New(&f, kong.Exit(func(int) { t.Fatal("kong exited") }))
	if err != nil {
		t.Fatal(err)
	}
	kctx, err := parser.Parse([]string{"--wait", "90s", "--no-var", "x"})
	if err != nil {
		t.Fatal(err)
	}
	got := cli.FlagValues(kctx)
	want := map[string]string{"CLITEST_WAIT": "1m30s", "CLITEST_URL": "http://from-the-variable", "CLITEST_DEFAULT": "3"}
	if !maps.Equal(got, want) {
		t.Errorf("FlagValues = %v, want %v", got, want)
	}
}

func TestService(t *testing.T) {
	ran := 0
	svc := cli.Service(func(ctx context.Context, log *slog.Logger) error {
		if ctx == nil || log == nil {
			return errors.New("context or logger not bound")
		}
		ran++
		return nil
	})
	run := func(args ...string) (int, string) {
		var out, errw bytes.Buffer
		code := cli.Run(context.Background(), cli.App{Name: "svc", Stdout: &out, Stderr: &errw}, svc, args)
		return code, errw.String()
	}
	if code, stderr := run("--log-level", "warn"); code != 0 || ran != 1 {
		t.Errorf("run: exit %d, ran %d times, stderr %s", code, ran, stderr)
	}
	if code, stderr := run("extra"); code != 2 || ran != 1 || !strings.Contains(stderr, "unexpected argument extra") {
		t.Errorf("an argument: exit %d, ran %d times, stderr %s", code, ran, stderr)
	}
}
