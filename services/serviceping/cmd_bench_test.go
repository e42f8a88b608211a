package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/cli/clitest"
	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/serviceping/internal/localcluster"
)

// TestBenchSmoke runs `serviceping bench` as make bench-pipeline does, on
// 30 pings and one round, against binaries built from this tree: it prints
// the table with every path measured, all 30 pings accepted everywhere and
// queryable end to end with their metric rows, the peak memory of each
// program, and leaves nothing in its temporary directory.
func TestBenchSmoke(t *testing.T) {
	bin := buildAll(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	tmp, report := t.TempDir(), filepath.Join(t.TempDir(), "bench.md")
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "serviceping"), "bench", "--bin", bin, "--nats-server", filepath.Join(bin, "nats-server"),
		"--pings", "30", "--rounds", "1", "--out", report)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("serviceping bench: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("serviceping bench --pings 30 --rounds 1 took %s:\n%s", time.Since(began).Round(time.Second), stdout.String())
	out := stdout.String()
	for _, row := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^- machine: \d+ cores \(.+\), [\d.]+ GiB RAM, Linux .+; load average [\d. ]+ at the start, [\d. ]+ at the end$`),
		regexp.MustCompile(`(?m)^\| trivial Go HTTP server, same load generator \| [\d,]+ \| p50 [\d.]+ ms, p99 [\d.]+ ms \| the HTTP ceiling \| — \|$`),
		regexp.MustCompile(`(?m)^\| raw JetStream publish of the same bodies, file storage, 8 concurrent sync publishers \| [\d,]+ \| .+ \| [\d.]+ of HTTP \| nats-server \d+ MB \|$`),
		regexp.MustCompile(`(?m)^\| standalone gateway on a standalone nats-server \| [\d,]+ \| .+ \| [\d.]+ of raw JetStream \| gateway \d+ MB, nats-server \d+ MB \|$`),
		regexp.MustCompile("(?m)^\\| all-in-one `serviceping run`, accepted \\| [\\d,]+ \\| .+ \\| [\\d.]+ of raw JetStream \\| — \\|$"),
		regexp.MustCompile("(?m)^\\| all-in-one, end to end \\(first request until all 30 in `pings FINAL`\\) \\| [\\d,]+ \\([\\d,]+ metric rows/s\\) \\| ping→queryable p50 [\\d.]+ m?s, p95 [\\d.]+ m?s \\| .+ \\| all processes [\\d.]+ [MG]B \\(.+ at the end\\) \\|$"),
		// Every program measured: 30 of 30 queryable with ~2,600 metric
		// rows each (pkg/pinggen), and memory for each.
		regexp.MustCompile(`(?m)^\| 1 \| [\d.]+ [\d.]+ [\d.]+ \| [\d,]+ \| [\d,]+ \| [\d,]+ \| [\d,]+ \| 30 in [\d.]+ m?s: [\d,]+ \| [6-9]\d,\d{3} \| [\d.]+ m?s \| \d+ MB / \d+ MB / [\d.]+ [MG]B \|$`),
		// The distributed topology: each stage its own process, all 30
		// queryable, memory for each process.
		regexp.MustCompile("(?m)^\\| distributed, each stage its own process \\(one nats-server, `serviceping warehouse`\\), end to end \\| [\\d,]+ \\([\\d,]+ metric rows/s\\); accepted [\\d,]+ \\| ping→queryable p50 [\\d.]+ m?s, p95 [\\d.]+ m?s \\| .+ \\| gateway \\d+ MB, enricher \\d+ MB, loader \\d+ MB, nats-server \\d+ MB, warehouse [\\d.]+ [MG]B \\|$"),
		regexp.MustCompile(`(?m)^\| 1 \| 30 in [\d.]+ m?s: [\d,]+ \| [\d.]+ m?s \| \d+ MB / \d+ MB / \d+ MB / \d+ MB / [\d.]+ [MG]B \|$`),
	} {
		if !row.MatchString(out) {
			t.Errorf("the report has no line matching %s", row)
		}
	}
	if strings.Contains(out, "| 0 MB") || strings.Contains(out, " 0 kB") {
		t.Errorf("a program's memory was not sampled:\n%s", out)
	}
	if b, err := os.ReadFile(report); err != nil || string(b) != out {
		t.Errorf("--out wrote %q (%v), not what was printed", b, err)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("the bench left %d entries in its temporary directory, the first %s", len(left), left[0].Name())
	}
	clitest.NoneOutlived(t, "the bench", tmp)
}

// buildAll builds the programs a local cluster runs into a temporary
// directory and returns it; the test needs CHDB_LIB for what it runs.
func buildAll(t *testing.T) string {
	t.Helper()
	testinfra.Env(t, "CHDB_LIB")
	return clitest.BuildPrograms(t, ".", localcluster.Programs())
}
