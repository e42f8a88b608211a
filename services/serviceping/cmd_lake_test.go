package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/serviceping/serviceping/pkg/cli/clitest"
	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/loader/lake"
	"github.com/serviceping/serviceping/services/serviceping/internal/client"
	"github.com/serviceping/serviceping/services/serviceping/internal/pipelinetest"
)

// TestLakeCompactCommand: pings loaded by the pipeline, their batch files
// copied under other names (a batch rewritten after a crash), are compacted
// by `serviceping lake compact` to one row per ping with its metric rows.
func TestLakeCompactCommand(t *testing.T) {
	p := pipelinetest.Start(t, nil)
	bin := clitest.Build(t)
	g, err := pinggen.New()
	if err != nil {
		t.Fatal(err)
	}
	s := client.Sender{HTTP: &http.Client{Timeout: 30 * time.Second}, GatewayURL: p.GatewayURL}
	for i := range 4 {
		if resp, err := s.Send(context.Background(), g.JSON(pinggen.Spec{Instance: 700 + i, Week: 1}), false); err != nil || resp.Status != http.StatusCreated {
			t.Fatalf("post: %v %+v", err, resp)
		}
	}
	var files []string
	testinfra.Eventually(t, time.Minute, "the four pings in the lake", func() error {
		pings, _, err := lake.ReadDir(p.LakeURL)
		if err != nil || len(pings) != 4 {
			return fmt.Errorf("%d pings, %v", len(pings), err)
		}
		files, err = lake.Files(p.LakeURL)
		return err
	})
	var day string
	for _, f := range files {
		day = regexp.MustCompile(`dt=(\d{4}-\d\d-\d\d)`).FindStringSubmatch(f)[1]
		b, err := os.ReadFile(filepath.Join(p.LakeURL, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p.LakeURL, filepath.Dir(f), "copy-"+filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, metrics, err := lake.ReadDir(p.LakeURL)
	if err != nil {
		t.Fatal(err)
	}
	r := clitest.Run(t, bin, nil, "lake", "compact", "--day", day, "--lake", p.LakeURL)
	want := fmt.Sprintf("%s: compacted %s: %d files → one per table; 8 ping rows → 4 pings; %d metric rows → %d\n", p.LakeURL, day, 2*len(files), len(metrics), len(metrics)/2)
	if r.Code != 0 || r.Stdout != want {
		t.Fatalf("exit %d, stdout %q, want %q\nstderr:\n%s", r.Code, r.Stdout, want, r.Stderr)
	}
	pings, after, err := lake.ReadDir(p.LakeURL)
	if err != nil || len(pings) != 4 || len(after) != len(metrics)/2 {
		t.Fatalf("after compaction: %d pings, %d metric rows (%v); want 4 and %d", len(pings), len(after), err, len(metrics)/2)
	}
	r = clitest.Run(t, bin, nil, "lake", "compact", "--day", day, "--lake", p.LakeURL)
	if r.Code != 0 || r.Stdout != fmt.Sprintf("%s: %s is compacted already\n", p.LakeURL, day) {
		t.Fatalf("second run: exit %d, stdout %q", r.Code, r.Stdout)
	}
}
