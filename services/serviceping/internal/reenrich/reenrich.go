// Package reenrich finds the pings whose enrichment failed (the warehouse
// rows with enrichment_status = 'failed') and sends them through the
// enricher again. The re-enriched rows carry a newer version, so the
// warehouse's ReplacingMergeTree keeps them instead of the failed ones.
package reenrich

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/pkg/tables"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
)

// failedSQL lists failed pings (the status name is the first parameter);
// FINAL so a ping re-enriched since is not listed.
const failedSQL = `SELECT ping_id, usage_data_id, received_at, payload
FROM ` + tables.Pings + ` FINAL
WHERE enrichment_status = ? AND received_at >= ?
ORDER BY received_at`

// Failed returns the failed pings received at or after since, as raw pings
// ready to be re-published (the payload is the one stored byte for byte).
func Failed(ctx context.Context, conn driver.Conn, since time.Time) ([]*servicepingv1.RawPing, error) {
	failed := streams.StatusName(servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_FAILED)
	rows, err := conn.Query(ctx, failedSQL, failed, since)
	if err != nil {
		return nil, fmt.Errorf("list failed pings: %w", err)
	}
	defer rows.Close()
	var out []*servicepingv1.RawPing
	for rows.Next() {
		var (
			id         string
			usageData  int64
			receivedAt time.Time
			payload    string
		)
		if err := rows.Scan(&id, &usageData, &receivedAt, &payload); err != nil {
			return nil, fmt.Errorf("scan failed ping: %w", err)
		}
		var root struct {
			UUID       string `json:"uuid"`
			RecordedAt string `json:"recorded_at"`
		}
		// The identity fields are informational here: the enricher reads
		// the payload itself. A payload that does not decode still goes back
		// to the enricher, which dead-letters it with the reason.
		_ = json.Unmarshal([]byte(payload), &root)
		out = append(out, &servicepingv1.RawPing{
			PingId: id, UsageDataId: usageData, Uuid: root.UUID, RecordedAt: root.RecordedAt,
			ReceivedAt: timestamppb.New(receivedAt), Payload: []byte(payload), Source: "reenrich",
		})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list failed pings: %w", err)
	}
	return out, nil
}

// Republish sends every ping to the enricher again under reenrichID and
// returns how many were published.
func Republish(ctx context.Context, js jetstream.JetStream, pings []*servicepingv1.RawPing, reenrichID string) (int, error) {
	for i, p := range pings {
		if err := streams.Republish(ctx, js, p, reenrichID); err != nil {
			return i, err
		}
	}
	return len(pings), nil
}
