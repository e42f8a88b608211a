package gateway_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/serviceping/serviceping/pkg/pinggen"
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
	gen, err := pinggen.New()
	if err != nil {
		b.Fatal(err)
	}
	body := gen.JSON(pinggen.Spec{Instance: 5})
	key := []byte(`"recorded_at":"`)
	i := bytes.Index(body, key)
	if i < 0 {
		b.Fatal("no recorded_at")
	}
	start := i + len(key)
	end := start + bytes.IndexByte(body[start:], '"')
	s := &pingStream{prefix: body[:start], suffix: body[end:]}
	s.gzPrefix = gzipBytes(b, s.prefix)
	s.gzSuffix = gzipBytes(b, s.suffix)
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
// embedded file-backed server, PubAck, 201.
func BenchmarkUsageData(b *testing.B) {
	for _, tc := range []struct {
		name string
		gz   bool
	}{{"plain", false}, {"gzip", true}} {
		b.Run(tc.name, func(b *testing.B) {
			h := newHarness(b, nil)
			s := newPingStream(b)
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
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pings/s")
			b.ReportMetric(float64(wire), "wire_bytes")
		})
	}
}

// BenchmarkUsageDataParallel drives the same path from concurrent clients.
func BenchmarkUsageDataParallel(b *testing.B) {
	h := newHarness(b, nil)
	gen, err := pinggen.New()
	if err != nil {
		b.Fatal(err)
	}
	template := gen.JSON(pinggen.Spec{Instance: 6})
	b.SetBytes(int64(len(template)))
	start := time.Now()
	var next = make(chan int, 1)
	next <- 0
	b.RunParallel(func(pb *testing.PB) {
		s := &pingStream{}
		key := []byte(`"recorded_at":"`)
		i := bytes.Index(template, key) + len(key)
		end := i + bytes.IndexByte(template[i:], '"')
		s.prefix, s.suffix = template[:i], template[end:]
		for pb.Next() {
			n := <-next
			next <- n + 1
			s.n = n
			r := httptest.NewRequest(http.MethodPost, "/usage_data", bytes.NewReader(s.plain()))
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
}
