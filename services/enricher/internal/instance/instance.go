// Package instance lifts the instance and license fields GitLab puts at the
// root of a Service Ping into the enriched envelope. It is tolerant of the
// drift between GitLab versions: a number sent as a string, a null, a
// missing field all decode; only a payload that is not a JSON object, or a
// recorded_at that cannot be parsed, is an error.
package instance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/serviceping/serviceping/pkg/ping"
	servicepingv1 "github.com/serviceping/serviceping/proto/serviceping/v1"
)

// root holds the promoted fields; everything else in the payload is skipped.
type root struct {
	UUID                  json.RawMessage `json:"uuid"`
	Hostname              json.RawMessage `json:"hostname"`
	Version               json.RawMessage `json:"version"`
	Edition               json.RawMessage `json:"edition"`
	InstallationType      json.RawMessage `json:"installation_type"`
	RecordedAt            json.RawMessage `json:"recorded_at"`
	ActiveUserCount       json.RawMessage `json:"active_user_count"`
	LicenseMD5            json.RawMessage `json:"license_md5"`
	LicenseSHA256         json.RawMessage `json:"license_sha256"`
	LicenseID             json.RawMessage `json:"license_id"`
	LicensePlan           json.RawMessage `json:"license_plan"`
	LicenseUserCount      json.RawMessage `json:"license_user_count"`
	LicenseStartsAt       json.RawMessage `json:"license_starts_at"`
	LicenseExpiresAt      json.RawMessage `json:"license_expires_at"`
	LicenseTrial          json.RawMessage `json:"license_trial"`
	LicenseSubscriptionID json.RawMessage `json:"license_subscription_id"`
	Counts                json.RawMessage `json:"counts"`
}

// Fields are the promoted fields of a payload, plus its raw counts section
// for the headline counts of a CRM usage push.
type Fields struct {
	Instance *servicepingv1.Instance
	License  *servicepingv1.License
	// Counts is the payload's "counts" object as sent (nil when absent).
	Counts json.RawMessage
}

// Extract decodes the instance and license fields of a payload.
func Extract(payload []byte) (*servicepingv1.Instance, *servicepingv1.License, error) {
	f, err := Parse(payload)
	if err != nil {
		return nil, nil, err
	}
	return f.Instance, f.License, nil
}

// Parse decodes the instance and license fields and keeps the counts.
func Parse(payload []byte) (Fields, error) {
	var r root
	if err := json.Unmarshal(payload, &r); err != nil {
		return Fields{}, fmt.Errorf("decode payload root: %w", err)
	}
	recordedAt := text(r.RecordedAt)
	t, err := ping.ParseRecordedAt(recordedAt)
	if err != nil {
		return Fields{}, err
	}
	in := &servicepingv1.Instance{
		Uuid:             text(r.UUID),
		Hostname:         text(r.Hostname),
		Version:          text(r.Version),
		Edition:          text(r.Edition),
		InstallationType: text(r.InstallationType),
		RecordedAt:       timestamppb.New(t),
	}
	if n, ok := integer(r.ActiveUserCount); ok {
		in.ActiveUserCount, in.HasActiveUserCount = n, true
	}
	lic := &servicepingv1.License{
		Md5:            text(r.LicenseMD5),
		Sha256:         text(r.LicenseSHA256),
		Id:             text(r.LicenseID),
		Plan:           text(r.LicensePlan),
		StartsAt:       text(r.LicenseStartsAt),
		ExpiresAt:      text(r.LicenseExpiresAt),
		Trial:          boolean(r.LicenseTrial),
		SubscriptionId: text(r.LicenseSubscriptionID),
	}
	lic.UserCount, _ = integer(r.LicenseUserCount)
	f := Fields{Instance: in, License: lic}
	if c := bytes.TrimSpace(r.Counts); len(c) > 0 && c[0] == '{' {
		f.Counts = c
	}
	return f, nil
}

// HeadlineCounts are the counts a CRM usage push carries, by key in "counts".
var HeadlineCounts = []string{"projects", "issues", "merge_requests", "ci_pipelines", "ci_builds", "deployments", "groups", "ci_runners"}

// Headline returns the headline counts present in a counts object, keyed
// by their dotted path ("counts.projects"). Values that are not integers
// (or are fallbacks below zero) are left out.
func Headline(counts json.RawMessage) map[string]int64 {
	out := make(map[string]int64, len(HeadlineCounts))
	if len(counts) == 0 {
		return out
	}
	var c struct {
		Projects      json.RawMessage `json:"projects"`
		Issues        json.RawMessage `json:"issues"`
		MergeRequests json.RawMessage `json:"merge_requests"`
		CIPipelines   json.RawMessage `json:"ci_pipelines"`
		CIBuilds      json.RawMessage `json:"ci_builds"`
		Deployments   json.RawMessage `json:"deployments"`
		Groups        json.RawMessage `json:"groups"`
		CIRunners     json.RawMessage `json:"ci_runners"`
	}
	if json.Unmarshal(counts, &c) != nil {
		return out
	}
	for i, raw := range []json.RawMessage{c.Projects, c.Issues, c.MergeRequests, c.CIPipelines, c.CIBuilds, c.Deployments, c.Groups, c.CIRunners} {
		if n, ok := integer(raw); ok && n >= 0 {
			out["counts."+HeadlineCounts[i]] = n
		}
	}
	return out
}

var null = []byte("null")

// text renders a scalar as text: strings unquoted, numbers and booleans as
// written, null and absent as "".
func text(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, null) {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	if raw[0] == '{' || raw[0] == '[' {
		return ""
	}
	return string(raw)
}

// integer accepts a JSON number or a numeric string.
func integer(raw json.RawMessage) (int64, bool) {
	s := text(raw)
	if s == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f == float64(int64(f)) {
		return int64(f), true
	}
	return 0, false
}

func boolean(raw json.RawMessage) bool {
	b, err := strconv.ParseBool(text(raw))
	return err == nil && b
}
