package warehouse_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/serviceping/serviceping/services/loader/lake"
	"github.com/serviceping/serviceping/services/loader/rows"
	"github.com/serviceping/serviceping/services/loader/warehouse"
)

// TestWriteFromLakeSameAsWrite: a batch the server reads from its lake
// files leaves every table exactly as the same batch sent row by row —
// compared column by column, nulls and the pings spread over two lake days
// and two months included — and writing it again (a retry, a redelivery
// batched the same way) adds no row, not even before a merge.
func TestWriteFromLakeSameAsWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	recs := records(t, 0, 8, 1)
	// Two received days and two recorded months in one batch; half the
	// pings with a DevOps Score.
	for i := range recs {
		p := &recs[i].Ping
		if i%2 == 0 {
			p.ReceivedAt = p.ReceivedAt.Add(24 * time.Hour)
			p.RecordedAt = p.RecordedAt.AddDate(0, -1, 0)
		}
		if i%2 == 1 {
			sc := &rows.DevOpsScore{PingID: p.PingID, UsageDataID: p.UsageDataID, UUID: p.UUID, RecordedAt: p.RecordedAt,
				ReceivedAt: p.ReceivedAt, ActiveUserCount: int64(10 * i), LeadersInstances: 3, RowVersion: p.RowVersion}
			sc.Leader[0], sc.Instance[0], sc.Percentage[0] = 2.5, float64(i), 40
			recs[i].Score = sc
		}
	}
	b := rows.NewBatch(recs)
	if len(b.Partitions()) != 2 {
		t.Fatalf("the batch spans %d lake days, want 2", len(b.Partitions()))
	}
	dir, err := lake.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := dir.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	sent := openSink(t, "wh_sent", warehouse.Options{})
	read := openSink(t, "wh_fromlake", warehouse.Options{})
	if err := sent.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	files := warehouse.DirFiles{Root: dir.Root()}
	for range 2 {
		if err := read.WriteFromLake(ctx, b, files); err != nil {
			t.Fatal(err)
		}
	}
	for _, table := range []string{"pings", "ping_metrics", "devops_scores"} {
		// Every column, in a canonical order; no FINAL: a duplicate would show.
		q := "SELECT groupArray(cityHash64(toString(tuple(*)))) FROM (SELECT * FROM DB." + table + " ORDER BY ALL)"
		got, want := hashes(t, read, q), hashes(t, sent, q)
		if n := count(t, sent, "SELECT count() FROM DB."+table); len(want) != int(n) || n == 0 {
			t.Fatalf("%s: %d hashes of %d rows sent", table, len(want), n)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: read from the lake %d rows, sent %d rows, and they differ", table, len(got), len(want))
		}
	}
	checkCount(t, read, "SELECT count() FROM DB.pings", 8)
	checkCount(t, sent, "SELECT count() FROM DB.devops_scores", 4)
	checkCount(t, read, "SELECT uniqExact(toYYYYMM(recorded_at)) FROM DB.ping_metrics", 2)
}

func hashes(t *testing.T, s *warehouse.Sink, sql string) []uint64 {
	t.Helper()
	var out []uint64
	if err := s.Conn().QueryRow(context.Background(), strings.ReplaceAll(sql, "DB.", s.Database()+".")).Scan(&out); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}
