package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/serviceping/serviceping/pkg/devopsscore"
	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/services/gateway/gateway"
)

// pingStream yields distinct full-size pings cheaply: one generated ping
// whose recorded_at is rewritten per iteration (same length), so every
// request is a new message for JetStream, not a de-duplicated one.
type pingStream struct {
	prefix, suffix []byte // around the recorded_at value
	gzPrefix       []byte // gzip members of prefix and suffix: a gzip body may
	gzSuffix       []byte // be several members, decoded as one stream
	n              int
	buf            bytes.Buffer
	zw             *gzip.Writer
}

func newPingStream(b *testing.B) *pingStream {
	gen := generator(b)
	// GitLab's own order: recorded_at and uuid open the payload.
	p := gen.Ping(pinggen.Spec{Instance: 5})
	uuid := p["uuid"].(string)
	delete(p, "recorded_at")
	delete(p, "uuid")
	rest, err := json.Marshal(p)
	if err != nil {
		b.Fatal(err)
	}
	s := &pingStream{
		prefix: []byte(`{"recorded_at":"`),
		suffix: append([]byte(`","uuid":"`+uuid+`",`), rest[1:]...),
	}
	s.gzPrefix = gateway.GzipBytes(b, s.prefix)
	s.gzSuffix = gateway.GzipBytes(b, s.suffix)
	return s
}

func (s *pingStream) recordedAt() []byte {
	s.n++
	return []byte(pinggen.Epoch.Add(time.Duration(s.n) * time.Second).Format("2006-01-02 15:04:05 UTC"))
}

func (s *pingStream) plain() []byte {
	s.buf.Reset()
	s.buf.Write(s.prefix)
	s.buf.Write(s.recordedAt())
	s.buf.Write(s.suffix)
	return s.buf.Bytes()
}

func (s *pingStream) gzip() []byte {
	s.buf.Reset()
	s.buf.Write(s.gzPrefix)
	if s.zw == nil {
		s.zw = gzip.NewWriter(&s.buf)
	}
	s.zw.Reset(&s.buf)
	_, _ = s.zw.Write(s.recordedAt())
	_ = s.zw.Close()
	s.buf.Write(s.gzSuffix)
	return s.buf.Bytes()
}

// BenchmarkUsageData is the whole request path: HTTP request, body read
// (and gunzip), validation, protobuf envelope, JetStream publish to an
// embedded file-backed server, PubAck, 201 — with the DevOps Score off and
// on (the instance's state, five remembered earlier pings as the enricher
// leaves it, read before the publish; every ping is scored).
func BenchmarkUsageData(b *testing.B) {
	for _, tc := range []struct {
		name  string
		gz    bool
		score bool
	}{{"plain/score=off", false, false}, {"plain/score=on", false, true}, {"gzip/score=off", true, false}, {"gzip/score=on", true, true}} {
		b.Run(tc.name, func(b *testing.B) {
			h := newHarness(b, func(c *gateway.Config, _ *gateway.Deps) { c.DevOpsScore = tc.score })
			s := newPingStream(b)
			if tc.score {
				rememberEarlierPings(b, h, s)
			}
			b.SetBytes(int64(len(s.prefix) + len(s.suffix) + 23))
			b.ReportAllocs()
			var wire int
			n := 0
			for b.Loop() {
				body := s.plain()
				r := httptest.NewRequest(http.MethodPost, "/usage_data", bytes.NewReader(body))
				if tc.gz {
					body = s.gzip()
					r = httptest.NewRequest(http.MethodPost, "/usage_data", bytes.NewReader(body))
					r.Header.Set("Content-Encoding", "gzip")
				}
				wire = len(body)
				r.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.h.ServeHTTP(rec, r)
				if rec.Code != http.StatusCreated {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
				if tc.score && n > 0 && !bytes.Contains(rec.Body.Bytes(), []byte("percentage_issues")) {
					b.Fatalf("no score answered: %s", rec.Body)
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pings/s")
			b.ReportMetric(float64(wire), "wire_bytes")
		})
	}
}

// rememberEarlierPings stores five pings of the stream's instance, a week
// apart before pinggen.Epoch, in the DevOps Score state, with leaders.
func rememberEarlierPings(b *testing.B, h *harness, s *pingStream) {
	ctx := context.Background()
	var uuid struct {
		UUID string `json:"uuid"`
	}
	if err := json.Unmarshal(s.plain(), &uuid); err != nil {
		b.Fatal(err)
	}
	store, err := (&devopsscore.Opener{JS: h.js}).Store(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for w := 5; w > 0; w-- {
		var snap devopsscore.Snapshot
		snap.PingID = fmt.Sprintf("earlier-%d", w)
		snap.RecordedAt = pinggen.Epoch.Add(-time.Duration(w) * 7 * 24 * time.Hour)
		snap.SetActiveUsers(100)
		for i := range devopsscore.NumCounters {
			snap.SetCounter(i, float64(1000-w*10))
		}
		var score devopsscore.Score
		if err := store.Remember(ctx, uuid.UUID, snap, &score); err != nil {
			b.Fatal(err)
		}
	}
	leaders := devopsscore.Leaders{ComputedAt: time.Now(), Instances: 10}
	for f := range leaders.Values {
		leaders.Values[f] = 5
	}
	if err := store.SetLeaders(ctx, leaders); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkUsageDataParallel drives the same path from 8 concurrent clients
// (4 per core, as `serviceping loadgen --concurrency 8` on this machine
// kind), with the DevOps Score off and on.
func BenchmarkUsageDataParallel(b *testing.B) {
	for _, score := range []bool{false, true} {
		b.Run(fmt.Sprintf("score=%s", map[bool]string{false: "off", true: "on"}[score]), func(b *testing.B) {
			h := newHarness(b, func(c *gateway.Config, _ *gateway.Deps) { c.DevOpsScore = score })
			s := newPingStream(b)
			if score {
				rememberEarlierPings(b, h, s)
			}
			b.SetBytes(int64(len(s.prefix) + len(s.suffix) + 23))
			b.SetParallelism(4)
			start := time.Now()
			next := make(chan int, 1)
			next <- 0
			b.RunParallel(func(pb *testing.PB) {
				ps := &pingStream{prefix: s.prefix, suffix: s.suffix}
				for pb.Next() {
					n := <-next
					next <- n + 1
					ps.n = n
					r := httptest.NewRequest(http.MethodPost, "/usage_data", bytes.NewReader(ps.plain()))
					r.Header.Set("Content-Type", "application/json")
					rec := httptest.NewRecorder()
					h.h.ServeHTTP(rec, r)
					if rec.Code != http.StatusCreated {
						b.Errorf("status %d: %s", rec.Code, rec.Body)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pings/s")
		})
	}
}
