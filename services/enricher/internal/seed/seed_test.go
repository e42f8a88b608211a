package seed_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/enricher/internal/seed"
)

var update = flag.Bool("update", false, "rewrite testdata/directory/seed.sql")

// SeedFile is the committed seed, relative to this package.
var seedFile = filepath.Join("..", "..", "..", "..", "testdata", "directory", "seed.sql")

func TestSeedFileIsCurrent(t *testing.T) {
	var buf bytes.Buffer
	if err := seed.WriteSQL(&buf, seed.Generate()); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(seedFile, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(seedFile)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/seed -update)", err)
	}
	if !bytes.Equal(got, buf.Bytes()) {
		t.Fatalf("%s is stale: run go test ./internal/seed -update", seedFile)
	}
}

func TestSeedCoversEveryStatus(t *testing.T) {
	t.Parallel()
	counts := map[servicepingv1.EnrichmentStatus]int{}
	for n := range seed.Instances {
		counts[seed.Expect(n).Status]++
	}
	d := seed.Generate()
	t.Logf("statuses %v; %d licenses, %d subscriptions, %d accounts", counts, len(d.Licenses), len(d.Subscriptions), len(d.Accounts))
	for _, s := range []servicepingv1.EnrichmentStatus{
		servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_MATCHED,
		servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_PARTIAL,
		servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_UNMATCHED,
	} {
		if counts[s] < 10 {
			t.Errorf("only %d installations expect %v", counts[s], s)
		}
	}
	if len(d.Licenses) < 200 {
		t.Errorf("only %d licenses", len(d.Licenses))
	}
}
