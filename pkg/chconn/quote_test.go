package chconn

import "testing"

func TestQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		``:              `''`,
		`plain`:         `'plain'`,
		`it's`:          `'it\'s'`,
		`C:\dir\`:       `'C:\\dir\\'`,
		`\'; DROP x; '`: `'\\\'; DROP x; \''`,
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}
