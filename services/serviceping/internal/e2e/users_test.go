package e2e_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/serviceping/serviceping/pkg/chconn"
	"github.com/serviceping/serviceping/pkg/chtest"
	"github.com/serviceping/serviceping/pkg/pinggen"
	"github.com/serviceping/serviceping/services/serviceping/internal/client"
	"github.com/serviceping/serviceping/services/serviceping/internal/pipelinetest"
)

// TestWarehouseUsers: with a writer's password and a read-only user, the
// all-in-one still loads every ping (its loader gets the writer's
// credentials), the endpoint refuses a request without them, and the
// read-only user reads the pings but writes nothing.
func TestWarehouseUsers(t *testing.T) {
	const writerPassword, readerPassword = "e2e-writer-pw", "e2e-reader-pw"
	p := pipelinetest.Start(t, map[string]string{
		"WAREHOUSE_USER": "loader", "WAREHOUSE_PASSWORD": writerPassword,
		"WAREHOUSE_READONLY_USER": "analyst", "WAREHOUSE_READONLY_PASSWORD": readerPassword,
	})
	if !strings.Contains(p.ClickHouseURL, "loader:"+writerPassword+"@") {
		t.Fatalf("the loader's warehouse URL %s lacks the writer's credentials", p.ClickHouseURL)
	}
	g, err := pinggen.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sender := client.Sender{HTTP: &http.Client{Timeout: 30 * time.Second}, GatewayURL: p.GatewayURL}
	for i := range 3 {
		resp, err := sender.Send(ctx, g.JSON(pinggen.Spec{Instance: 7100 + i, Week: 1}), false)
		if err != nil || resp.Status != http.StatusCreated {
			t.Fatalf("ping %d: %d %v", i, resp.Status, err)
		}
	}
	w := pipelinetest.Conn(t, p)
	const landed = "SELECT count() FROM (SELECT ping_id FROM serviceping.ping_metrics FINAL GROUP BY ping_id)"
	chtest.WaitCount(t, w, 2*time.Minute, 3, landed) // the pings loaded

	resp, err := http.Post(p.Embedded.URL+"/?query=SELECT+1", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-ClickHouse-Exception-Code") != "516" {
		t.Fatalf("a request without credentials: %d, code %q", resp.StatusCode, resp.Header.Get("X-ClickHouse-Exception-Code"))
	}

	r, err := chconn.Open(ctx, "http://analyst:"+readerPassword+"@"+strings.TrimPrefix(p.Embedded.URL, "http://")+"/serviceping")
	if err != nil {
		t.Fatalf("the read-only user: %v", err)
	}
	defer r.Close()
	var n uint64
	if err := r.QueryRow(ctx, landed).Scan(&n); err != nil || n != 3 {
		t.Fatalf("the read-only user counts %d pings (%v), want 3", n, err)
	}
	for _, sql := range []string{"TRUNCATE TABLE serviceping.ping_metrics", "DROP TABLE serviceping.pings", "INSERT INTO serviceping.pings (ping_id) VALUES ('x')"} {
		var ex *clickhouse.Exception
		if err := r.Exec(ctx, sql); !errors.As(err, &ex) || ex.Code != 164 {
			t.Errorf("the read-only user's %s: %v, want code 164", sql, err)
		}
	}
	if err := w.QueryRow(ctx, landed).Scan(&n); err != nil || n != 3 {
		t.Fatalf("after the read-only user: %d pings (%v), want 3", n, err)
	}
}
