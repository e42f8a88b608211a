package lifecycle

import "testing"

func TestIsLoopback(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"127.0.0.1:8123": true, "127.9.9.9:0": true, "localhost:80": true, "LOCALHOST:80": true, "[::1]:8123": true,
		"0.0.0.0:8123": false, ":8123": false, "[::]:8123": false, "10.0.0.1:80": false, "db.internal:8123": false,
		"127.0.0.1": false, "": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
