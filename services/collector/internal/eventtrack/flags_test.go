package eventtrack

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestFeatureFlags: an event's own feature_flag and redis_hll_tracking
// switch unique tracking off (nothing recorded, no error, as GitLab drops
// the event), usage_data_api off makes the tracking endpoints answer 404,
// and usage_data_<event> off makes them answer 200 and record nothing.
func TestFeatureFlags(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tr := newTracker(t)
	tr.Registry.Add(Event{Name: "flagged", FeatureFlag: "track_flagged"})
	week := time.Date(2025, 6, 4, 0, 0, 0, 0, time.UTC) // inside the last complete week
	count := func(event string) int64 {
		t.Helper()
		at(tr, now)
		n, err := tr.UniqueCount(ctx, []string{event}, "user", "7d")
		must(t, err)
		return n
	}
	track := func(event, user string) {
		t.Helper()
		at(tr, week)
		must(t, tr.TrackUnique(ctx, event, "user", user))
	}

	tr.Flags = map[string]bool{"track_flagged": false}
	track("flagged", "1")
	track("users_viewing_x", "1")
	if count("flagged") != 0 || count("users_viewing_x") != 1 {
		t.Fatalf("event flag off: flagged %d, other %d", count("flagged"), count("users_viewing_x"))
	}
	tr.Flags = map[string]bool{"track_flagged": true, "redis_hll_tracking": false}
	track("flagged", "2")
	track("users_viewing_x", "2")
	if count("flagged") != 0 || count("users_viewing_x") != 1 {
		t.Fatalf("redis_hll_tracking off: flagged %d, other %d", count("flagged"), count("users_viewing_x"))
	}
	tr.Flags = nil
	track("flagged", "3")
	if count("flagged") != 1 {
		t.Fatalf("flags on: flagged %d", count("flagged"))
	}

	at(tr, week)
	srv := serveTracking(t, tr, "")
	post := func(body string) (int, string) {
		t.Helper()
		resp, err := http.Post(srv.URL+"/usage_data/increment_unique_users", "application/json", strings.NewReader(body))
		must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tr.Flags = map[string]bool{"usage_data_api": false}
	if code, body := post(`{"event":"users_viewing_x","user_id":7}`); code != http.StatusNotFound || !strings.Contains(body, "usage_data_api") {
		t.Errorf("usage_data_api off: %d %s", code, body)
	}
	tr.Flags = map[string]bool{"usage_data_users_viewing_x": false}
	if code, _ := post(`{"event":"users_viewing_x","user_id":7}`); code != http.StatusOK {
		t.Errorf("usage_data_<event> off: %d, want 200", code)
	}
	if n := count("users_viewing_x"); n != 1 {
		t.Errorf("usage_data_<event> off recorded: %d users", n)
	}
	tr.Flags = nil
	at(tr, week)
	if code, _ := post(`{"event":"users_viewing_x","user_id":7}`); code != http.StatusOK {
		t.Errorf("flags on: %d", code)
	}
	if n := count("users_viewing_x"); n != 2 {
		t.Errorf("flags on: %d users, want 2", n)
	}
}
