# serviceping — the Makefile is the contract; CI (.ci/run) calls `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

MODULES  := pkg proto services/gateway services/enricher services/loader services/serviceping services/collector
SERVICES := gateway enricher loader serviceping collector
BIN      := bin
CACHE    ?= $(or $(SERVICEPING_CACHE),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/serviceping)
TOOL     := GOWORK=off go tool -modfile=$(CURDIR)/tools/go.mod
GOTEST_FLAGS ?= -count=1 -shuffle=on -timeout=20m

.PHONY: all build run test test-go test-race bench proto proto-check lint fmt tidy vet clean deps

all: build

## build: every binary into ./bin
build:
	@mkdir -p $(BIN)
	@for s in $(SERVICES); do (cd services/$$s && go build -o ../../$(BIN)/$$s .); done

## run: the all-in-one pipeline on embedded defaults, fed the demo pings
run: build
	@lib=$$(scripts/fetch-chdb.sh) && CHDB_LIB=$$lib ./$(BIN)/serviceping run --data ./data

## deps: prepare the real dependencies integration tests need (prints exports)
deps:
	@scripts/test-env.sh

## test: the whole suite against real parts (installs/starts what it needs)
test: proto-check vet
	@eval "$$(scripts/test-env.sh)" && go test $(GOTEST_FLAGS) work
	@$(MAKE) --no-print-directory test-gowork-off

## test-gowork-off: every service module builds on its own go.mod
test-gowork-off:
	@for m in $(MODULES); do (cd $$m && GOWORK=off go build ./...) || exit 1; done
	@echo "GOWORK=off build: ok"

## bench: the Go benchmarks whose figures the README quotes
bench:
	@eval "$$(scripts/test-env.sh)" && go test -run='^$$' -bench=. -benchmem -count=1 work

## proto: regenerate Go from proto/ with buf (tools pinned in tools/go.mod)
proto:
	@cd proto && PATH="$(CURDIR)/$(BIN)/tools:$$PATH" $(TOOL) buf generate
	@true

## proto-check: fail when the committed generated code is stale
proto-check: tools
	@tmp=$$(mktemp -d) && cp -r proto "$$tmp/" && (cd "$$tmp/proto" && PATH="$(CURDIR)/$(BIN)/tools:$$PATH" $(TOOL) buf generate) \
	  && diff -r -q proto "$$tmp/proto" >/dev/null || { echo "proto/: generated code is stale, run make proto" >&2; diff -r proto "$$tmp/proto" | head -20 >&2; rm -rf "$$tmp"; exit 1; }; rm -rf "$$tmp"
	@echo "proto: generated code is current"

.PHONY: tools
tools:
	@mkdir -p $(BIN)/tools && $(TOOL) -n protoc-gen-go >/dev/null 2>&1; \
	  GOWORK=off go build -modfile=tools/go.mod -o $(BIN)/tools/ google.golang.org/protobuf/cmd/protoc-gen-go

## vet: go vet over every module, gofmt check
vet:
	@go vet work
	@out=$$(gofmt -l $(MODULES)); [ -z "$$out" ] || { echo "gofmt needed:" $$out >&2; exit 1; }

## lint: vet + staticcheck (pinned)
lint: vet
	@GOWORK=off go run honnef.co/go/tools/cmd/staticcheck@2025.1.1 $(addprefix ./,$(addsuffix /...,$(MODULES))) || true

## tidy: go mod tidy in every module, then go work sync
tidy:
	@for m in $(MODULES); do (cd $$m && go mod tidy); done
	@go work sync

clean:
	rm -rf $(BIN)
