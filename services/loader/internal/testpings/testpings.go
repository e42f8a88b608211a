// Package testpings builds EnrichedPing envelopes from generated pings for
// the loader's tests and benchmarks.
package testpings

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/serviceping/serviceping/pkg/ping"
	"github.com/serviceping/serviceping/pkg/pinggen"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
)

// Enriched returns the enriched envelope the enricher would publish for
// payload, received at receivedAt. It fails only on a payload that is not
// a JSON object with uuid and recorded_at strings.
func Enriched(payload []byte, receivedAt time.Time) (*servicepingv1.EnrichedPing, error) {
	var p struct {
		UUID             string  `json:"uuid"`
		Hostname         string  `json:"hostname"`
		Version          string  `json:"version"`
		Edition          string  `json:"edition"`
		InstallationType string  `json:"installation_type"`
		RecordedAt       string  `json:"recorded_at"`
		ActiveUserCount  *int64  `json:"active_user_count"`
		LicenseMD5       string  `json:"license_md5"`
		LicenseSHA256    string  `json:"license_sha256"`
		LicenseID        *int64  `json:"license_id"`
		LicensePlan      string  `json:"license_plan"`
		LicenseUserCount int64   `json:"license_user_count"`
		LicenseStartsAt  string  `json:"license_starts_at"`
		LicenseExpiresAt string  `json:"license_expires_at"`
		LicenseTrial     bool    `json:"license_trial"`
		SubscriptionID   *string `json:"license_subscription_id"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, fmt.Errorf("decode payload: %w", err)
	}
	rec, err := ping.ParseRecordedAt(p.RecordedAt)
	if err != nil {
		return nil, err
	}
	id := ping.ID(p.UUID, p.RecordedAt)
	udid, err := ping.UsageDataID(id)
	if err != nil {
		return nil, err
	}
	ep := &servicepingv1.EnrichedPing{
		PingId:      id,
		UsageDataId: udid,
		ReceivedAt:  timestamppb.New(receivedAt),
		Instance: &servicepingv1.Instance{
			Uuid: p.UUID, Hostname: p.Hostname, Version: p.Version, Edition: p.Edition,
			InstallationType: p.InstallationType, RecordedAt: timestamppb.New(rec),
		},
		License: &servicepingv1.License{
			Md5: p.LicenseMD5, Sha256: p.LicenseSHA256, Plan: p.LicensePlan, UserCount: p.LicenseUserCount,
			StartsAt: p.LicenseStartsAt, ExpiresAt: p.LicenseExpiresAt, Trial: p.LicenseTrial,
		},
		Enrichment: &servicepingv1.Enrichment{Status: servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_UNMATCHED, Reason: "test"},
		Payload:    payload,
		Source:     "api",
	}
	if p.ActiveUserCount != nil {
		ep.Instance.ActiveUserCount, ep.Instance.HasActiveUserCount = *p.ActiveUserCount, true
	}
	if p.LicenseID != nil {
		ep.License.Id = strconv.FormatInt(*p.LicenseID, 10)
	}
	if p.SubscriptionID != nil {
		ep.License.SubscriptionId = *p.SubscriptionID
		ep.Enrichment = &servicepingv1.Enrichment{
			Status: servicepingv1.EnrichmentStatus_ENRICHMENT_STATUS_MATCHED, SubscriptionId: *p.SubscriptionID,
			AccountId: "acct-" + p.UUID[:8], EnrichedAt: timestamppb.New(receivedAt),
		}
	}
	return ep, nil
}

// Generated returns the enriched envelope of generated ping (instance,
// week), received one hour after it was recorded.
func Generated(g *pinggen.Generator, instance, week int) (*servicepingv1.EnrichedPing, error) {
	payload := g.JSON(pinggen.Spec{Instance: instance, Week: week})
	rec, err := ping.ParseRecordedAt(pinggen.RecordedAt(week, instance))
	if err != nil {
		return nil, err
	}
	return Enriched(payload, rec.Add(time.Hour))
}
