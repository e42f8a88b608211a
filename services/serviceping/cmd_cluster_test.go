package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/cli/clitest"
)

// TestRunClusterSmoke runs `serviceping run-cluster --smoke` as make
// run-cluster does, on free ports: three nats-server processes, the
// warehouse, the migrations, two of each stage; a ping through each gateway
// lands in ClickHouse and every stream keeps three current replicas.
func TestRunClusterSmoke(t *testing.T) {
	bin := buildAll(t)
	data := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "serviceping"), "run-cluster", "--smoke", "--ports", "0",
		"--bin", bin, "--nats-server", filepath.Join(bin, "nats-server"), "--data", data, "--testdata", "../../testdata")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run-cluster --smoke: %v\n%s", err, out)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^  gateway-2 +http://127\.0\.0\.1:\d+ `),
		regexp.MustCompile(`(?m)^  nats-3 +nats://127\.0\.0\.1:\d+ `),
		regexp.MustCompile(`(?m)^ping [0-9a-f]{64} went through http://\S+ to ClickHouse$`),
		regexp.MustCompile(`(?m)^every stream has 3 current replicas$`),
	} {
		if !want.Match(out) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	if n := strings.Count(string(out), "went through"); n != 2 {
		t.Errorf("%d pings went through, want 2 (one per gateway)", n)
	}
	clitest.NoneOutlived(t, "the cluster", data)
}
