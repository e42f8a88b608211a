// Package rows maps enriched pings to the rows of the warehouse and lake
// tables pings, ping_metrics and devops_scores (docs/contracts.md,
// "Warehouse (ClickHouse)" and "Lake (Parquet)"), and groups them into the
// batches the loader hands to its sinks: Batch for the PINGS stream,
// ReportBatch for the REPORTS stream. The struct tags are the Parquet schema
// of the lake files; a ClickHouse sink maps the same fields to the same
// column names. The table names are those of package tables.
package rows

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/serviceping/serviceping/pkg/streams"
	"github.com/serviceping/serviceping/services/loader/internal/flatten"

	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
)

// Ping is one row of the pings table. Optional columns are null when the
// ping does not carry the value: string columns tagged optional are null
// when empty; license_user_count, license_trial and the license dates are
// null when the ping has no license (no md5, sha256 or id) or the date is
// not YYYY-MM-DD.
type Ping struct {
	PingID           string    `parquet:"ping_id"`
	UsageDataID      int64     `parquet:"usage_data_id"`
	UUID             string    `parquet:"uuid"`
	Hostname         string    `parquet:"hostname,optional"`
	Version          string    `parquet:"version,dict"`
	Edition          string    `parquet:"edition,optional,dict"`
	InstallationType string    `parquet:"installation_type,optional,dict"`
	RecordedAt       time.Time `parquet:"recorded_at,timestamp(microsecond)"`
	ReceivedAt       time.Time `parquet:"received_at,timestamp(microsecond)"`
	ActiveUserCount  *int64    `parquet:"active_user_count,optional"`
	LicenseMD5       string    `parquet:"license_md5,optional"`
	LicenseSHA256    string    `parquet:"license_sha256,optional"`
	LicenseID        string    `parquet:"license_id,optional"`
	LicensePlan      string    `parquet:"license_plan,optional,dict"`
	LicenseUserCount *int64    `parquet:"license_user_count,optional"`
	LicenseStartsAt  *Date     `parquet:"license_starts_at,date"`
	LicenseExpiresAt *Date     `parquet:"license_expires_at,date"`
	LicenseTrial     *bool     `parquet:"license_trial,optional"`
	SubscriptionID   string    `parquet:"subscription_id,optional"`
	AccountID        string    `parquet:"account_id,optional"`
	// EnrichmentStatus is the status's streams.StatusName.
	EnrichmentStatus string `parquet:"enrichment_status,dict"`
	// Payload is the JSON the instance sent, byte for byte.
	Payload string `parquet:"payload"`
	// RowVersion orders copies of a ping: a larger one replaces a smaller
	// one (ClickHouse ReplacingMergeTree(_version); lake readers keep the
	// largest per ping_id). See VersionOf.
	RowVersion uint64 `parquet:"_version"`
}

// Metric is one row of the ping_metrics table: one leaf of one ping (see
// package flatten for the rule). Value is null for strings, arrays,
// objects and nulls; ValueString is empty for numbers that float64
// represents and for booleans and nulls.
type Metric struct {
	PingID      string    `parquet:"ping_id,dict"`
	UUID        string    `parquet:"uuid,dict"`
	RecordedAt  time.Time `parquet:"recorded_at,timestamp(microsecond)"`
	KeyPath     string    `parquet:"key_path,dict"`
	Value       *float64  `parquet:"value,optional"`
	ValueString string    `parquet:"value_string"`
	ValueKind   string    `parquet:"value_kind,dict"`
	IsFallback  bool      `parquet:"is_fallback"`
	// RowVersion is the ping's RowVersion.
	RowVersion uint64 `parquet:"_version"`
}

// DevOpsScore is one row of the devops_scores table: the DevOps Score
// answered with a ping (docs/devops-score.md), with GitLab's 30 values in
// feature order.
type DevOpsScore struct {
	PingID             string
	UsageDataID        int64
	UUID               string
	RecordedAt         time.Time
	ReceivedAt         time.Time
	PreviousPingID     string
	PreviousRecordedAt time.Time
	ActiveUserCount    int64
	// LeadersComputedAt is nil when no leaders were known.
	LeadersComputedAt *time.Time
	LeadersInstances  uint32
	Leader            [10]float64
	Instance          [10]float64
	Percentage        [10]float64
	RowVersion        uint64
}

// Record is one ping ready to load: its pings row, its flattened leaves
// and, when the gateway answered one, its DevOps Score.
type Record struct {
	Ping   Ping
	Score  *DevOpsScore
	leaves []flatten.Leaf
}

// NumMetrics is the number of ping_metrics rows of the record.
func (r *Record) NumMetrics() int { return len(r.leaves) }

// AppendMetrics appends the record's ping_metrics rows to dst, in payload
// order. The rows' Value pointers point into the record.
func (r *Record) AppendMetrics(dst []Metric) []Metric {
	dst = slices.Grow(dst, len(r.leaves))
	for i := range r.leaves {
		l := &r.leaves[i]
		m := Metric{
			PingID:      r.Ping.PingID,
			UUID:        r.Ping.UUID,
			RecordedAt:  r.Ping.RecordedAt,
			KeyPath:     l.Path,
			ValueString: l.Text,
			ValueKind:   l.Kind.String(),
			IsFallback:  l.Fallback,
			RowVersion:  r.Ping.RowVersion,
		}
		if l.HasValue() {
			m.Value = &l.Value
		}
		dst = append(dst, m)
	}
	return dst
}

// DT is the lake partition of the record: the UTC date it was received.
// It comes from the stored message, so a replay lands in the same place.
func (r *Record) DT() string { return DT(r.Ping.ReceivedAt) }

// DT formats the dt=YYYY-MM-DD partition value of t (UTC).
func DT(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// ErrInvalid is wrapped by Build errors that no retry can fix.
var ErrInvalid = errors.New("invalid enriched ping")

// Builder builds records, sharing key path strings across pings. It is not
// safe for concurrent use.
type Builder struct {
	f    flatten.Flattener
	hint int // leaves of the last ping: sizes the next one's slice
}

// Build maps an enriched ping to its record. The record's Payload shares
// ep's payload bytes (a batch holds hundreds of 100 KB payloads: one copy
// is enough), which must not change while the record is in use. fallbackReceivedAt (the
// message's stream timestamp) is used when the envelope has no
// received_at. Errors wrap ErrInvalid.
func (b *Builder) Build(ep *servicepingv1.EnrichedPing, fallbackReceivedAt time.Time) (Record, error) {
	if ep.GetPingId() == "" {
		return Record{}, fmt.Errorf("%w: no ping_id", ErrInvalid)
	}
	inst := ep.GetInstance()
	if inst.GetRecordedAt() == nil {
		return Record{}, fmt.Errorf("%w: ping %s has no instance.recorded_at", ErrInvalid, ep.GetPingId())
	}
	leaves, err := b.f.Append(make([]flatten.Leaf, 0, b.hint+b.hint/8), ep.GetPayload())
	if err != nil {
		return Record{}, fmt.Errorf("%w: flatten payload of ping %s: %w", ErrInvalid, ep.GetPingId(), err)
	}
	b.hint = len(leaves)
	received := fallbackReceivedAt
	if ep.GetReceivedAt() != nil {
		received = ep.GetReceivedAt().AsTime()
	}
	if received.IsZero() {
		return Record{}, fmt.Errorf("%w: ping %s has no received_at", ErrInvalid, ep.GetPingId())
	}
	recorded := inst.GetRecordedAt().AsTime().UTC()
	if recorded.Before(MinTime) || !recorded.Before(MaxTime) {
		return Record{}, fmt.Errorf("%w: ping %s recorded_at %s is outside %s..%s", ErrInvalid, ep.GetPingId(),
			recorded.Format(time.RFC3339), MinTime.Format(time.DateOnly), MaxTime.Format(time.DateOnly))
	}
	p := Ping{
		PingID:           ep.GetPingId(),
		UsageDataID:      ep.GetUsageDataId(),
		UUID:             inst.GetUuid(),
		Hostname:         inst.GetHostname(),
		Version:          inst.GetVersion(),
		Edition:          inst.GetEdition(),
		InstallationType: inst.GetInstallationType(),
		RecordedAt:       recorded,
		ReceivedAt:       received.UTC(),
		EnrichmentStatus: streams.StatusName(ep.GetEnrichment().GetStatus()),
		SubscriptionID:   ep.GetEnrichment().GetSubscriptionId(),
		AccountID:        ep.GetEnrichment().GetAccountId(),
		Payload:          unsafe.String(unsafe.SliceData(ep.GetPayload()), len(ep.GetPayload())),
		RowVersion:       VersionOf(ep, received),
	}
	if inst.GetHasActiveUserCount() {
		n := inst.GetActiveUserCount()
		p.ActiveUserCount = &n
	}
	if lic := ep.GetLicense(); lic.GetMd5() != "" || lic.GetSha256() != "" || lic.GetId() != "" {
		p.LicenseMD5, p.LicenseSHA256, p.LicenseID = lic.GetMd5(), lic.GetSha256(), lic.GetId()
		p.LicensePlan = lic.GetPlan()
		n, trial := lic.GetUserCount(), lic.GetTrial()
		p.LicenseUserCount, p.LicenseTrial = &n, &trial
		p.LicenseStartsAt = date(lic.GetStartsAt())
		p.LicenseExpiresAt = date(lic.GetExpiresAt())
	}
	return Record{Ping: p, Score: scoreRow(ep.GetDevopsScore(), &p), leaves: leaves}, nil
}

// scoreRow maps the envelope's DevOps Score to its row; nil without one.
// Missing values are 0.
func scoreRow(s *servicepingv1.DevOpsScore, p *Ping) *DevOpsScore {
	if s == nil {
		return nil
	}
	r := &DevOpsScore{
		PingID: p.PingID, UsageDataID: p.UsageDataID, UUID: p.UUID, RecordedAt: p.RecordedAt, ReceivedAt: p.ReceivedAt,
		PreviousPingID: s.GetPreviousPingId(), ActiveUserCount: s.GetActiveUserCount(),
		LeadersInstances: s.GetLeadersInstances(), RowVersion: p.RowVersion,
	}
	if t := s.GetPreviousRecordedAt(); t != nil {
		r.PreviousRecordedAt = clampTime(t.AsTime())
	}
	if t := s.GetLeadersComputedAt(); t != nil {
		lc := clampTime(t.AsTime())
		r.LeadersComputedAt = &lc
	}
	copy(r.Leader[:], s.GetLeader())
	copy(r.Instance[:], s.GetInstance())
	copy(r.Percentage[:], s.GetPercentage())
	return r
}

// clampTime keeps t within MinTime..MaxTime (what the columns hold).
func clampTime(t time.Time) time.Time {
	t = t.UTC()
	if t.Before(MinTime) {
		return MinTime
	}
	if !t.Before(MaxTime) {
		return MaxTime.Add(-time.Millisecond)
	}
	return t
}

// MinTime and MaxTime bound the timestamps and dates the warehouse stores
// (ClickHouse DateTime64 and Date32 cover 1900-01-01 to 2299-12-31): a
// ping recorded outside is invalid, a license date outside is null.
var (
	MinTime = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
)

// VersionOf is the version of an enriched ping's rows: its enrichment time
// in milliseconds since the epoch, or received (the receive time) when the
// envelope carries none. A re-enriched ping has a later enrichment time,
// so its rows replace the earlier ones; a re-delivered one has the same.
func VersionOf(ep *servicepingv1.EnrichedPing, received time.Time) uint64 {
	t := received
	if at := ep.GetEnrichment().GetEnrichedAt(); at != nil {
		t = at.AsTime()
	}
	return uint64(max(t.UnixMilli(), 0))
}

// Date is a calendar date as days since 1970-01-01 (Parquet DATE). It is
// an integer rather than a time.Time because parquet-go v0.32.0 encodes a
// time.Time field tagged date incorrectly.
type Date int32

// DateOf is the date of t in UTC.
func DateOf(t time.Time) Date {
	return Date(t.UTC().Truncate(24*time.Hour).Unix() / 86400)
}

// Time is midnight UTC of d.
func (d Date) Time() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

func (d Date) String() string { return d.Time().Format(time.DateOnly) }

// date parses a license date as sent: YYYY-MM-DD, or the date part of a
// timestamp. Anything else is null (the payload keeps the original).
func date(s string) *Date {
	if len(s) > len(time.DateOnly) {
		s = s[:len(time.DateOnly)]
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Before(MinTime) || !t.Before(MaxTime) {
		return nil
	}
	d := DateOf(t)
	return &d
}

// Batch is a set of records written and acknowledged together.
type Batch struct {
	// ID names the batch's files and insert tokens. It is derived from the
	// batch's ping_ids, so rewriting the same pings replaces the same
	// objects instead of adding new ones.
	ID string
	// Records holds one record per ping_id, ordered by recorded_at, then
	// ping_id.
	Records []Record
}

// NewBatch builds a batch from records in stream order: a ping_id seen
// twice keeps its last record.
func NewBatch(recs []Record) Batch {
	last := make(map[string]int, len(recs))
	for i, r := range recs {
		last[r.Ping.PingID] = i
	}
	out := make([]Record, 0, len(last))
	for i, r := range recs {
		if last[r.Ping.PingID] == i {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Record) int {
		return cmp.Or(a.Ping.RecordedAt.Compare(b.Ping.RecordedAt), strings.Compare(a.Ping.PingID, b.Ping.PingID))
	})
	ids := make([]string, len(out))
	for i, r := range out {
		ids[i] = r.Ping.PingID
	}
	return Batch{ID: BatchID(ids), Records: out}
}

// BatchID is the first 128 bits, in hex, of the SHA-256 of the sorted,
// newline-joined ping ids.
func BatchID(pingIDs []string) string {
	ids := slices.Sorted(slices.Values(pingIDs))
	h := sha256.New()
	for _, id := range ids {
		h.Write([]byte(id))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// NumMetrics is the number of ping_metrics rows in the batch.
func (b Batch) NumMetrics() int {
	n := 0
	for i := range b.Records {
		n += b.Records[i].NumMetrics()
	}
	return n
}

// Partition is the part of a batch that lands in one dt partition.
type Partition struct {
	DT      string
	Records []Record
}

// Partitions splits the batch by DT, in DT order; records keep the batch
// order.
func (b Batch) Partitions() []Partition {
	var parts []Partition
	idx := map[string]int{}
	for _, r := range b.Records {
		dt := r.DT()
		i, ok := idx[dt]
		if !ok {
			i = len(parts)
			idx[dt] = i
			parts = append(parts, Partition{DT: dt})
		}
		parts[i].Records = append(parts[i].Records, r)
	}
	slices.SortFunc(parts, func(a, b Partition) int { return strings.Compare(a.DT, b.DT) })
	return parts
}
