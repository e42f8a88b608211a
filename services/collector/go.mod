module github.com/serviceping/serviceping/services/collector

go 1.26.0

require (
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3
	gopkg.in/yaml.v3 v3.0.1
)

require golang.org/x/text v0.14.0 // indirect

replace (
	github.com/serviceping/serviceping/pkg => ../../pkg
	github.com/serviceping/serviceping/proto => ../../proto
)
