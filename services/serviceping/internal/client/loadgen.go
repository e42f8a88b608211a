package client

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/serviceping/serviceping/pkg/pinggen"
)

// LoadOptions bound a load run: it stops after Pings requests or Duration,
// whichever comes first.
type LoadOptions struct {
	Pings       int
	Instances   int
	Concurrency int
	Duration    time.Duration
	Gzip        bool
	// Rate, when positive, paces the run at this many pings a second (a
	// soak), and each payload is generated as it is sent instead of all
	// before the clock starts, so a long run holds no more than the
	// requests in flight. Zero: as fast as the gateway answers.
	Rate float64
}

// LoadResult summarises a load run.
type LoadResult struct {
	Sent, Accepted int64
	Statuses       map[int]int64
	Errors         int64
	Bytes          int64
	Elapsed        time.Duration
	P50, P99, Max  time.Duration
}

// Report writes a human summary.
func (r LoadResult) Report(w io.Writer) {
	secs := r.Elapsed.Seconds()
	fmt.Fprintf(w, "sent %d pings (%.1f MB) in %.2fs: %.0f pings/s, %.1f MB/s\n", r.Sent, float64(r.Bytes)/1e6, secs, float64(r.Sent)/secs, float64(r.Bytes)/1e6/secs)
	fmt.Fprintf(w, "accepted %d, transport errors %d, statuses %v\n", r.Accepted, r.Errors, r.Statuses)
	fmt.Fprintf(w, "latency p50 %s, p99 %s, max %s\n", r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond))
}

// Load posts generated full-size pings concurrently. Unpaced, payloads are
// generated before the clock starts so the figures measure the gateway, not
// the generator; paced (LoadOptions.Rate), as they are sent.
func (s Sender) Load(ctx context.Context, o LoadOptions) (LoadResult, error) {
	if o.Pings <= 0 || o.Concurrency <= 0 || o.Duration <= 0 {
		return LoadResult{}, fmt.Errorf("load run needs positive pings, concurrency and duration")
	}
	if o.Instances <= 0 {
		o.Instances = o.Pings
	}
	g, err := pinggen.New()
	if err != nil {
		return LoadResult{}, err
	}
	body := func(i int64) []byte {
		b := g.JSON(pinggen.Spec{Instance: int(i) % o.Instances, Week: int(i) / o.Instances})
		if o.Gzip {
			b = Gzip(b)
		}
		return b
	}
	var bodies [][]byte
	var pace *rate.Limiter
	if o.Rate > 0 {
		pace = rate.NewLimiter(rate.Limit(o.Rate), 1)
	} else {
		bodies = make([][]byte, o.Pings)
		for i := range bodies {
			bodies[i] = body(int64(i))
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()

	var (
		next      atomic.Int64
		mu        sync.Mutex
		res       = LoadResult{Statuses: map[int]int64{}}
		latencies []time.Duration
		wg        sync.WaitGroup
	)
	start := time.Now()
	for range o.Concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(o.Pings) {
					return
				}
				var b []byte
				if pace == nil {
					b = bodies[i]
				} else {
					if pace.Wait(ctx) != nil {
						return
					}
					b = body(i)
				}
				t0 := time.Now()
				resp, err := s.Send(ctx, b, o.Gzip)
				d := time.Since(t0)
				mu.Lock()
				res.Sent++
				res.Bytes += int64(len(b))
				if err != nil && resp.Status == 0 {
					res.Errors++
				} else {
					res.Statuses[resp.Status]++
					if resp.Status/100 == 2 {
						res.Accepted++
					}
				}
				latencies = append(latencies, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	if len(latencies) > 0 {
		slices.Sort(latencies)
		res.P50 = latencies[len(latencies)/2]
		res.P99 = latencies[len(latencies)*99/100]
		res.Max = latencies[len(latencies)-1]
	}
	return res, nil
}
