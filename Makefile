# serviceping — the Makefile is the contract; CI (.ci/run) calls `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

MODULES  := deploy deploy/topology pkg proto services/gateway services/enricher services/loader services/serviceping services/collector
SERVICES := gateway enricher loader serviceping collector
BIN      := $(CURDIR)/bin
CACHE    ?= $(or $(SERVICEPING_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/serviceping)
# Developer tools (buf, protoc-gen-go) are pinned in tools/go.mod and built
# once per version into the cache, outside the repository.
TOOLBIN  := $(CACHE)/tools/$(shell sha256sum tools/go.sum | cut -c1-12)
GOTEST_FLAGS ?= -count=1 -shuffle=on -timeout=25m
# What `--version` prints after each binary's name.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: build run run-cluster nats-server chdb ui-assets test fuzz vet fmt lint tidy tidy-check proto proto-check tools deps bench bench-pipeline gowork-off clean help dbt client-suites superset test-dashboards soak

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build every binary into ./bin (VERSION stamps --version; default: git describe)
	@mkdir -p $(BIN)
	@for s in $(SERVICES); do (cd services/$$s && go build -ldflags '-X github.com/serviceping/serviceping/pkg/cli.version=$(VERSION)' -o $(BIN)/$$s .) || exit 1; done

run: build ui-assets ## start the all-in-one pipeline on embedded defaults, fed the demo pings; the dashboard on 127.0.0.1:8081
	@scripts/test-env.sh python >/dev/null # dbt's virtualenv: run builds the dashboard's marts after the demo
	@CHDB_LIB=$${CHDB_LIB:-$$(scripts/fetch-chdb.sh)} $(BIN)/serviceping run --data ./data

# The nats-server of make run-cluster: the version the code embeds (pkg/go.mod),
# built once into the cache.
NATS_SERVER_VERSION := $(shell awk '$$1 == "github.com/nats-io/nats-server/v2" {print $$2}' pkg/go.mod)
NATS_SERVER := $(CACHE)/nats-server/$(NATS_SERVER_VERSION)/nats-server

run-cluster: build nats-server ## the distributed topology as local processes: 3 NATS nodes, embedded ClickHouse, 2 of each stage (data/cluster)
	@CHDB_LIB=$${CHDB_LIB:-$$(scripts/fetch-chdb.sh)} $(BIN)/serviceping run-cluster --bin $(BIN) --nats-server $(NATS_SERVER) --data ./data/cluster $(RUN_CLUSTER_ARGS)

nats-server: ## build the pinned nats-server into the cache; prints its path
	@test -x $(NATS_SERVER) || (mkdir -p $(dir $(NATS_SERVER)) && GOWORK=off GOFLAGS= GOBIN=$(dir $(NATS_SERVER)) go install github.com/nats-io/nats-server/v2@$(NATS_SERVER_VERSION))
	@echo $(NATS_SERVER)

test: proto-check lint tidy-check gowork-off ## the whole suite against real parts (installs/starts what it needs), then a short fuzzing run
	@eval "$$(scripts/test-env.sh)" && go test $(GOTEST_FLAGS) work
	@scripts/fuzz.sh

fuzz: ## fuzz every FuzzXxx target for FUZZTIME each (default 3000x: executions); make test runs it
	@scripts/fuzz.sh

# The warehouse `make dbt` builds the analysts' models on: its database holds
# the loader's tables; models go to DBT_CLICKHOUSE_SCHEMA (serviceping_analytics).
CLICKHOUSE_URL ?= http://127.0.0.1:8123/serviceping

dbt: ## dbt build (models, seeds, tests) on CLICKHOUSE_URL (default: the all-in-one's endpoint); DBT_ARGS, DBT_VARS add to it
	@CLICKHOUSE_URL='$(CLICKHOUSE_URL)' scripts/dbt.sh build $(DBT_ARGS)

superset: ## Apache Superset with the dashboards of deploy/superset on 127.0.0.1:8088 over CLICKHOUSE_URL's marts (SUPERSET_ADMIN_USER/_PASSWORD, default admin/admin)
	@CLICKHOUSE_URL='$(CLICKHOUSE_URL)' deploy/superset/superset.sh serve

# The Superset dashboards in headless Chromium (build tag superset): minutes
# with a cold cache, so not part of `make test`; .ci/run runs it after it.
test-dashboards: ## make superset against a seeded warehouse, every dashboard opened in Chromium (screenshots: SERVICEPING_SCREENSHOTS)
	@eval "$$(scripts/test-env.sh chdb python chromium)" && cd services/loader && \
	  go vet -tags superset ./internal/dashdeploytest/ && \
	  go test -tags superset -count=1 -timeout=30m -run 'TestSuperset' ./internal/dashdeploytest/

client-suites: ## clickhouse-go's and clickhouse-connect's own test suites against the embedded endpoint (minutes; not part of test)
	@scripts/client-suites.sh $(SUITES)

# make soak: the fault test of make test (services/serviceping/internal/faulte2e)
# for longer and under more load; not part of test.
SOAK_ROUNDS ?= 3
SOAK_RATE   ?= 4
soak: ## kill -9 every stage under load, SOAK_ROUNDS rounds at SOAK_RATE pings/s (default 3 at 4); prints the recovery times
	@eval "$$(scripts/test-env.sh)" && cd services/serviceping && SERVICEPING_FAULT_ROUNDS=$(SOAK_ROUNDS) SERVICEPING_FAULT_RATE=$(SOAK_RATE) \
	  go test -run '^TestCrashRecovery$$' -count=1 -v -timeout=90m ./internal/faulte2e/

bench: ## the Go benchmarks quoted in the README
	@eval "$$(scripts/test-env.sh)" && go test -run='^$$' -bench=. -benchmem -count=1 -timeout=30m work

# make bench-pipeline: the pipeline against the HTTP and JetStream ceilings
# on this machine (serviceping bench); BENCH_BIN measures other builds'
# binaries with the same bench (DIR,DIR,…: each round measures them in turn),
# BENCH_ARGS adds flags (--pings, --rounds, --out).
BENCH_BIN ?= $(BIN)
bench-pipeline: build nats-server ## HTTP and JetStream ceilings, the gateway, the all-in-one and the distributed stages on 3,000 full-size pings: one markdown table (minutes; BENCH_BIN, BENCH_ARGS)
	@CHDB_LIB=$${CHDB_LIB:-$$(scripts/fetch-chdb.sh)} $(BIN)/serviceping bench --bin $(BENCH_BIN) --nats-server $(NATS_SERVER) $(BENCH_ARGS)

ui-assets: ## fetch the dashboard's chart library (pinned echarts from npm) into the cache once; prints its directory
	@scripts/fetch-ui-assets.sh

chdb: ## fetch chDB's libchdb.so (pinned npm package) into the cache once; prints its path
	@scripts/fetch-chdb.sh

deps: ## prepare PostgreSQL, Redis, MinIO, chDB, dbt, Chromium and the chart library; prints the exports tests read
	@scripts/test-env.sh

vet: ## go vet every module, and gofmt
	@go vet work
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed: $$out" >&2; exit 1; fi

gowork-off: ## every module builds on its own go.mod (GOWORK=off)
	@for m in $(MODULES); do (cd $$m && GOWORK=off go build ./...) || exit 1; done

tools: ## build the pinned buf and protoc-gen-go into the cache
	@mkdir -p $(TOOLBIN)
	@cd tools && GOWORK=off GOFLAGS= go build -o $(TOOLBIN)/ github.com/bufbuild/buf/cmd/buf google.golang.org/protobuf/cmd/protoc-gen-go

proto: tools ## regenerate Go from proto/
	@cd proto && PATH="$(TOOLBIN):$$PATH" buf lint && PATH="$(TOOLBIN):$$PATH" buf generate

proto-check: tools ## fail when the committed generated code is stale
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; cp -r proto "$$tmp/"; \
	  (cd "$$tmp/proto" && PATH="$(TOOLBIN):$$PATH" buf generate); \
	  if ! diff -r proto "$$tmp/proto" >/dev/null; then \
	    echo "proto/: generated Go is stale; run make proto" >&2; diff -r proto "$$tmp/proto" | head -20 >&2; exit 1; fi
	@echo "proto: generated Go is current"

lint: vet ## staticcheck (pinned) over every module
	@for m in $(MODULES); do (cd $$m && GOWORK=off go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...) || exit 1; done

# tools/ is left out: buf's test-only dependencies are not served by the proxy,
# so `go mod tidy` cannot run there; its go.sum is what `go get -tool` wrote.
tidy-check: ## fail when a module's go.mod/go.sum is not tidy
	@for m in $(MODULES); do (cd $$m && GOWORK=off go mod tidy -diff >/dev/null) || { echo "$$m: go.mod/go.sum not tidy; run make tidy" >&2; exit 1; }; done

tidy: ## go mod tidy in every module, then go work sync
	@for m in $(MODULES); do (cd $$m && GOWORK=off go mod tidy) || exit 1; done
	@go work sync

clean: ## remove build output (not the cache, not ./data)
	rm -rf $(BIN)
