package eventtrack

import "net/http"

// RequireToken is requireToken for the collector's other token-protected
// routes (the instance API next to the ping).
func RequireToken(token string, next http.HandlerFunc) http.HandlerFunc {
	return requireToken(token, next)
}
