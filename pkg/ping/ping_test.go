package ping

import (
	"testing"
	"time"
)

func TestID(t *testing.T) {
	t.Parallel()
	// Computed independently: printf '%s\n%s' uuid recorded_at | sha256sum
	got := ID("0000000-0000-0000-0000-000000000000", "2020-04-17T07:43:54.162+00:00")
	const want = "b9045a66b56175402fb3b4b2c8efaa775980f5aba426641ce9ffa97f0a563694"
	if got != want {
		t.Fatalf("ID = %s, want %s", got, want)
	}
	if got == ID("0000000-0000-0000-0000-000000000000", "2020-04-17 07:43:54 UTC") {
		t.Fatal("ID must use recorded_at as sent")
	}
}

func TestUsageDataID(t *testing.T) {
	t.Parallel()
	id, err := UsageDataID(ID("u", "2024-01-01 00:00:00 UTC"))
	if err != nil {
		t.Fatal(err)
	}
	if id <= 0 || id >= 1<<53 {
		t.Fatalf("UsageDataID = %d, want in (0, 2^53)", id)
	}
	again, _ := UsageDataID(ID("u", "2024-01-01 00:00:00 UTC"))
	if again != id {
		t.Fatalf("UsageDataID not stable: %d vs %d", id, again)
	}
	if _, err := UsageDataID("zz"); err == nil {
		t.Fatal("UsageDataID accepted a non-hex id")
	}
}

func TestParseRecordedAt(t *testing.T) {
	t.Parallel()
	want := time.Date(2020, 4, 17, 7, 43, 54, 162_000_000, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2020-04-17T07:43:54.162+00:00", want, true},
		{"2020-04-17T09:43:54.162+02:00", want, true},
		{"2020-04-17 07:43:54.162 UTC", want, true},
		{"2020-04-17 07:43:54 UTC", want.Truncate(time.Second), true},
		{"2020-04-17T07:43:54Z", want.Truncate(time.Second), true},
		{"yesterday", time.Time{}, false},
		{"", time.Time{}, false},
		{"2020-13-17 07:43:54 UTC", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRecordedAt(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseRecordedAt(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if tt.ok && !got.Equal(tt.want) {
				t.Fatalf("ParseRecordedAt(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}
