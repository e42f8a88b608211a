package enricher

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/serviceping/serviceping/pkg/ping"
	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/pkg/testinfra"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/enricher/internal/apitest"
	"github.com/serviceping/serviceping/services/enricher/internal/seed"
)

// BenchmarkEnrichWarm measures the enrichment of full-size generated pings
// (~120 KB, ~2,600 leaves) with a warm in-process cache: decode the raw
// envelope, lift the fields, resolve license → subscription → account from
// the cache, build the usage summary, encode the enriched envelope. NATS
// publishing is not included. Run with -cpu=1 for a per-core figure.
func BenchmarkEnrichWarm(b *testing.B) {
	contract, err := apitest.LoadContract(filepath.Join("..", "api", "openapi.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(apitest.NewServer(contract, seed.Generate()))
	defer srv.Close()
	_, natsURL := testinfra.NATS(b)
	js := testinfra.Connect(b, natsURL)
	e, err := New(Config{Workers: 1, AckWait: 60e9, MaxAckPending: 1, NakMaxDelay: 1e9, PublishTimeout: 10e9,
		DirectoryURL: srv.URL, CRMURL: srv.URL}, Deps{JS: js})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	g, err := pinggen.New()
	if err != nil {
		b.Fatal(err)
	}
	const n = 200
	msgs := make([][]byte, n)
	var bytes int64
	for i := range n {
		inst := pinggen.InstanceOf(i)
		rec := pinggen.RecordedAt(0, i)
		id := ping.ID(inst.UUID, rec)
		msgs[i], _ = proto.Marshal(&servicepingv1.RawPing{PingId: id, Uuid: inst.UUID, RecordedAt: rec, Payload: g.JSON(pinggen.Spec{Instance: i})})
		bytes += int64(len(msgs[i]))
	}
	ctx := context.Background()
	step := func(data []byte) {
		var raw servicepingv1.RawPing
		if err := proto.Unmarshal(data, &raw); err != nil {
			b.Fatal(err)
		}
		out, usage, err := e.enrich(ctx, &raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := proto.Marshal(out); err != nil {
			b.Fatal(err)
		}
		if usage != nil {
			if _, err := json.Marshal(usage); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, m := range msgs { // warm the cache and the ping-time memo
		step(m)
	}
	b.SetBytes(bytes / n)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		step(msgs[i%n])
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pings/s")
}
