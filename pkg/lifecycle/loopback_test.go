package lifecycle

import (
	"net"
	"testing"
)

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

// TestFreeLoopbackAddrs: n distinct loopback addresses with a port each.
// (That a port is still free when the caller listens cannot be promised:
// another process may take it in between.)
func TestFreeLoopbackAddrs(t *testing.T) {
	t.Parallel()
	addrs, err := FreeLoopbackAddrs(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		_, port, err := net.SplitHostPort(a)
		if err != nil || port == "0" || seen[a] || !IsLoopback(a) {
			t.Fatalf("addresses %v: %s repeated, not loopback or without a port (%v)", addrs, a, err)
		}
		seen[a] = true
	}
	if len(addrs) != 5 {
		t.Fatalf("%d addresses, want 5", len(addrs))
	}
}
