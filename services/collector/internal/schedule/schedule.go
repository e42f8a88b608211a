// Package schedule derives the weekly Service Ping time from the instance
// UUID as GitLab's cron job initializer does: minute = SHA256(uuid+"minute")
// mod 60, hour = SHA256(uuid+"hour") mod 24, weekday = SHA256(uuid) mod 7
// (0 = Sunday, cron numbering), all in UTC.
package schedule

import (
	"crypto/sha256"
	"math/big"
	"time"
)

// Weekly is a weekly point in time.
type Weekly struct {
	Weekday      time.Weekday
	Hour, Minute int
}

func mod(s string, n int64) int {
	sum := sha256.Sum256([]byte(s))
	return int(new(big.Int).Mod(new(big.Int).SetBytes(sum[:]), big.NewInt(n)).Int64())
}

// ForUUID is the instance's slot.
func ForUUID(uuid string) Weekly {
	return Weekly{Weekday: time.Weekday(mod(uuid, 7)), Hour: mod(uuid+"hour", 24), Minute: mod(uuid+"minute", 60)}
}

// Next is the first slot strictly after t.
func (w Weekly) Next(t time.Time) time.Time {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), w.Hour, w.Minute, 0, 0, time.UTC)
	delta := (int(w.Weekday) - int(t.Weekday()) + 7) % 7
	next := day.AddDate(0, 0, delta)
	if !next.After(t) {
		next = next.AddDate(0, 0, 7)
	}
	return next
}

// Cron renders the slot as a cron expression (GitLab stores it this way).
func (w Weekly) Cron() string {
	return itoa(w.Minute) + " " + itoa(w.Hour) + " * * " + itoa(int(w.Weekday))
}

func itoa(i int) string { return big.NewInt(int64(i)).String() }
