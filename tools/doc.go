// Package tools pins the developer tools (buf, protoc-gen-go) through go.mod
// tool directives; it is not part of go.work so their dependencies never
// reach the services' build graphs. Run them with
// `GOWORK=off go tool -modfile=tools/go.mod <tool>`.
package tools
