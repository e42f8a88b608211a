package resolve_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/pkg/testinfra"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
	"github.com/serviceping/serviceping/services/enricher/internal/apitest"
	"github.com/serviceping/serviceping/services/enricher/internal/cache"
	"github.com/serviceping/serviceping/services/enricher/internal/directory"
	"github.com/serviceping/serviceping/services/enricher/internal/guard"
	"github.com/serviceping/serviceping/services/enricher/internal/resolve"
	"github.com/serviceping/serviceping/services/enricher/internal/seed"
)

type fixture struct {
	api *apitest.Server
	srv *httptest.Server
	r   *resolve.Resolver
}

func newFixture(t *testing.T, c resolve.Cache, failures uint32) fixture {
	t.Helper()
	contract, err := apitest.LoadContract(filepath.Join("..", "..", "api", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	api := apitest.NewServer(contract, seed.Generate())
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	lic, err := directory.NewLicensesAPI(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	crm, err := directory.NewCRMAPI(srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	g := func(name string) *guard.Guard {
		return guard.New(guard.Settings{Name: name, Timeout: time.Second, Failures: failures, OpenFor: time.Minute, Transient: directory.Transient})
	}
	r, err := resolve.New(resolve.Config{
		Licenses: lic, LicensesGuard: g("licenses"), Accounts: crm, AccountsGuard: g("crm"),
		Cache: c, TTL: time.Hour, NegativeTTL: time.Minute,
		Backoff: guard.Backoff{Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond},
	}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return fixture{api: api, srv: srv, r: r}
}

func license(n int) *servicepingv1.License {
	in := pinggen.InstanceOf(n)
	return &servicepingv1.License{Md5: in.LicenseMD5, Sha256: in.LicenseSHA256}
}

// TestStampedeOneLookup: 100 concurrent resolutions of one license on a
// cold Redis cache make one call per lookup.
func TestStampedeOneLookup(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(testinfra.Env(t, "SERVICEPING_TEST_REDIS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/5"
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	rc, err := cache.NewRedis(u.String(), "resolve-test:"+hex.EncodeToString(b)+":", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rc.Close() })
	f := newFixture(t, rc, 5)
	f.api.LookupDelay.Store(int64(50 * time.Millisecond))
	var wg sync.WaitGroup
	var notMatched atomic.Int32
	for range 100 {
		wg.Go(func() {
			res := f.r.Resolve(context.Background(), license(0), time.Now().Add(5*time.Second))
			if res.Status != servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_MATCHED || res.AccountID != seed.Expect(0).AccountID {
				notMatched.Add(1)
			}
		})
	}
	wg.Wait()
	if n := notMatched.Load(); n != 0 {
		t.Errorf("%d of 100 resolutions not matched", n)
	}
	if l, a := f.api.Calls("lookupLicense"), f.api.Calls("lookupAccount"); l != 1 || a != 1 {
		t.Errorf("100 concurrent resolutions made %d license and %d account lookups, want 1 and 1", l, a)
	}
}

// TestNegativeCacheExpires: an unknown license is asked once, answered from
// the cache until the negative TTL passes, then asked again.
func TestNegativeCacheExpires(t *testing.T) {
	t.Parallel()
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	lru, err := cache.NewLRU(100, func() time.Time { return time.Unix(0, now.Load()) })
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, lru, 5)
	unknown := &servicepingv1.License{Md5: "0123456789abcdef0123456789abcdef"}
	for range 3 {
		if res := f.r.Resolve(context.Background(), unknown, time.Now().Add(time.Second)); res.Status != servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_UNMATCHED {
			t.Fatalf("unknown license: %v", res.Status)
		}
	}
	if got := f.api.Calls("lookupLicense"); got != 1 {
		t.Fatalf("%d lookups of an unknown license, want 1 (negative cache)", got)
	}
	now.Add(int64(2 * time.Minute))
	f.r.Resolve(context.Background(), unknown, time.Now().Add(time.Second))
	if got := f.api.Calls("lookupLicense"); got != 2 {
		t.Fatalf("%d lookups after the negative TTL, want 2", got)
	}
}

// TestRetryBudgetBounds: a source that keeps failing (breaker never
// opening) costs one budget, then FAILED.
func TestRetryBudgetBounds(t *testing.T) {
	t.Parallel()
	lru, err := cache.NewLRU(100, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, lru, 1_000_000)
	f.api.SetDown(true)
	start := time.Now()
	res := f.r.Resolve(context.Background(), license(0), start.Add(500*time.Millisecond))
	elapsed := time.Since(start)
	if res.Status != servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_FAILED || res.Reason == "" {
		t.Fatalf("dead source: %v %q", res.Status, res.Reason)
	}
	// Bounded, not retrying forever; the margin over the budget absorbs a
	// loaded test machine.
	if elapsed > 3*time.Second {
		t.Errorf("resolution took %s with a 500ms budget", elapsed)
	}
	if n := f.api.Calls("lookupLicense"); n < 3 {
		t.Errorf("%d attempts within the budget, want retries", n)
	}
	// The failure is not cached: the source back, the license resolves.
	f.api.SetDown(false)
	if res := f.r.Resolve(context.Background(), license(0), time.Now().Add(time.Second)); res.Status != servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_MATCHED {
		t.Fatalf("after recovery: %v (%s)", res.Status, res.Reason)
	}
}
