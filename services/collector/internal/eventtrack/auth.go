package eventtrack

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// requireToken lets through the requests that carry token the way GitLab's
// REST API takes a personal access token: in the PRIVATE-TOKEN header, or as
// "Authorization: Bearer <token>". Others get GitLab's answer, 401
// {"message":"401 Unauthorized"}. GitLab's private_token URL parameter is not
// read: a token in a URL ends up in proxies' and servers' access logs. With
// an empty token every request passes (the collector refuses to listen
// beyond loopback then: collector.Config.Validate).
func requireToken(token string, next http.HandlerFunc) http.HandlerFunc {
	if token == "" {
		return next
	}
	want := sha256.Sum256([]byte(token))
	return func(w http.ResponseWriter, r *http.Request) {
		given, ok := presented(r)
		got := sha256.Sum256([]byte(given))
		if !ok || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"message":"401 Unauthorized"}` + "\n"))
			return
		}
		next(w, r)
	}
}

// presented is the token a request carries.
func presented(r *http.Request) (string, bool) {
	if t := r.Header.Get("PRIVATE-TOKEN"); t != "" {
		return t, true
	}
	scheme, t, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if ok && strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(t) != "" {
		return strings.TrimSpace(t), true
	}
	return "", false
}
