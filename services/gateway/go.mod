module github.com/serviceping/serviceping/services/gateway

go 1.26

require (
	github.com/serviceping/serviceping/pkg v0.0.0
	github.com/serviceping/serviceping/proto v0.0.0
)

replace (
	github.com/serviceping/serviceping/pkg => ../../pkg
	github.com/serviceping/serviceping/proto => ../../proto
)
