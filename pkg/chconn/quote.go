package chconn

import "strings"

// Quote is s as a ClickHouse string literal: in single quotes, with
// backslashes and single quotes escaped.
func Quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
