package rows

import (
	"errors"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
)

func envelope(id string, received time.Time) *servicepingv1.EnrichedPing {
	return &servicepingv1.EnrichedPing{
		PingId:     id,
		ReceivedAt: timestamppb.New(received),
		Instance: &servicepingv1.Instance{
			Uuid: "u-1", Hostname: "h", Version: "18.0.1", Edition: "EEP", InstallationType: "omnibus-gitlab",
			RecordedAt: timestamppb.New(time.Date(2026, 1, 5, 10, 0, 0, 123456789, time.UTC)), ActiveUserCount: 0, HasActiveUserCount: true,
		},
		License: &servicepingv1.License{
			Md5: "m", Sha256: "s", Id: "42", Plan: "premium", UserCount: 10,
			StartsAt: "2026-01-01", ExpiresAt: "2027-01-01T00:00:00Z", Trial: true,
		},
		Enrichment: &servicepingv1.Enrichment{Status: servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_PARTIAL, SubscriptionId: "sub"},
		Payload:    []byte(`{"uuid":"u-1","counts":{"issues":-1,"x":"y"},"a":[1, 2]}`),
	}
}

func TestBuild(t *testing.T) {
	t.Parallel()
	recv := time.Date(2026, 1, 5, 23, 59, 59, 999999000, time.FixedZone("x", 3600))
	streamTime := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	var b Builder

	r, err := b.Build(envelope("p1", recv), streamTime)
	if err != nil {
		t.Fatal(err)
	}
	p := r.Ping
	if p.PingID != "p1" || p.UUID != "u-1" || p.Version != "18.0.1" || p.EnrichmentStatus != "partial" ||
		p.SubscriptionID != "sub" || p.AccountID != "" || p.LicenseID != "42" || p.LicensePlan != "premium" {
		t.Errorf("scalar fields: %+v", p)
	}
	if p.ActiveUserCount == nil || *p.ActiveUserCount != 0 {
		t.Errorf("active_user_count 0 present must stay 0, got %v", p.ActiveUserCount)
	}
	if p.LicenseStartsAt == nil || p.LicenseStartsAt.String() != "2026-01-01" || p.LicenseExpiresAt.String() != "2027-01-01" {
		t.Errorf("license dates: %v %v", p.LicenseStartsAt, p.LicenseExpiresAt)
	}
	if p.LicenseTrial == nil || !*p.LicenseTrial || *p.LicenseUserCount != 10 {
		t.Errorf("license trial/user count: %v %v", p.LicenseTrial, p.LicenseUserCount)
	}
	if p.ReceivedAt.Location() != time.UTC || !p.ReceivedAt.Equal(recv) || r.DT() != "2026-01-05" {
		t.Errorf("received_at %v dt %s", p.ReceivedAt, r.DT())
	}
	if p.Payload != string(envelope("p1", recv).Payload) {
		t.Error("payload not kept byte for byte")
	}
	ms := r.AppendMetrics(nil)
	if len(ms) != 4 || r.NumMetrics() != 4 {
		t.Fatalf("metrics: %+v", ms)
	}
	if m := ms[1]; m.KeyPath != "counts.issues" || m.Value == nil || *m.Value != -1 || !m.IsFallback || m.ValueKind != "number" ||
		m.PingID != "p1" || m.UUID != "u-1" || !m.RecordedAt.Equal(p.RecordedAt) {
		t.Errorf("metric 1: %+v", m)
	}
	if m := ms[2]; m.Value != nil || m.ValueString != "y" || m.ValueKind != "string" {
		t.Errorf("metric 2: %+v", m)
	}
	if m := ms[3]; m.Value != nil || m.ValueString != "[1,2]" || m.ValueKind != "array" {
		t.Errorf("metric 3: %+v", m)
	}

	// No license, no active_user_count, no received_at: nulls and the stream time.
	ep := envelope("p2", recv)
	ep.License = nil
	ep.Instance.HasActiveUserCount = false
	ep.ReceivedAt = nil
	r, err = b.Build(ep, streamTime)
	if err != nil {
		t.Fatal(err)
	}
	if p := r.Ping; p.LicenseMD5 != "" || p.LicenseUserCount != nil || p.LicenseTrial != nil || p.LicenseStartsAt != nil ||
		p.ActiveUserCount != nil || !p.ReceivedAt.Equal(streamTime) {
		t.Errorf("absent fields: %+v", p)
	}
	ep = envelope("p3", recv)
	ep.License.StartsAt, ep.License.ExpiresAt = "soon", ""
	if r, _ = b.Build(ep, streamTime); r.Ping.LicenseStartsAt != nil || r.Ping.LicenseExpiresAt != nil {
		t.Errorf("unparseable dates must be null: %v %v", r.Ping.LicenseStartsAt, r.Ping.LicenseExpiresAt)
	}
}

func TestBuildInvalid(t *testing.T) {
	t.Parallel()
	recv := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	tests := map[string]func(*servicepingv1.EnrichedPing){
		"no ping_id":          func(ep *servicepingv1.EnrichedPing) { ep.PingId = "" },
		"no instance":         func(ep *servicepingv1.EnrichedPing) { ep.Instance = nil },
		"no recorded_at":      func(ep *servicepingv1.EnrichedPing) { ep.Instance.RecordedAt = nil },
		"payload not object":  func(ep *servicepingv1.EnrichedPing) { ep.Payload = []byte(`[1]`) },
		"payload truncated":   func(ep *servicepingv1.EnrichedPing) { ep.Payload = ep.Payload[:10] },
		"no received_at time": func(ep *servicepingv1.EnrichedPing) { ep.ReceivedAt = nil },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ep := envelope("p", recv)
			mutate(ep)
			var b Builder
			if _, err := b.Build(ep, time.Time{}); !errors.Is(err, ErrInvalid) {
				t.Errorf("Build = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestNewBatch(t *testing.T) {
	t.Parallel()
	day := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	rec := func(id string, recorded, received time.Time, payload string) Record {
		return Record{Ping: Ping{PingID: id, RecordedAt: recorded, ReceivedAt: received, Payload: payload}}
	}
	in := []Record{
		rec("b", day.Add(2*time.Hour), day, "first"),
		rec("a", day.Add(2*time.Hour), day.Add(25*time.Hour), ""),
		rec("c", day.Add(time.Hour), day, ""),
		rec("b", day.Add(2*time.Hour), day, "second"),
	}
	b := NewBatch(in)
	var ids []string
	for _, r := range b.Records {
		ids = append(ids, r.Ping.PingID)
	}
	if !slices.Equal(ids, []string{"c", "a", "b"}) {
		t.Errorf("order = %v, want recorded_at then ping_id", ids)
	}
	if b.Records[2].Ping.Payload != "second" {
		t.Error("a repeated ping_id must keep its last record")
	}
	if b.ID != BatchID([]string{"a", "b", "c"}) || len(b.ID) != 32 {
		t.Errorf("ID %q", b.ID)
	}
	if NewBatch([]Record{in[2], in[1], in[0]}).ID != b.ID {
		t.Error("ID depends on input order")
	}
	if NewBatch(in[:2]).ID == b.ID {
		t.Error("different pings, same ID")
	}
	parts := b.Partitions()
	if len(parts) != 2 || parts[0].DT != "2026-01-05" || len(parts[0].Records) != 2 || parts[1].DT != "2026-01-06" {
		t.Errorf("partitions: %+v", parts)
	}
}

func TestDate(t *testing.T) {
	t.Parallel()
	d := DateOf(time.Date(2026, 1, 1, 23, 0, 0, 0, time.FixedZone("x", -3600)))
	if d.String() != "2026-01-02" || DateOf(d.Time()) != d {
		t.Errorf("DateOf = %v", d)
	}
}

func TestRowVersion(t *testing.T) {
	t.Parallel()
	recv := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	enriched := recv.Add(1500 * time.Millisecond)
	var b Builder

	ep := envelope("p1", recv)
	r, err := b.Build(ep, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Ping.RowVersion != uint64(recv.UnixMilli()) {
		t.Errorf("unenriched version %d, want the receive time %d", r.Ping.RowVersion, recv.UnixMilli())
	}
	ep.Enrichment.EnrichedAt = timestamppb.New(enriched)
	if r, err = b.Build(ep, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if r.Ping.RowVersion != uint64(enriched.UnixMilli()) {
		t.Errorf("enriched version %d, want %d", r.Ping.RowVersion, enriched.UnixMilli())
	}
	for _, m := range r.AppendMetrics(nil) {
		if m.RowVersion != r.Ping.RowVersion {
			t.Fatalf("metric %s version %d, want the ping's %d", m.KeyPath, m.RowVersion, r.Ping.RowVersion)
		}
	}
}

func TestWarehouseRange(t *testing.T) {
	t.Parallel()
	var b Builder
	for _, tt := range []struct {
		name     string
		recorded time.Time
		ok       bool
	}{
		{"1900", MinTime, true},
		{"before 1900", MinTime.Add(-time.Millisecond), false},
		{"2299", MaxTime.Add(-time.Millisecond), true},
		{"2300", MaxTime, false},
	} {
		ep := envelope("p", time.Now())
		ep.Instance.RecordedAt = timestamppb.New(tt.recorded)
		_, err := b.Build(ep, time.Time{})
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("%s: Build = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
	ep := envelope("p", time.Now())
	ep.License.StartsAt, ep.License.ExpiresAt = "1899-12-31", "2300-01-01"
	r, err := b.Build(ep, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Ping.LicenseStartsAt != nil || r.Ping.LicenseExpiresAt != nil {
		t.Errorf("license dates outside the warehouse range must be null: %v %v", r.Ping.LicenseStartsAt, r.Ping.LicenseExpiresAt)
	}
}
