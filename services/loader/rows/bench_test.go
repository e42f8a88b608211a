package rows_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/serviceping/serviceping/pkg/pinggen"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/loader/internal/testpings"
	"github.com/serviceping/serviceping/services/loader/rows"
)

// BenchmarkBuild maps generated full-size pings to records (an external
// test: testpings imports rows).
func BenchmarkBuild(b *testing.B) {
	g, err := pinggen.New()
	if err != nil {
		b.Fatal(err)
	}
	var msgs [][]byte
	for i := range 16 {
		ep, err := testpings.Generated(g, i, 1)
		if err != nil {
			b.Fatal(err)
		}
		data, err := proto.Marshal(ep)
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, data)
	}
	b.SetBytes(int64(len(msgs[0])))
	b.ReportAllocs()
	var bl rows.Builder
	for i := 0; b.Loop(); i++ {
		var ep servicepingv1.EnrichedPing
		if err := proto.Unmarshal(msgs[i%len(msgs)], &ep); err != nil {
			b.Fatal(err)
		}
		if _, err := bl.Build(&ep, time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pings/s")
}
