package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5"

	"github.com/serviceping/serviceping/pkg/faultproxy"
	"github.com/serviceping/serviceping/pkg/ping"
	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/pkg/testinfra"
	"github.com/serviceping/serviceping/services/serviceping/internal/client"
	"github.com/serviceping/serviceping/services/serviceping/internal/pipelinetest"
	"github.com/serviceping/serviceping/services/serviceping/internal/reenrich"
	"github.com/serviceping/serviceping/services/serviceping/internal/replay"
)

// TestMain lets the test binary serve as the embedded engine's process.
func TestMain(m *testing.M) { pipelinetest.Main(m) }

// directoryDB creates a fresh directory database with the DDL of
// deploy/postgres and the seed of testdata/directory.
func directoryDB(t *testing.T) string {
	t.Helper()
	return testinfra.PostgresDB(t, "e2e_directory", "../../../../deploy/postgres/0001_directory.sql", "../../../../testdata/directory/seed.sql")
}

// expected reads from the directory what instance n's ping should be
// enriched to: status and ids.
func expected(t *testing.T, dbURL string, n int) (status, subscription, account string) {
	t.Helper()
	inst := pinggen.InstanceOf(n)
	if inst.LicenseMD5 == "" {
		return "unmatched", "", ""
	}
	ctx := context.Background()
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	var sub, acc *string
	err = db.QueryRow(ctx, `SELECT l.subscription_id, s.account_id FROM licenses l
		LEFT JOIN subscriptions s USING (subscription_id) WHERE l.license_md5 = $1`, inst.LicenseMD5).Scan(&sub, &acc)
	switch {
	case err == pgx.ErrNoRows || (err == nil && sub == nil):
		return "unmatched", "", ""
	case err != nil:
		t.Fatal(err)
	case acc == nil:
		return "partial", *sub, ""
	}
	return "matched", *sub, *acc
}

type row struct{ status, subscription, account string }

// versioned is a warehouse row with its version (the enrichment time).
type versioned struct {
	row
	version uint64
}

func warehouseRows(t *testing.T, conn driver.Conn) map[string]versioned {
	t.Helper()
	var rs []struct {
		PingID       string `ch:"ping_id"`
		Status       string `ch:"enrichment_status"`
		Subscription string `ch:"subscription_id"`
		Account      string `ch:"account_id"`
		Version      uint64 `ch:"_version"`
	}
	if err := conn.Select(context.Background(), &rs, "SELECT ping_id, enrichment_status, subscription_id, account_id, _version FROM serviceping.pings FINAL"); err != nil {
		t.Fatal(err)
	}
	out := map[string]versioned{}
	for _, r := range rs {
		out[r.PingID] = versioned{row{r.Status, r.Subscription, r.Account}, r.Version}
	}
	return out
}

// waitRows polls the warehouse until cond holds for its rows.
func waitRows(t *testing.T, conn driver.Conn, what string, cond func(map[string]versioned) bool) map[string]versioned {
	t.Helper()
	var rows map[string]versioned
	testinfra.Eventually(t, 90*time.Second, what, func() error {
		if rows = warehouseRows(t, conn); !cond(rows) {
			return fmt.Errorf("warehouse holds %v", rows)
		}
		return nil
	})
	return rows
}

// TestEnrichmentEndToEnd: pings with known licenses land in
// serviceping.pings with the directory's subscription and account; while
// the directory is unreachable pings still land, as failed; once it is back,
// `reenrich` turns them into their true status, without duplicates.
func TestEnrichmentEndToEnd(t *testing.T) {
	testinfra.Env(t, "CHDB_LIB")
	dbURL := directoryDB(t)
	u, _ := url.Parse(dbURL)
	px, err := faultproxy.Start(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = px.Close() })
	viaProxy := *u
	viaProxy.Host = px.Addr

	ctx := context.Background()
	p := pipelinetest.Start(t, map[string]string{
		"DIRECTORY_URL":             viaProxy.String(),
		"ENRICHER_LOOKUP_TIMEOUT":   "300ms",
		"ENRICHER_LOOKUP_BUDGET":    "1s",
		"ENRICHER_BREAKER_OPEN_FOR": "500ms",
	})
	conn := pipelinetest.Conn(t, p)

	g, err := pinggen.New()
	if err != nil {
		t.Fatal(err)
	}
	s := client.Sender{HTTP: &http.Client{Timeout: 30 * time.Second}, GatewayURL: p.GatewayURL}
	idOf := map[int]string{}
	send := func(n int) {
		t.Helper()
		resp, err := s.Send(ctx, g.JSON(pinggen.Spec{Instance: n}), false)
		if err != nil || resp.Status != http.StatusCreated {
			t.Fatalf("instance %d: status %d err %v %s", n, resp.Status, err, resp.Body)
		}
		idOf[n] = ping.ID(pinggen.InstanceOf(n).UUID, pinggen.RecordedAt(0, n))
	}
	check := func(rows map[string]versioned, n int) {
		t.Helper()
		st, sub, acc := expected(t, dbURL, n)
		want := row{st, sub, acc}
		if got := rows[idOf[n]].row; got != want {
			t.Errorf("instance %d: warehouse has %+v, want %+v", n, got, want)
		}
	}

	// Directory up: every status the seed provides, with the right ids.
	up := []int{0, 1, 2, 3, 4, 7, 9, 13, 17}
	statuses := map[string]bool{}
	for _, n := range up {
		send(n)
		st, _, _ := expected(t, dbURL, n)
		statuses[st] = true
	}
	if !statuses["matched"] || !statuses["partial"] || !statuses["unmatched"] {
		t.Fatalf("the chosen instances cover only %v; pick ones the seed matches, partially matches and misses", statuses)
	}
	rows := waitRows(t, conn, "pings enriched with the directory up", func(r map[string]versioned) bool { return len(r) == len(up) })
	for _, n := range up {
		check(rows, n)
	}

	// Directory down: licensed pings still land, as failed.
	px.Cut()
	var down []int // licensed installations not sent yet
	for n := 20; len(down) < 4; n++ {
		if pinggen.InstanceOf(n).LicenseMD5 != "" {
			down = append(down, n)
		}
	}
	for _, n := range down {
		send(n)
	}
	rows = waitRows(t, conn, "failed pings", func(r map[string]versioned) bool { return len(r) == len(up)+len(down) })
	for _, n := range down {
		if got := rows[idOf[n]]; got.status != "failed" {
			t.Errorf("instance %d with the directory down: status %q, want failed", n, got.status)
		}
	}

	// Directory back; re-enrich what failed, as an operator would: run
	// reenrich, and run it again while pings still fail (the enricher's
	// circuit breaker fails fast until its open period is over).
	if err := px.Restore(); err != nil {
		t.Fatal(err)
	}
	js, err := p.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	republished := 0
	for attempt := 1; ; attempt++ {
		failed, err := reenrich.Failed(ctx, conn, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(failed) == 0 {
			break
		}
		if attempt == 1 && len(failed) != len(down) {
			t.Fatalf("reenrich lists %d failed pings, want %d", len(failed), len(down))
		}
		if attempt > 10 {
			t.Fatalf("%d pings still failed after %d re-enrichments", len(failed), attempt-1)
		}
		before := warehouseRows(t, conn)
		if n, err := reenrich.Republish(ctx, js, failed, fmt.Sprintf("e2e-%d", attempt)); err != nil || n != len(failed) {
			t.Fatalf("republished %d of %d, err %v", n, len(failed), err)
		}
		republished += len(failed)
		// Wait until the warehouse holds the outcome of this attempt: a
		// newer version of every re-published ping.
		waitRows(t, conn, "re-enrichment attempt", func(r map[string]versioned) bool {
			for _, f := range failed {
				if r[f.PingId].version <= before[f.PingId].version {
					return false
				}
			}
			return true
		})
	}
	rows = warehouseRows(t, conn)
	if len(rows) != len(up)+len(down) {
		t.Errorf("warehouse holds %d pings after re-enrichment, want %d", len(rows), len(up)+len(down))
	}
	for _, n := range append(up, down...) {
		check(rows, n)
	}

	// The stream now holds each ping once plus the re-published copies: a
	// replay would send every ping once and skip the copies.
	rep, err := replay.Raw(ctx, js, replay.Options{ID: "dry", DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pings != len(up)+len(down) || rep.Skipped != republished {
		t.Errorf("dry-run replay: %+v, want %d pings and %d re-published copies skipped", rep, len(up)+len(down), republished)
	}
}
