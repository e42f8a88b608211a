package enricher_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/testinfra"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/enricher/internal/seed"
)

// checkExpected fails unless every ping in eps (of installation n, by
// ping_id) has the status the seed expects.
func checkExpected(t *testing.T, eps []enrichedPing, inst map[string]int) {
	t.Helper()
	for _, ep := range eps {
		n, ok := inst[ep.PingId]
		if !ok {
			continue
		}
		w, e := seed.Expect(n), ep.GetEnrichment()
		if e.GetStatus() != w.Status || e.GetAccountId() != w.AccountID {
			t.Errorf("installation %d: %v %q (%s), want %v %q", n, e.GetStatus(), e.GetAccountId(), e.GetReason(), w.Status, w.AccountID)
		}
	}
}

// TestRedisDown: with the cache's Redis killed, pings are enriched from the
// source; when Redis is back, the cache is used again.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	js := bus(t)
	rs := startRedis(t)
	lic, _, cfg := withAPIs(t)
	cfg.RedisURL, cfg.CachePrefix = rs.URL(), "t:"
	cfg.BreakerFailures = 2
	reg := prometheus.NewRegistry()
	run(t, js, cfg, reg)

	inst := map[string]int{}
	batch := func(from, to, week int) {
		var raws []*servicepingv1.RawPing
		for n := from; n < to; n++ {
			r := rawOf(t, n, week)
			inst[r.PingId] = n
			raws = append(raws, r)
		}
		publishRaw(t, js, raws...)
	}
	batch(0, 10, 0)
	checkExpected(t, readEnriched(t, js, 10, 15*time.Second), inst)

	rs.Stop()
	start := time.Now()
	batch(10, 30, 0)
	checkExpected(t, readEnriched(t, js, 30, 15*time.Second), inst)
	t.Logf("20 pings enriched from the source with Redis down in %s", time.Since(start).Round(time.Millisecond))
	if m := metric(t, reg, "serviceping_enricher_cache_requests_total", map[string]string{"result": "error"}); m == 0 {
		t.Error("no cache error counted while Redis was down")
	}

	rs.Start()
	rc := redis.NewClient(&redis.Options{Addr: rs.URL()[len("redis://") : len(rs.URL())-len("/0")]})
	defer rc.Close()
	// Pings keep coming; once the breaker lets Redis in again, answers are
	// cached and then served from the cache.
	week, total := 1, 30
	testinfra.Eventually(t, 15*time.Second, "Redis used again after restart", func() error {
		batch(30, 32, week)
		week++
		total += 2
		readEnriched(t, js, total, 10*time.Second)
		keys, err := rc.Keys(context.Background(), "t:*").Result()
		if err != nil || len(keys) == 0 {
			return fmt.Errorf("no cache keys in Redis yet (%v)", err)
		}
		return nil
	})
	hits := metric(t, reg, "serviceping_enricher_cache_requests_total", map[string]string{"result": "hit"})
	calls := lic.Calls("lookupLicense")
	batch(30, 32, week)
	readEnriched(t, js, total+2, 10*time.Second)
	if d := metric(t, reg, "serviceping_enricher_cache_requests_total", map[string]string{"result": "hit"}) - hits; d < 2 {
		t.Errorf("%v cache hits after Redis came back, want at least 2", d)
	}
	if d := lic.Calls("lookupLicense") - calls; d != 0 {
		t.Errorf("%d license lookups after Redis came back, want 0", d)
	}
}

// TestDirectoryDown: with the Licenses API unreachable, pings go on within
// a bounded delay with status failed; none is lost; re-published with a
// reenrich id once the API is back, they are enriched properly.
func TestDirectoryDown(t *testing.T) {
	t.Parallel()
	js := bus(t)
	lic, _, cfg := withAPIs(t)
	cfg.LookupBudget, cfg.BreakerFailures, cfg.BreakerOpenFor = time.Second, 3, 500*time.Millisecond
	reg := prometheus.NewRegistry()
	run(t, js, cfg, reg)

	lic.Close()
	inst := map[string]int{}
	var raws []*servicepingv1.RawPing
	for n := range 12 {
		r := rawOf(t, n, 0)
		raws = append(raws, r)
		inst[r.PingId] = n
	}
	start := time.Now()
	publishRaw(t, js, raws...)
	eps := readEnriched(t, js, len(raws), 15*time.Second)
	elapsed := time.Since(start)
	t.Logf("%d pings through a dead directory in %s", len(raws), elapsed.Round(time.Millisecond))
	// Budget 1 s per ping, 4 workers, and the breaker opens after 3
	// failures: far less than one budget per ping (12 s in all); the bound
	// leaves room for a loaded test machine.
	if elapsed > 10*time.Second {
		t.Errorf("pings took %s with the directory down", elapsed)
	}
	for _, ep := range eps {
		// Installations without a license never ask the directory.
		want := failed
		if seed.Expect(inst[ep.PingId]).Status == unmatched && ep.GetLicense().GetMd5() == "" {
			want = unmatched
		}
		if ep.GetEnrichment().GetStatus() != want || (want == failed && ep.GetEnrichment().GetReason() == "") {
			t.Errorf("installation %d: %v (%s), want %v with a reason", inst[ep.PingId], ep.GetEnrichment().GetStatus(), ep.GetEnrichment().GetReason(), want)
		}
	}
	nFailed := metric(t, reg, "serviceping_enricher_enrichments_total", map[string]string{"status": "failed"})
	if nFailed == 0 {
		t.Fatal("no failed enrichment counted")
	}

	// The directory returns; the operator re-enriches the failed pings.
	lic.Open()
	total := len(eps)
	testinfra.Eventually(t, 10*time.Second, "directory answers again", func() error {
		probe := rawOf(t, 0, 1)
		total++
		if err := streams.Republish(context.Background(), js, probe, fmt.Sprintf("probe-%d", total)); err != nil {
			return err
		}
		got := readEnriched(t, js, total, 10*time.Second)
		if s := got[len(got)-1].GetEnrichment().GetStatus(); s != matched {
			return fmt.Errorf("probe: %v", s)
		}
		return nil
	})
	var again int
	for _, ep := range eps {
		if ep.GetEnrichment().GetStatus() != failed {
			continue
		}
		for _, r := range raws {
			if r.PingId == ep.PingId {
				if err := streams.Republish(context.Background(), js, r, "r1"); err != nil {
					t.Fatal(err)
				}
				// A second request of the same re-enrichment is dropped.
				if err := streams.Republish(context.Background(), js, r, "r1"); err != nil {
					t.Fatal(err)
				}
				again++
			}
		}
	}
	got := readEnriched(t, js, total+again, 15*time.Second)
	re := 0
	for _, ep := range got {
		if ep.GetEnrichment().GetReenrichId() != "r1" {
			continue
		}
		re++
		if ep.MsgID != streams.EnrichedMsgID(ep.PingId, "r1") {
			t.Errorf("re-enriched Nats-Msg-Id %q", ep.MsgID)
		}
	}
	if re != again {
		t.Errorf("%d re-enriched pings, want %d", re, again)
	}
	checkExpected(t, got[total:], inst)
}

// TestCRMDown: usage pushes made while the CRM is down stay queued and are
// delivered once it is back, none twice.
func TestCRMDown(t *testing.T) {
	t.Parallel()
	js := bus(t)
	_, crm, cfg := withAPIs(t)
	cfg.BreakerFailures, cfg.BreakerOpenFor = 3, 300*time.Millisecond
	reg := prometheus.NewRegistry()
	run(t, js, cfg, reg)

	inst := map[string]int{}
	matchedRaw := map[string]*servicepingv1.RawPing{}
	batch := func(week int) {
		var raws []*servicepingv1.RawPing
		for n := range 12 {
			r := rawOf(t, n, week)
			inst[r.PingId] = n
			raws = append(raws, r)
			if seed.Expect(n).Status == matched {
				matchedRaw[r.PingId] = r
			}
		}
		publishRaw(t, js, raws...)
	}
	delivered := func(want int) func() error {
		return func() error {
			if got := len(crm.Usage()); got != want {
				return fmt.Errorf("%d usage records, want %d", got, want)
			}
			return nil
		}
	}
	batch(0)
	checkExpected(t, readEnriched(t, js, 12, 15*time.Second), inst)
	first := len(matchedRaw)
	testinfra.Eventually(t, 10*time.Second, "usage delivered", delivered(first))

	// Down: accounts come from the cache, pushes queue up.
	crm.SetDown(true)
	batch(1)
	checkExpected(t, readEnriched(t, js, 24, 15*time.Second), inst)
	readSubject(t, js, streams.CRM, streams.SubjectCRMUsage, len(matchedRaw), 10*time.Second)
	testinfra.Eventually(t, 10*time.Second, "pushes refused while down", func() error {
		if crm.Calls("pushAccountUsage") <= int64(first) {
			return errNotYet
		}
		return nil
	})
	if got := len(crm.Usage()); got != first {
		t.Fatalf("%d usage records while the CRM is down, want %d", got, first)
	}

	crm.SetDown(false)
	testinfra.Eventually(t, 15*time.Second, "queued usage delivered after the CRM returned", delivered(len(matchedRaw)))
	for id := range matchedRaw {
		if _, ok := crm.Usage()[id]; !ok {
			t.Errorf("usage of ping %s never delivered", id)
		}
	}
	if d := crm.Calls("pushAccountUsage:duplicate"); d != 0 {
		t.Errorf("%d pushes repeated a delivered usage", d)
	}

	// Re-enriching a matched ping queues its usage again; the CRM's
	// idempotency key keeps one record.
	for _, r := range matchedRaw {
		if err := streams.Republish(context.Background(), js, r, "again"); err != nil {
			t.Fatal(err)
		}
		break
	}
	testinfra.Eventually(t, 10*time.Second, "repeated push answered as duplicate", func() error {
		if crm.Calls("pushAccountUsage:duplicate") != 1 {
			return errNotYet
		}
		return nil
	})
	if got := len(crm.Usage()); got != len(matchedRaw) {
		t.Errorf("%d usage records after a repeated push, want %d", got, len(matchedRaw))
	}
	if m := metric(t, reg, "serviceping_enricher_crm_usage_total", map[string]string{"outcome": "nak"}); m == 0 {
		t.Error("no CRM push retried (nak) while the CRM was down")
	}
}
