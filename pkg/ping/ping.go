// Package ping holds the identity rules of a Service Ping shared by every
// stage: the ping_id, the usage_data_id answered to the instance, and the
// accepted recorded_at formats; and the error report an instance sends
// when a submission fails.
package ping

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"
)

// ID is the lowercase hex SHA-256 of uuid + "\n" + recordedAt, with
// recordedAt exactly as sent. A resubmitted ping has the same ID everywhere.
func ID(uuid, recordedAt string) string {
	h := sha256.New()
	h.Write([]byte(uuid))
	h.Write([]byte{'\n'})
	h.Write([]byte(recordedAt))
	return hex.EncodeToString(h.Sum(nil))
}

// UsageDataID derives the positive integer answered as
// conv_index.usage_data_id from a ping ID: the first 53 bits of the hash,
// so it is stable for a resubmitted ping and exact in JSON consumers that
// use float64 (JavaScript, jq). It is never 0.
func UsageDataID(pingID string) (int64, error) {
	b, err := hex.DecodeString(pingID)
	if err != nil || len(b) < 8 {
		return 0, fmt.Errorf("ping id %q is not a hex SHA-256", pingID)
	}
	id := int64(binary.BigEndian.Uint64(b[:8]) >> 11)
	if id == 0 {
		id = 1
	}
	return id, nil
}

// recordedAtLayouts are tried in order: RFC 3339 (with optional fraction),
// GitLab's Ruby Time#to_s in UTC, and the same with a fraction.
var recordedAtLayouts = [...]string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05 UTC",
	"2006-01-02 15:04:05.999999999 UTC",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02T15:04:05.999999999Z0700",
}

// ParseRecordedAt parses recorded_at in the formats GitLab instances send.
func ParseRecordedAt(s string) (time.Time, error) {
	for _, layout := range recordedAtLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("recorded_at %q is neither RFC 3339 nor %q", s, "YYYY-MM-DD HH:MM:SS UTC")
}
