package lifecycle

import (
	"fmt"
	"net"
	"strings"
)

// IsLoopback reports a listen address whose host is localhost or a
// loopback IP: only this machine reaches it. An empty host (":8123"), an
// unspecified IP (0.0.0.0, ::) and any other name listen beyond.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// FreeLoopbackAddrs are n distinct loopback addresses (127.0.0.1:port) free
// now: each is listened on until all are chosen, so none is given twice,
// then released for the caller's servers to take.
func FreeLoopbackAddrs(n int) ([]string, error) {
	addrs := make([]string, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free loopback port: %w", err)
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}
