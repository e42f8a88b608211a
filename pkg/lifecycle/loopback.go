package lifecycle

import (
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
