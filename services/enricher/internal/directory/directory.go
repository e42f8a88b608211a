// Package directory talks to the business systems a ping is joined to: the
// Licenses application (license → subscription, last ping time) and the CRM
// (subscription → account, account usage). Two implementations exist: a
// PostgreSQL directory database (deploy/postgres/) and HTTP clients for the
// Licenses and CRM APIs (services/enricher/api/openapi.yaml).
//
// Errors are classified once, here: ErrNotFound is an answer, not a
// failure; errors marked with consume.Permanent cannot be fixed by retrying
// (a 4xx, a schema mismatch); every other error is transient.
package directory

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/serviceping/serviceping/pkg/consume"
)

// ErrNotFound reports that the directory does not know the license,
// subscription or account asked for.
var ErrNotFound = errors.New("not found")

// KeyKind names the field a license is identified by.
type KeyKind string

// The license identifiers a ping may carry, in order of preference.
const (
	KeyMD5    KeyKind = "md5"
	KeySHA256 KeyKind = "sha256"
	KeyID     KeyKind = "license_id"
)

// LicenseKey identifies a license.
type LicenseKey struct {
	Kind  KeyKind
	Value string
}

// KeyOf picks the license identifier of a ping: license_md5, else
// license_sha256, else license_id. ok is false when the ping has none.
func KeyOf(md5, sha256, id string) (key LicenseKey, ok bool) {
	switch {
	case md5 != "":
		return LicenseKey{KeyMD5, md5}, true
	case sha256 != "":
		return LicenseKey{KeySHA256, sha256}, true
	case id != "":
		return LicenseKey{KeyID, id}, true
	}
	return LicenseKey{}, false
}

// String is "kind:value", also the cache key suffix.
func (k LicenseKey) String() string { return string(k.Kind) + ":" + k.Value }

// numericID returns the license id as an integer; GitLab sends integers, so
// anything else cannot match.
func (k LicenseKey) numericID() (int64, bool) {
	n, err := strconv.ParseInt(k.Value, 10, 64)
	return n, err == nil
}

// License is what the Licenses application knows about a license.
type License struct {
	// SubscriptionID is empty when the license belongs to no subscription.
	SubscriptionID string `json:"subscription_id"`
	Plan           string `json:"plan,omitempty"`
	Seats          int64  `json:"seats,omitempty"`
}

// Account is the CRM account a subscription belongs to.
type Account struct {
	AccountID string `json:"account_id"`
	Name      string `json:"name,omitempty"`
}

// Usage is the usage summary pushed to the CRM for an account, one per
// ping; PingID is its idempotency key. It is also the JSON body of the
// serviceping.crm.usage messages.
type Usage struct {
	PingID         string    `json:"ping_id"`
	AccountID      string    `json:"account_id"`
	SubscriptionID string    `json:"subscription_id"`
	UUID           string    `json:"uuid"`
	Hostname       string    `json:"hostname,omitempty"`
	Version        string    `json:"version,omitempty"`
	Edition        string    `json:"edition,omitempty"`
	RecordedAt     time.Time `json:"recorded_at"`
	// ActiveUsers is nil when the ping did not report active_user_count.
	ActiveUsers  *int64 `json:"active_users"`
	LicenseSeats int64  `json:"license_seats"`
	Plan         string `json:"plan,omitempty"`
	// Counts holds a handful of headline counts (counts.projects, …) by
	// their key path; absent counts are left out.
	Counts map[string]int64 `json:"counts"`
}

// Validate checks the fields the CRM needs.
func (u Usage) Validate() error {
	var errs []error
	if u.PingID == "" {
		errs = append(errs, errors.New("usage has no ping_id"))
	}
	if u.AccountID == "" {
		errs = append(errs, errors.New("usage has no account_id"))
	}
	if u.RecordedAt.IsZero() {
		errs = append(errs, errors.New("usage has no recorded_at"))
	}
	return errors.Join(errs...)
}

// Transient reports whether retrying the operation that returned err may
// succeed: not a not-found answer, not a permanent error.
func Transient(err error) bool {
	return err != nil && !errors.Is(err, ErrNotFound) && !consume.IsPermanent(err) &&
		!errors.Is(err, context.Canceled)
}
