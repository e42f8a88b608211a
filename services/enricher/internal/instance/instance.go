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

	"github.com/go-json-experiment/json/jsontext"

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
	r, err := scanRoot(payload)
	if err != nil {
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

// scanRoot reads the root object's members in one pass, keeping the raw
// values of the promoted fields and skipping everything else without
// decoding it. The gateway validated the payload strictly (duplicates,
// UTF-8) before it was published, so those checks are not repeated here:
// they cost more than the whole scan.
func scanRoot(payload []byte) (root, error) {
	var r root
	dec := jsontext.NewDecoder(bytes.NewReader(payload),
		jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	tok, err := dec.ReadToken()
	if err != nil {
		return r, err
	}
	if tok.Kind() != '{' {
		return r, fmt.Errorf("payload is a JSON %s, not an object", kindName(tok.Kind()))
	}
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return r, err
		}
		dst := r.field(name.String())
		if dst == nil {
			if err := dec.SkipValue(); err != nil {
				return r, err
			}
			continue
		}
		v, err := dec.ReadValue()
		if err != nil {
			return r, err
		}
		*dst = bytes.Clone(v)
	}
	if _, err := dec.ReadToken(); err != nil {
		return r, err
	}
	return r, nil
}

// field is where the raw value of a promoted member goes; nil for the rest.
func (r *root) field(name string) *json.RawMessage {
	switch name {
	case "uuid":
		return &r.UUID
	case "hostname":
		return &r.Hostname
	case "version":
		return &r.Version
	case "edition":
		return &r.Edition
	case "installation_type":
		return &r.InstallationType
	case "recorded_at":
		return &r.RecordedAt
	case "active_user_count":
		return &r.ActiveUserCount
	case "license_md5":
		return &r.LicenseMD5
	case "license_sha256":
		return &r.LicenseSHA256
	case "license_id":
		return &r.LicenseID
	case "license_plan":
		return &r.LicensePlan
	case "license_user_count":
		return &r.LicenseUserCount
	case "license_starts_at":
		return &r.LicenseStartsAt
	case "license_expires_at":
		return &r.LicenseExpiresAt
	case "license_trial":
		return &r.LicenseTrial
	case "license_subscription_id":
		return &r.LicenseSubscriptionID
	case "counts":
		return &r.Counts
	}
	return nil
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '[':
		return "array"
	case '"':
		return "string"
	case 'n':
		return "null"
	case 't', 'f':
		return "boolean"
	default:
		return "number"
	}
}

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
