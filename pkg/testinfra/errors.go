package testinfra

import (
	"strings"
	"testing"
)

// ErrorSays fails tb unless err is an error whose text contains each of
// want; what names the call that returned err, for the failure message.
func ErrorSays(tb testing.TB, what string, err error, want ...string) {
	tb.Helper()
	if err == nil {
		tb.Errorf("%s = nil, want an error saying %q", what, want)
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			tb.Errorf("%s = %v, want it to say %q", what, err, w)
		}
	}
}
