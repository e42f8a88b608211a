package eventtrack

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/serviceping/serviceping/services/collector/internal/testdeps"
)

// A Wednesday; the previous complete ISO week is 2025-W23 (June 2-8).
var now = time.Date(2025, 6, 11, 15, 0, 0, 0, time.UTC)

func newTracker(t *testing.T) *Tracker {
	rdb, prefix := testdeps.Redis(t)
	reg := NewRegistry()
	reg.Add(Event{Name: "users_creating_epics", RedisSlot: "users"})
	reg.Add(Event{Name: "users_viewing_x", RedisSlot: "users"})
	reg.Add(Event{Name: "daily_event", Aggregation: Daily})
	reg.Add(Event{Name: "pushes", Counter: CounterKey("source_code", "pushes", true)})
	reg.Add(Event{Name: "cli_used", Internal: true})
	clock := now
	return &Tracker{Redis: rdb, Registry: reg, Prefix: prefix, Now: func() time.Time { return clock }}
}

func at(t *Tracker, d time.Time) { t.Now = func() time.Time { return d } }

func TestKeysAndExpiry(t *testing.T) {
	t.Parallel()
	tr := newTracker(t)
	ctx := context.Background()
	if err := tr.TrackUnique(ctx, "users_creating_epics", "user", "1"); err != nil {
		t.Fatal(err)
	}
	key := tr.Prefix + "{users}_creating_epics-2025-24"
	ttl, err := tr.Redis.TTL(ctx, key).Result()
	if err != nil || ttl <= 41*24*time.Hour || ttl > WeeklyExpiry {
		t.Fatalf("key %s ttl %v err %v", key, ttl, err)
	}
	if err := tr.TrackUnique(ctx, "daily_event", "user", "1"); err != nil {
		t.Fatal(err)
	}
	key = tr.Prefix + "{daily_event}-2025-162"
	if ttl, _ := tr.Redis.TTL(ctx, key).Result(); ttl <= 28*24*time.Hour || ttl > DailyExpiry {
		t.Fatalf("daily key %s ttl %v", key, ttl)
	}
	if err := tr.TrackUnique(ctx, "nope", "user", "1"); err == nil {
		t.Fatal("unknown event accepted")
	}
}

func TestWindowsAndAggregates(t *testing.T) {
	t.Parallel()
	tr := newTracker(t)
	ctx := context.Background()
	// Week 2025-W23 (last complete week): epics users 1..10, viewers 6..15.
	at(tr, time.Date(2025, 6, 4, 0, 0, 0, 0, time.UTC))
	for i := 1; i <= 10; i++ {
		must(t, tr.TrackUnique(ctx, "users_creating_epics", "user", fmt.Sprint(i)))
		must(t, tr.TrackUnique(ctx, "users_viewing_x", "user", fmt.Sprint(i+5)))
	}
	// Week 2025-W21 (inside 28d, outside 7d): epics users 100..104.
	at(tr, time.Date(2025, 5, 21, 0, 0, 0, 0, time.UTC))
	for i := 100; i < 105; i++ {
		must(t, tr.TrackUnique(ctx, "users_creating_epics", "user", fmt.Sprint(i)))
	}
	// Current week (incomplete: excluded) and 6 weeks ago (outside).
	at(tr, now)
	must(t, tr.TrackUnique(ctx, "users_creating_epics", "user", "500"))
	at(tr, time.Date(2025, 4, 23, 0, 0, 0, 0, time.UTC))
	must(t, tr.TrackUnique(ctx, "users_creating_epics", "user", "600"))
	// Daily event: yesterday, 10 days ago, 30 days ago, today.
	for _, d := range []int{1, 10, 30, 0} {
		at(tr, now.AddDate(0, 0, -d))
		must(t, tr.TrackUnique(ctx, "daily_event", "user", fmt.Sprint(d)))
	}
	at(tr, now)
	cases := []struct {
		name string
		f    func() (int64, error)
		want int64
	}{
		{"epics 7d", func() (int64, error) { return tr.UniqueCount(ctx, []string{"users_creating_epics"}, "user", "7d") }, 10},
		{"epics 28d", func() (int64, error) { return tr.UniqueCount(ctx, []string{"users_creating_epics"}, "user", "28d") }, 15},
		{"OR 7d", func() (int64, error) {
			return tr.UniqueCount(ctx, []string{"users_creating_epics", "users_viewing_x"}, "user", "7d")
		}, 15},
		{"AND 7d", func() (int64, error) {
			return tr.Intersection(ctx, []string{"users_creating_epics", "users_viewing_x"}, "user", "7d")
		}, 5},
		{"AND 28d", func() (int64, error) {
			return tr.Intersection(ctx, []string{"users_creating_epics", "users_viewing_x"}, "user", "28d")
		}, 5},
		{"daily 7d", func() (int64, error) { return tr.UniqueCount(ctx, []string{"daily_event"}, "user", "7d") }, 1},
		{"daily 28d", func() (int64, error) { return tr.UniqueCount(ctx, []string{"daily_event"}, "user", "28d") }, 2},
	}
	for _, c := range cases {
		got, err := c.f()
		if err != nil || got != c.want {
			t.Errorf("%s: got %d err %v want %d", c.name, got, err, c.want)
		}
	}
}

func TestCountersAndTotals(t *testing.T) {
	t.Parallel()
	tr := newTracker(t)
	ctx := context.Background()
	for range 3 {
		must(t, tr.Increment(ctx, "pushes", 1))
	}
	if v, err := tr.Counter(ctx, "USAGE_SOURCE_CODE_PUSHES"); err != nil || v != 3 {
		t.Fatalf("counter %d %v", v, err)
	}
	at(tr, time.Date(2025, 6, 3, 0, 0, 0, 0, time.UTC)) // W23
	must(t, tr.Increment(ctx, "cli_used", 2))
	at(tr, time.Date(2025, 5, 14, 0, 0, 0, 0, time.UTC)) // W20
	must(t, tr.Increment(ctx, "cli_used", 5))
	at(tr, now)
	must(t, tr.Increment(ctx, "cli_used", 1))
	for tf, want := range map[string]int64{"7d": 2, "28d": 7, "all": 8} {
		if got, err := tr.TotalOf(ctx, []Selector{{Event: "cli_used"}}, tf); err != nil || got != want {
			t.Errorf("total %s = %d (%v), want %d", tf, got, err, want)
		}
	}
	if err := tr.Increment(ctx, "users_creating_epics", 1); err == nil {
		t.Fatal("HLL-only event incremented as counter")
	}
}

func TestHTTP(t *testing.T) {
	t.Parallel()
	tr := newTracker(t)
	srv := serveTracking(t, tr, "")
	post := func(path, body string) int {
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	cases := []struct {
		path, body string
		want       int
	}{
		{"/usage_data/increment_counter", `{"event":"pushes"}`, 200},
		{"/usage_data/increment_counter", `{"event":"cli_used"}`, 200},
		{"/usage_data/increment_counter", `{"event":"unknown"}`, 400},
		{"/usage_data/increment_counter", `{}`, 400},
		{"/usage_data/increment_counter", `not json`, 400},
		{"/usage_data/increment_unique_users", `{"event":"users_creating_epics","user_id":42}`, 200},
		{"/usage_data/increment_unique_users", `{"event":"users_creating_epics"}`, 400},
		{"/usage_data/increment_unique_users", `{"event":"bogus","user_id":1}`, 400},
	}
	for _, c := range cases {
		if got := post(c.path, c.body); got != c.want {
			t.Errorf("%s %s: %d want %d", c.path, c.body, got, c.want)
		}
	}
	ctx := context.Background()
	if v, _ := tr.Counter(ctx, "USAGE_SOURCE_CODE_PUSHES"); v != 1 {
		t.Errorf("counter after HTTP = %d", v)
	}
	if n, _ := tr.Redis.PFCount(ctx, tr.Prefix+"{users}_creating_epics-2025-24").Result(); n != 1 {
		t.Errorf("hll after HTTP = %d", n)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
