package client

import (
	"bytes"
	"compress/gzip"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/serviceping/serviceping/pkg/pinggen"
)

var update = flag.Bool("update", false, "rewrite testdata/demo from the generator")

const demoDir = "../../../../testdata/demo"

// TestDemoPingsMatchGenerator keeps the shipped demo pings in step with
// pinggen; run with -update to regenerate them.
func TestDemoPingsMatchGenerator(t *testing.T) {
	g, err := pinggen.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range DemoSpecs() {
		want := g.JSON(s)
		path := filepath.Join(demoDir, DemoFileName(s))
		if *update {
			if err := os.WriteFile(path, Gzip(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatalf("%v (regenerate with go test ./internal/client -run Demo -update)", err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator's output; regenerate with -update", path)
		}
	}
}
