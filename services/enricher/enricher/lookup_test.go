package enricher_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/testinfra"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/enricher/internal/seed"
)

const (
	matched   = servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_MATCHED
	partial   = servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_PARTIAL
	unmatched = servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_UNMATCHED
	failed    = servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_FAILED
)

// crafted returns installation n's ping of week w with only the license
// fields in keep (of license_md5, license_sha256, license_id) left, and md5
// overridden when not empty.
func crafted(t *testing.T, n, w int, md5 string, keep ...string) *servicepingv1.RawPing {
	t.Helper()
	p := gen().Ping(pinggen.Spec{Instance: n, Week: w})
	kept := map[string]bool{}
	for _, k := range keep {
		kept[k] = true
	}
	for _, k := range []string{"license_md5", "license_sha256", "license_id"} {
		if !kept[k] {
			delete(p, k)
		}
	}
	if md5 != "" {
		p["license_md5"] = md5
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return rawPayload(t, b, pinggen.InstanceOf(n).UUID, pinggen.RecordedAt(w, n))
}

// TestStatuses enriches the pings of 40 installations and a few crafted
// ones against each source, and checks status, subscription, account, the
// CRM push, the license ping time and the cache.
func TestStatuses(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"postgres", "http"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			js := bus(t)
			reg := prometheus.NewRegistry()
			cfg := baseConfig()
			var (
				db       string
				lic, crm *apiServer
			)
			if mode == "postgres" {
				db = directoryDB(t)
				cfg.DirectoryURL = db
			} else {
				lic, crm = startAPI(t), startAPI(t)
				cfg.DirectoryURL, cfg.CRMURL = lic.URL(), crm.URL()
			}
			run(t, js, cfg, reg)

			const n = 40
			want := map[string]seed.Expectation{}
			var raws []*servicepingv1.RawPing
			for i := range n {
				r := rawOf(t, i, 0)
				raws = append(raws, r)
				want[r.PingId] = seed.Expect(i)
			}
			// License identifiers in order of preference: md5, sha256, id.
			for _, c := range []struct {
				raw  *servicepingv1.RawPing
				want seed.Expectation
			}{
				{crafted(t, 0, 5, "", "license_sha256"), seed.Expect(0)},
				{crafted(t, 1, 5, "", "license_id"), seed.Expect(1)},
				{crafted(t, 2, 5, "ffffffffffffffffffffffffffffffff", "license_sha256", "license_id"), seed.Expectation{Status: unmatched}},
				{crafted(t, 5, 5, "", "license_sha256", "license_id"), seed.Expect(5)},
			} {
				raws = append(raws, c.raw)
				want[c.raw.PingId] = c.want
			}
			publishRaw(t, js, raws...)
			got := readEnriched(t, js, len(raws), 20*time.Second)

			statuses := map[string]int{}
			matchedIDs := map[string]string{}
			for _, ep := range got {
				w, ok := want[ep.PingId]
				if !ok {
					t.Fatalf("unexpected ping %s", ep.PingId)
				}
				e := ep.GetEnrichment()
				if e.GetStatus() != w.Status || e.GetSubscriptionId() != w.SubscriptionID || e.GetAccountId() != w.AccountID {
					t.Errorf("ping of %s: got %v sub %q acct %q (%s), want %v sub %q acct %q",
						ep.GetInstance().GetHostname(), e.GetStatus(), e.GetSubscriptionId(), e.GetAccountId(), e.GetReason(), w.Status, w.SubscriptionID, w.AccountID)
				}
				if e.GetStatus() != matched && e.GetReason() == "" {
					t.Errorf("ping %s: status %v without a reason", ep.PingId, e.GetStatus())
				}
				if ep.MsgID != streams.EnrichedMsgID(ep.PingId, "") {
					t.Errorf("Nats-Msg-Id %q, want %q", ep.MsgID, streams.EnrichedMsgID(ep.PingId, ""))
				}
				statuses[streams.StatusName(e.GetStatus())]++
				if e.GetStatus() == matched {
					matchedIDs[ep.PingId] = e.GetAccountId()
				}
			}
			t.Logf("statuses: %v", statuses)
			for _, s := range []string{"matched", "partial", "unmatched"} {
				if statuses[s] == 0 {
					t.Errorf("no %s ping", s)
				}
				if m := metric(t, reg, "serviceping_enricher_enrichments_total", map[string]string{"status": s}); int(m) != statuses[s] {
					t.Errorf("enrichments_total{status=%s} = %v, want %d", s, m, statuses[s])
				}
			}

			// Every matched ping's usage reaches the CRM, once.
			inst0 := pinggen.InstanceOf(0)
			latest := pinggen.Epoch.AddDate(0, 0, 35) // week 5 of installation 0
			testinfra.Eventually(t, 15*time.Second, "usage of every matched ping delivered", func() error {
				var pushed map[string]string
				if mode == "postgres" {
					pushed = accountUsage(t, db)
				} else {
					pushed = map[string]string{}
					for k, body := range crm.Usage() {
						var u struct {
							AccountID string `json:"account_id"`
						}
						_ = json.Unmarshal(body, &u)
						pushed[k] = u.AccountID
					}
				}
				if len(pushed) != len(matchedIDs) {
					return fmt.Errorf("%d pushed, want %d", len(pushed), len(matchedIDs))
				}
				for id, acct := range matchedIDs {
					if pushed[id] != acct {
						return fmt.Errorf("ping %s pushed for account %q, want %q", id, pushed[id], acct)
					}
				}
				return nil
			})
			// The license's last ping time is the latest recorded_at.
			var last time.Time
			if mode == "postgres" {
				last = lastPing(t, db, inst0.LicenseMD5)
			} else {
				last = lic.LastPing(inst0.LicenseMD5)
			}
			if !last.Equal(latest) {
				t.Errorf("last_ping_at of installation 0 = %v, want %v", last, latest)
			}

			// A second round of the same installations is answered by the cache.
			lookupsBefore := metric(t, reg, "serviceping_enricher_lookups_total", nil)
			hitsBefore := metric(t, reg, "serviceping_enricher_cache_requests_total", map[string]string{"result": "hit"}) +
				metric(t, reg, "serviceping_enricher_cache_requests_total", map[string]string{"result": "negative_hit"})
			var again []*servicepingv1.RawPing
			for i := range 10 {
				again = append(again, rawOf(t, i, 1))
			}
			publishRaw(t, js, again...)
			readEnriched(t, js, len(raws)+len(again), 20*time.Second)
			if d := metric(t, reg, "serviceping_enricher_lookups_total", nil) - lookupsBefore; d != 0 {
				t.Errorf("second round made %v source lookups, want 0", d)
			}
			hits := metric(t, reg, "serviceping_enricher_cache_requests_total", map[string]string{"result": "hit"}) +
				metric(t, reg, "serviceping_enricher_cache_requests_total", map[string]string{"result": "negative_hit"}) - hitsBefore
			if hits < 7 {
				t.Errorf("second round: %v cache hits in metrics, want at least 7", hits)
			}
		})
	}
}

// withDirectory calls fn with a connection to the directory database db,
// closed when fn returns.
func withDirectory(t *testing.T, db string, fn func(ctx context.Context, conn *pgx.Conn)) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	fn(ctx, conn)
}

func accountUsage(t *testing.T, db string) map[string]string {
	t.Helper()
	out := map[string]string{}
	withDirectory(t, db, func(ctx context.Context, conn *pgx.Conn) {
		rows, err := conn.Query(ctx, "SELECT ping_id, account_id FROM account_usage")
		if err != nil {
			t.Fatal(err)
		}
		var id, acct string
		if _, err := pgx.ForEachRow(rows, []any{&id, &acct}, func() error { out[id] = acct; return nil }); err != nil {
			t.Fatal(err)
		}
	})
	return out
}

func lastPing(t *testing.T, db, md5 string) time.Time {
	t.Helper()
	var last *time.Time
	withDirectory(t, db, func(ctx context.Context, conn *pgx.Conn) {
		if err := conn.QueryRow(ctx, "SELECT last_ping_at FROM licenses WHERE license_md5 = $1", md5).Scan(&last); err != nil {
			t.Fatal(err)
		}
	})
	if last == nil {
		return time.Time{}
	}
	return last.UTC()
}

// TestStampede: 100 pings of one installation arriving together make one
// license lookup and one account lookup.
func TestStampede(t *testing.T) {
	t.Parallel()
	js := bus(t)
	lic, crm, cfg := withAPIs(t)
	lic.LookupDelay.Store(int64(100 * time.Millisecond))
	crm.LookupDelay.Store(int64(100 * time.Millisecond))
	redisURL, prefix := sharedRedis(t)
	cfg.Workers, cfg.RedisURL, cfg.CachePrefix = 32, redisURL, prefix
	reg := prometheus.NewRegistry()
	var raws []*servicepingv1.RawPing
	for w := range 100 {
		raws = append(raws, rawOf(t, 0, w))
	}
	// Published before the enricher starts: the workers take them at once.
	publishRaw(t, js, raws...)
	run(t, js, cfg, reg)
	for _, ep := range readEnriched(t, js, len(raws), 30*time.Second) {
		if ep.GetEnrichment().GetStatus() != matched {
			t.Fatalf("ping %s: %v (%s)", ep.PingId, ep.GetEnrichment().GetStatus(), ep.GetEnrichment().GetReason())
		}
	}
	if got := lic.Calls("lookupLicense"); got != 1 {
		t.Errorf("%d license lookups for 100 pings of one license, want 1", got)
	}
	if got := crm.Calls("lookupAccount"); got != 1 {
		t.Errorf("%d account lookups for 100 pings of one subscription, want 1", got)
	}
}
