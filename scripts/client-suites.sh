#!/usr/bin/env bash
# Runs the public test suites of two ClickHouse clients against the embedded
# warehouse endpoint (`serviceping warehouse`, pkg/chhttp) — what
# `make client-suites` does. Usage:
#
#   scripts/client-suites.sh [clickhouse-go] [clickhouse-connect]   (default: both)
#
# For each suite it builds bin/serviceping from the working tree into the
# cache, starts `serviceping warehouse` on a free loopback port with a fresh
# data directory (TZ=UTC, as the suites' own docker servers run), runs the
# suite against it, stops it and prints `<suite>: N passed, N failed, N
# skipped`. The failed tests, each with its first error line, are written to
# <cache>/client-suites/results/<suite>/failures.txt, the full output beside
# it. docs/warehouse-endpoint.md lists what fails and why.
#
#   clickhouse-go       the version pkg/go.mod requires; its `tests` package,
#                       from the Go module cache (`go mod download`), copied
#                       into the cache and patched so that its setup goes
#                       over HTTP (client-suites/clickhouse-go-http-setup.patch).
#                       The tests that talk HTTP run, each in its own process
#                       (client-suites/suites.py says which).
#   clickhouse-connect  the version client-suites/requirements.txt pins,
#                       installed from PyPI into a cached virtualenv; its
#                       tests/integration_tests, which the PyPI package does
#                       not ship, come from the client's git repository at the
#                       release's tag: CLICKHOUSE_CONNECT_SOURCE names a clone
#                       (or bare repository) of it, else it is cloned from
#                       CLICKHOUSE_CONNECT_GIT into the cache.
#
#   CLIENT_SUITES_TEST_TIMEOUT  seconds one test may take (default 120)
#   SERVICEPING_CACHE           cache root (default ~/.cache/serviceping)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
HERE=$REPO/scripts/client-suites
CACHE=${SERVICEPING_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/serviceping}
WORK=$CACHE/client-suites
TIMEOUT=${CLIENT_SUITES_TEST_TIMEOUT:-120}
export CLIENT_SUITES_TEST_TIMEOUT=$TIMEOUT
CLICKHOUSE_CONNECT_GIT=${CLICKHOUSE_CONNECT_GIT:-https://github.com/ClickHouse/clickhouse-connect.git}
log() { echo "client-suites: $*" >&2; }
mkdir -p "$WORK"

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(clickhouse-go clickhouse-connect)
for s in "${suites[@]}"; do
	case $s in
	clickhouse-go | clickhouse-connect) ;;
	*) log "unknown suite $s (want clickhouse-go or clickhouse-connect)"; exit 2 ;;
	esac
done

eval "$("$REPO/scripts/test-env.sh" chdb)"
log "building serviceping"
(cd "$REPO" && go build -o "$WORK/bin/serviceping" ./services/serviceping)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_endpoint SUITE: a fresh endpoint for one suite; sets PORT.
server_pid=
server_dir=
start_endpoint() {
	server_dir=$(mktemp -d "$WORK/endpoint.XXXXXX")
	PORT=$(free_port)
	TZ=UTC "$WORK/bin/serviceping" warehouse --listen "127.0.0.1:$PORT" --path "$server_dir/data" \
		>"$RESULTS/$1/endpoint.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 600); do
		if curl -fsS "http://127.0.0.1:$PORT/ping" >/dev/null 2>&1; then
			log "$1: endpoint on 127.0.0.1:$PORT (log: $RESULTS/$1/endpoint.log)"
			return
		fi
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	log "$1: the endpoint did not answer /ping; its log:"
	cat "$RESULTS/$1/endpoint.log" >&2
	exit 1
}
stop_endpoint() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
		server_pid=
	fi
	if [ -n "$server_dir" ]; then
		rm -rf "$server_dir"
		server_dir=
	fi
}
trap stop_endpoint EXIT

RESULTS=$WORK/results

# ------------------------------------------------------------- clickhouse-go
run_clickhouse_go() {
	local version dir src out=$RESULTS/clickhouse-go
	version=$(cd "$REPO/pkg" && go list -m -f '{{.Version}}' github.com/ClickHouse/clickhouse-go/v2)
	src=$(cd "$WORK" && GOWORK=off GOFLAGS= go mod download -json "github.com/ClickHouse/clickhouse-go/v2@$version" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
	dir=$WORK/clickhouse-go-$version
	rm -rf "$dir"
	cp -r "$src" "$dir"
	chmod -R u+w "$dir"
	(cd "$dir" && patch -s -p1 <"$HERE/clickhouse-go-http-setup.patch")
	log "clickhouse-go $version: building its tests"
	(cd "$dir" && GOWORK=off GOFLAGS= go test -c -o "$WORK/bin/clickhouse-go-tests" ./tests/)

	start_endpoint clickhouse-go
	log "clickhouse-go $version: running the tests that talk HTTP (${TIMEOUT}s each)"
	rm -f "$out/clickhouse-go.json"
	CLICKHOUSE_USE_DOCKER=false CLICKHOUSE_SETUP_PROTOCOL=http CLICKHOUSE_HOST=127.0.0.1 \
		CLICKHOUSE_HTTP_PORT=$PORT CLICKHOUSE_PORT=$(free_port) CLICKHOUSE_DIAL_TIMEOUT=5 \
		python3 "$HERE/suites.py" go-run "$dir/tests" "$WORK/bin/clickhouse-go-tests" "$out"
	stop_endpoint
}

# -------------------------------------------------------- clickhouse-connect
run_clickhouse_connect() {
	local req=$HERE/requirements.txt version venv dir src out=$RESULTS/clickhouse-connect
	version=$(sed -n 's/^clickhouse-connect==//p' "$req")
	venv=$WORK/venv-$(sha256sum "$req" | cut -c1-12)
	if [ ! -f "$venv/.complete" ]; then
		log "clickhouse-connect $version: creating the virtualenv (once)"
		rm -rf "$venv"
		python3 -m venv "$venv"
		"$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2
		touch "$venv/.complete"
	fi

	dir=$WORK/clickhouse-connect-$version
	if [ ! -f "$dir/.complete" ]; then
		rm -rf "$dir"
		mkdir -p "$dir"
		src=${CLICKHOUSE_CONNECT_SOURCE:-$WORK/clickhouse-connect.git}
		if [ ! -e "$src" ]; then
			log "clickhouse-connect $version: cloning $CLICKHOUSE_CONNECT_GIT (its tests are not in the PyPI package)"
			git clone -q --bare --depth 1 --branch "v$version" "$CLICKHOUSE_CONNECT_GIT" "$src" || {
				log "cannot clone $CLICKHOUSE_CONNECT_GIT: set CLICKHOUSE_CONNECT_SOURCE to a clone of it"
				exit 1
			}
		fi
		git -C "$src" archive "v$version" tests | tar -x -C "$dir"
		# The client's own pytest settings, less its `-n 4` (xdist).
		printf '[pytest]\nasyncio_default_fixture_loop_scope = session\n' >"$dir/pytest.ini"
		touch "$dir/.complete"
	fi

	start_endpoint clickhouse-connect
	log "clickhouse-connect $version: running tests/integration_tests (${TIMEOUT}s each)"
	(cd "$dir" && CLICKHOUSE_CONNECT_TEST_HOST=127.0.0.1 CLICKHOUSE_CONNECT_TEST_PORT=$PORT \
		"$venv/bin/python" -m pytest -p no:cacheprovider -q --timeout "$TIMEOUT" \
		--junitxml "$out/junit.xml" tests/integration_tests >"$out/pytest.log" 2>&1) || true
	python3 "$HERE/suites.py" py-report "$out/junit.xml" "$out"
	stop_endpoint
}

for s in "${suites[@]}"; do
	mkdir -p "$RESULTS/$s"
	rm -f "$RESULTS/$s/summary.txt"
	"run_${s//-/_}"
done
echo
for s in "${suites[@]}"; do
	echo "$(cat "$RESULTS/$s/summary.txt") (failures: $RESULTS/$s/failures.txt)"
done
