#!/usr/bin/env bash
# Prepares the real dependencies the integration tests talk to and prints
# `export NAME=value` lines for them (eval the output). Idempotent: parts that
# are already running or cached are reused. Large downloads and builds live in
# $SERVICEPING_CACHE (default ~/.cache/serviceping), never in the repository.
#
#   PostgreSQL  Debian package; a private cluster on a free loopback port
#   Redis       Debian package; a private server on a free loopback port
#   MinIO       built with `go install` at a pinned version (tests start it)
#   chDB        libchdb.so from the npm package, unpacked once
#   python      a virtualenv with dbt-clickhouse and clickhouse-connect
#               (dbt/requirements.txt), built once per requirements hash
#   chromium    Debian package, for the dashboard's browser tests
#   ui          the dashboard's chart library (scripts/fetch-ui-assets.sh)
set -euo pipefail

CACHE=${SERVICEPING_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/serviceping}
# Servers' state lives outside $HOME: PostgreSQL runs as the postgres user,
# which cannot traverse root's home.
RUNDIR=${SERVICEPING_TEST_RUN:-/tmp/serviceping-test-$(id -u)}
REPO=$(cd "$(dirname "$0")/.." && pwd)
MINIO_VERSION=${MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}
mkdir -p "$CACHE" "$RUNDIR"
chmod 755 "$RUNDIR"
log() { echo "test-env: $*" >&2; }

apt_updated=
apt_install() {
	if [ -z "$apt_updated" ]; then
		log "apt-get update"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		apt_updated=1
	fi
	log "apt-get install $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ---------------------------------------------------------------- PostgreSQL
pg_bin() {
	local d
	for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && { echo "$d"; return; }; done
	return 1
}
ensure_postgres() {
	local bin port dir=$RUNDIR/postgres
	bin=$(pg_bin) || { apt_install postgresql; bin=$(pg_bin); }
	if [ -f "$dir/port" ] && runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
		port=$(cat "$dir/port")
	else
		rm -rf "$dir"; mkdir -p "$dir"; chown postgres:postgres "$dir"
		runuser -u postgres -- "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >/dev/null
		port=$(free_port); echo "$port" >"$dir/port"
		runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
			-o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >&2
	fi
	echo "export SERVICEPING_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
}

# ---------------------------------------------------------------------- Redis
ensure_redis() {
	local port dir=$RUNDIR/redis
	command -v redis-server >/dev/null || apt_install redis-server
	mkdir -p "$dir"
	if [ -f "$dir/port" ] && redis-cli -p "$(cat "$dir/port")" ping >/dev/null 2>&1; then
		port=$(cat "$dir/port")
	else
		port=$(free_port); echo "$port" >"$dir/port"
		redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
			--dir "$dir" --logfile "$dir/log" --pidfile "$dir/pid" >&2
		for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
	fi
	echo "export SERVICEPING_TEST_REDIS_URL=redis://127.0.0.1:$port/0"
}

# ---------------------------------------------------------------------- MinIO
ensure_minio() {
	local bin=$CACHE/minio/$MINIO_VERSION/minio
	if [ ! -x "$bin" ]; then
		log "building MinIO $MINIO_VERSION (a few minutes, once)"
		GOWORK=off GOFLAGS= GOBIN=$(dirname "$bin") go install "github.com/minio/minio@$MINIO_VERSION" >&2
	fi
	echo "export SERVICEPING_TEST_MINIO=$bin"
}

# ----------------------------------------------------------------------- chDB
ensure_chdb() {
	local lib
	lib=$("$(dirname "$0")/fetch-chdb.sh")
	echo "export CHDB_LIB=$lib"
}

# --------------------------------------------------------------------- python
ensure_python() {
	local req=$REPO/dbt/requirements.txt venv
	venv=$CACHE/venv/$(sha256sum "$req" | cut -c1-12)
	if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
		log "creating the python virtualenv for dbt (once)"
		rm -rf "$venv"
		python3 -m venv "$venv" >&2
		"$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2
		touch "$venv/.complete"
	fi
	echo "export SERVICEPING_TEST_PYTHON=$venv/bin/python"
	echo "export SERVICEPING_DBT=$venv/bin/dbt"
}

# ------------------------------------------------------------------- Chromium
ensure_chromium() {
	command -v chromium >/dev/null || apt_install chromium
	echo "export SERVICEPING_CHROMIUM=$(command -v chromium)"
}

# ------------------------------------------------------- dashboard's charts
ensure_ui() {
	local dir
	dir=$("$(dirname "$0")/fetch-ui-assets.sh")
	echo "export UI_ASSETS=$dir"
}

parts=${*:-postgres redis minio chdb python chromium ui}
for p in $parts; do "ensure_$p"; done
