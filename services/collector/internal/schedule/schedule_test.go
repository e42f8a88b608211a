package schedule

import (
	"testing"
	"time"
)

func TestForUUIDAndNext(t *testing.T) {
	t.Parallel()
	w := ForUUID("0000000-0000-0000-0000-000000000000")
	if w != ForUUID("0000000-0000-0000-0000-000000000000") {
		t.Fatal("not deterministic")
	}
	if w.Minute < 0 || w.Minute > 59 || w.Hour < 0 || w.Hour > 23 {
		t.Fatalf("slot %+v", w)
	}
	from := time.Date(2025, 6, 11, 15, 0, 0, 0, time.UTC)
	n := w.Next(from)
	if !n.After(from) || n.Sub(from) > 7*24*time.Hour || n.Weekday() != w.Weekday || n.Hour() != w.Hour || n.Minute() != w.Minute {
		t.Fatalf("next %v for %+v", n, w)
	}
	if n2 := w.Next(n); n2.Sub(n) != 7*24*time.Hour {
		t.Fatalf("following slot %v", n2)
	}
	// Slots spread: 200 UUIDs hit most weekdays and hours.
	days, hours := map[time.Weekday]bool{}, map[int]bool{}
	for i := range 200 {
		s := ForUUID(time.Duration(i).String())
		days[s.Weekday], hours[s.Hour] = true, true
	}
	if len(days) != 7 || len(hours) < 20 {
		t.Fatalf("poor spread: %d days %d hours", len(days), len(hours))
	}
}
