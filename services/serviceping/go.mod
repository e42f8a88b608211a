module github.com/serviceping/serviceping/services/serviceping

go 1.26

require (
	github.com/serviceping/serviceping/pkg v0.0.0
	github.com/serviceping/serviceping/proto v0.0.0
	github.com/serviceping/serviceping/services/enricher v0.0.0
	github.com/serviceping/serviceping/services/gateway v0.0.0
	github.com/serviceping/serviceping/services/loader v0.0.0
)

replace (
	github.com/serviceping/serviceping/pkg => ../../pkg
	github.com/serviceping/serviceping/proto => ../../proto
	github.com/serviceping/serviceping/services/enricher => ../enricher
	github.com/serviceping/serviceping/services/gateway => ../gateway
	github.com/serviceping/serviceping/services/loader => ../loader
)
